//! The guide: everything beyond the README's first steps, one chapter per
//! module. Every code block here compiles as a doctest.
//!
//! - [`dsl`]: the `permacached!` DSL and its key rules, out files, batch
//!   calls, the typed API;
//! - [`config`]: `permacache.toml` and the build check;
//! - [`modes`]: switching caching off, refreshing, failing on a miss;
//! - [`store`]: where entries live, durability, size budgets, the CLI, miss
//!   reasons;
//! - [`sharing`]: sharing entries between machines;
//! - [`formats`]: the key, record and export formats, and what a hit
//!   guarantees;
//! - [`performance`]: the figures, how to reproduce them, and build
//!   settings;
//! - [`limits`]: what it does not do, and questions users ask.

#[doc = include_str!("../docs/guide/dsl.md")]
pub mod dsl {}

#[doc = include_str!("../docs/guide/config.md")]
pub mod config {}

#[doc = include_str!("../docs/guide/modes.md")]
pub mod modes {}

#[doc = include_str!("../docs/guide/store.md")]
pub mod store {}

#[doc = include_str!("../docs/guide/sharing.md")]
pub mod sharing {}

#[doc = include_str!("../docs/guide/formats.md")]
pub mod formats {}

#[doc = include_str!("../docs/guide/performance.md")]
pub mod performance {}

#[doc = include_str!("../docs/guide/limits.md")]
pub mod limits {}
