//! Stage 6: the engine of each function's call macro (`f!(2, t = 1)`).
//! Positional arguments take the parameters' names in order; the named call
//! becomes a struct literal, so rustc reports an unknown or duplicated name at
//! the user's token, and a const check reports a missing required one.

/// Maps a call macro's arguments to a call of the function.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_call {
    // positional phase: a named argument ends it
    (@positional $ctx:tt [$($named:tt)*] $slots:tt $n:ident = $v:expr $(, $($rest:tt)*)?) => {
        $crate::__permacache_call!(@named $ctx [$($named)* ($n ($v))] $($($rest)*)?)
    };
    // positional phase: the next parameter takes this argument
    (@positional $ctx:tt [$($named:tt)*] [$slot:ident $($slots:ident)*] $v:expr $(, $($rest:tt)*)?) => {
        $crate::__permacache_call!(@positional $ctx [$($named)* ($slot ($v))] [$($slots)*] $($($rest)*)?)
    };
    // error: more positional arguments than parameters
    (@positional { fn: $f:ident, $($x:tt)* } $named:tt [] $v:expr $(, $($rest:tt)*)?) => {
        ::core::compile_error!(::core::concat!(
            "too many arguments to `", ::core::stringify!($f), "!`: `", ::core::stringify!($v),
            "` has no parameter left to take it"
        ))
    };
    // positional phase: no argument left
    (@positional $ctx:tt $named:tt $slots:tt) => {
        $crate::__permacache_call!(@finish $ctx $named)
    };
    // named phase: one more
    (@named $ctx:tt [$($named:tt)*] $n:ident = $v:expr $(, $($rest:tt)*)?) => {
        $crate::__permacache_call!(@named $ctx [$($named)* ($n ($v))] $($($rest)*)?)
    };
    // error: a positional argument after a named one
    (@named { fn: $f:ident, $($x:tt)* } $named:tt $v:expr $(, $($rest:tt)*)?) => {
        ::core::compile_error!(::core::concat!(
            "`", ::core::stringify!($f), "!`: positional argument `", ::core::stringify!($v),
            "` after a named one"
        ))
    };
    // named phase: no argument left
    (@named $ctx:tt $named:tt) => {
        $crate::__permacache_call!(@finish $ctx $named)
    };
    // every argument named: list the names once, for the required check
    (@finish $ctx:tt [$(($n:ident $v:tt))*]) => {
        $crate::__permacache_call!(@emit $ctx [$($n)*] [$(($n $v))*])
    };
    (@emit { fn: $f:ident, required: [$($req:ident)*] } $given:tt [$(($n:ident ($v:expr)))*]) => {{
        $(
            const _: () = $crate::__private::require_argument(
                ::core::stringify!($given),
                ::core::stringify!($req),
                ::core::concat!(
                    "`", ::core::stringify!($f), "!` is missing its required argument `",
                    ::core::stringify!($req), "`"
                ),
            );
        )*
        // The struct literal is what makes rustc name an unknown or duplicated
        // argument; with every field given, its `..NONE` is redundant.
        #[allow(clippy::needless_update)]
        let args = $f::Parameters { $($n: $crate::__private::Some($v),)* ..$f::Parameters::NONE };
        $f::__call(args).run()
    }};
}
