//! Stage 4: the expansion of one cached function.

/// Writes the function, its companion module and its call macro.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_expand {
    (
        ($d:tt)
        {
            ctx: {
                path: $path:literal,
                attrs: [$(#[$attr:meta])*],
                vis: [$vis:vis],
                asyncness: [$($async:tt)?],
                name: $name:ident
            }
            kind: $kind:ident
            ret: [$ret:ty]
            stored: [$stored:ty]
            body: [$($body:tt)*]
        }
        all: [$({ $p:ident ($ty:ty) [$($rules:tt)*] $pk:ident })*]
        req: [$({ $rp:ident ($rty:ty) })*]
        opt: [$({ $op:ident ($oty:ty) ($od:expr) })*]
    ) => {
        $(#[$attr])*
        $vis $($async)? fn $name($($p: $ty),*) -> $ret {
            $($async)? fn __permacache_body($($p: $ty),*) -> $ret { $($body)* }
            $crate::__permacache_call_body! {
                $kind [$($async)?] $name,
                $name::key($(&$p),*),
                __permacache_body($($p),*)
            }
        }

        #[doc = ::core::concat!(
            "The cache of [`", ::core::stringify!($name), "()`]: namespace path, key, entries and builder."
        )]
        #[allow(dead_code, unused_imports, clippy::ptr_arg, clippy::too_many_arguments)]
        $vis mod $name {
            use super::*;

            /// The namespace path of the function's entries.
            pub const PATH: &str = $path;
            const _: () = $crate::__private::check_namespace_path($path);

            #[doc(hidden)]
            pub static __SLOT: $crate::__private::Slot<$stored> =
                $crate::__private::Slot::new(PATH, SETTINGS);

            /// The namespace's settings, as the crate's permacache.toml gave
            /// them at build time (defaults without a build check).
            #[doc(hidden)]
            pub const SETTINGS: $crate::__private::Settings = $crate::__private::Settings::from_build(
                ::core::option_env!(::core::concat!("PERMACACHE_NS:", $path)),
                ::core::option_env!("PERMACACHE_STORE_DIR"),
            );

            /// The canonical key of a call: its arguments after defaults and
            /// key rules, as a JSON object.
            ///
            /// # Errors
            ///
            /// When an argument's `Serialize` implementation fails.
            pub fn key($($p: &$ty),*) -> $crate::__private::Result<$crate::__private::String, $crate::KeyError> {
                $crate::__private::args_key(|__permacache_key| {
                    $( $crate::__permacache_key_arg!(__permacache_key, $p, [$($rules)*]); )*
                    $crate::__private::Ok(())
                })
            }

            /// Whether a call's result is stored.
            pub fn contains($($p: &$ty),*) -> bool {
                __SLOT.get(key($($p),*)).is_some()
            }

            /// A call's stored result, without computing it.
            pub fn get($($p: &$ty),*) -> $crate::__private::Option<$ret> {
                $crate::__permacache_wrap_hit!($kind, __SLOT.get(key($($p),*)))
            }

            /// Removes a call's stored result; whether there was one.
            pub fn forget($($p: &$ty),*) -> bool {
                __SLOT.forget(key($($p),*))
            }

            /// Removes every stored result of the function.
            pub fn clear() {
                __SLOT.clear()
            }

            /// How many results are stored (of every version).
            pub fn len() -> usize {
                __SLOT.len()
            }

            /// The default of each defaulted parameter, evaluated in the
            /// defining module.
            pub mod defaults {
                use super::super::*;
                $(
                    #[doc = ::core::concat!("The default of `", ::core::stringify!($op), "`.")]
                    pub fn $op() -> $oty { $od }
                )*
            }

            /// A call being built: required arguments first, then a setter
            /// per defaulted parameter, then `run`.
            #[must_use = "a call does nothing until `run`"]
            pub struct Call {
                $($p: $ty,)*
            }

            /// Starts a call with the required arguments; the others take
            /// their defaults.
            pub fn call($($rp: $rty),*) -> Call {
                Call {
                    $($rp,)*
                    $($op: defaults::$op(),)*
                }
            }

            impl Call {
                $(
                    #[doc = ::core::concat!("Sets `", ::core::stringify!($op), "`.")]
                    pub fn $op(mut self, $op: $oty) -> Self {
                        self.$op = $op;
                        self
                    }
                )*

                /// Runs the cached function.
                pub $($async)? fn run(self) -> $ret {
                    $crate::__permacache_await!([$($async)?] super::$name($(self.$p),*))
                }
            }

            #[doc(hidden)]
            pub struct Args {
                $(pub $p: $crate::__private::Option<$ty>,)*
            }

            impl Args {
                #[doc(hidden)]
                pub const NONE: Self = Args { $($p: $crate::__private::None,)* };
            }

            #[doc(hidden)]
            pub fn __call(args: Args) -> Call {
                Call {
                    $($p: $crate::__permacache_arg_or_default!($pk, args.$p, defaults::$p),)*
                }
            }

            macro_rules! __call_macro {
                ($d($d args:tt)*) => {
                    $crate::__permacache_call! {
                        @positional { fn: $name, required: [$($rp)*] } [] [$($p)*] $d($d args)*
                    }
                };
            }
            pub(crate) use __call_macro;
        }

        #[allow(unused_imports)]
        pub(crate) use $name::__call_macro as $name;
    };
}

/// The body of a cached function, by kind and asyncness.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_call_body {
    (plain [] $name:ident, $key:expr, $compute:expr) => {
        $name::__SLOT.run($key, move || $compute)
    };
    (result [] $name:ident, $key:expr, $compute:expr) => {
        $name::__SLOT.run_result($key, move || $compute)
    };
    (plain [async] $name:ident, $key:expr, $compute:expr) => {
        match $name::__SLOT.begin($key) {
            $crate::__private::Step::Hit(value) => value,
            $crate::__private::Step::Compute(key) => {
                let value = $compute.await;
                $name::__SLOT.finish(key, &value);
                value
            }
        }
    };
    (result [async] $name:ident, $key:expr, $compute:expr) => {
        match $name::__SLOT.begin($key) {
            $crate::__private::Step::Hit(value) => $crate::__private::Ok(value),
            $crate::__private::Step::Compute(key) => {
                let out = $compute.await;
                if let $crate::__private::Ok(value) = &out {
                    $name::__SLOT.finish(key, value);
                }
                out
            }
        }
    };
}

/// A stored value as the function returns it.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_wrap_hit {
    (plain, $hit:expr) => {
        $hit
    };
    (result, $hit:expr) => {
        $hit.map($crate::__private::Ok)
    };
}

/// `.await` for async functions.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_await {
    ([async] $e:expr) => {
        $e.await
    };
    ([] $e:expr) => {
        $e
    };
}

/// A call macro argument, or the parameter's default.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_arg_or_default {
    (req, $arg:expr, $default:path) => {
        $arg.expect("the call macro checks required arguments at compile time")
    };
    (opt, $arg:expr, $default:path) => {
        $arg.unwrap_or_else($default)
    };
}
