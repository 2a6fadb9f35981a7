//! The `permacached!` DSL, `macro_rules!` only.
//!
//! # How does the DSL work?
//!
//! `permacached!` (in `entry.rs`) only matches the user's syntax, one function
//! at a time, and hands off to hidden helpers, each a stage of its own:
//!
//! 1. `__permacache_ret!` collects the return type's tokens up to the body;
//! 2. `__permacache_kind!` tells a `Result` return (only `Ok` is stored) from
//!    any other;
//! 3. `__permacache_params!` sorts the parameters into all / required /
//!    defaulted lists, keeping each one's key rules;
//! 4. `__permacache_expand!` (in `expand.rs`) writes the function, its
//!    companion module and its call macro;
//! 5. `__permacache_key_arg!` (in `key_rules.rs`) turns one parameter and its
//!    rules into its part of the key;
//! 6. `__permacache_call!` (in `call.rs`) is the call macro's engine: it maps
//!    positional arguments to names and builds a struct literal, so rustc
//!    itself reports an unknown or duplicated argument at the user's token.
//!
//! Generated code reaches std only through `$crate::__private`.

mod call;
mod entry;
mod expand;
mod key_rules;
