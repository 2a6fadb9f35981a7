//! Stage 4: the expansion of one cached function.

/// Writes the function, its companion module and its call macro: one arm per
/// kind of function (plain or `Result`, batch, out files).
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_expand {
    // a plain or Result function
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
        all: [$({ $p:ident ($ty:ty) $b:tt $rules:tt $pk:ident $role:ident })*]
        req: $req:tt
        opt: $opt:tt
        par: []
        out: []
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

        $crate::__permacache_module! {
            ($d) path: $path, vis: [$vis], asyncness: [$($async)?], name: $name,
            ret: [$ret], slot: [$stored], get: $kind,
            all: [$({ $p ($ty) $b $rules $pk $role })*] req: $req opt: $opt body: [$($body)*]
        }
    };
    // a batch function: #[parallel] parameters, a Vec of results
    (
        ($d:tt)
        {
            ctx: {
                path: $path:literal,
                attrs: [$(#[$attr:meta])*],
                vis: [$vis:vis],
                asyncness: [],
                name: $name:ident
            }
            kind: plain
            ret: [$ret:ty]
            stored: [$stored:ty]
            body: [$($body:tt)*]
        }
        all: [$({ $p:ident ($ty:ty) $b:tt $rules:tt $pk:ident $role:ident })*]
        req: $req:tt
        opt: $opt:tt
        par: [$($pp:ident)+]
        out: []
    ) => {
        $(#[$attr])*
        ///
        /// # Panics
        ///
        /// When the `#[parallel]` arguments differ in length.
        $vis fn $name($($p: $ty),*) -> $ret {
            fn __permacache_body($($p: $ty),*) -> $ret { $($body)* }
            let __permacache_n = $crate::__private::batch_len(
                ::core::stringify!($name),
                &[$((::core::stringify!($pp), $crate::__private::Vec::len(&$pp))),*],
            );
            let __permacache_keys = $crate::__private::batch_keys(__permacache_n, |__permacache_i| {
                $name::key($($crate::__permacache_batch_arg!($role, $p, __permacache_i)),*)
            });
            $(let mut $pp = $crate::__private::BatchSlots::new($pp);)+
            $name::__SLOT.run_batch(::core::stringify!($name), __permacache_keys, move |__permacache_missing| {
                __permacache_body($($crate::__permacache_batch_take!($role, $p, __permacache_missing)),*)
            })
        }

        $crate::__permacache_module! {
            ($d) path: $path, vis: [$vis], asyncness: [], name: $name,
            ret: [$ret], slot: [<$ret as $crate::__private::Batch>::Elem], get: plain,
            all: [$({ $p ($ty) $b $rules $pk $role })*] req: $req opt: $opt body: [$($body)*]
        }
    };
    // an out-file function
    (
        ($d:tt)
        {
            ctx: {
                path: $path:literal,
                attrs: [$(#[$attr:meta])*],
                vis: [$vis:vis],
                asyncness: [],
                name: $name:ident
            }
            kind: plain
            ret: [$ret:ty]
            stored: [$stored:ty]
            body: [$($body:tt)*]
        }
        all: [$({ $p:ident ($ty:ty) $b:tt $rules:tt $pk:ident $role:ident })*]
        req: $req:tt
        opt: $opt:tt
        par: []
        out: [$($op:ident)+]
    ) => {
        $(#[$attr])*
        $vis fn $name($($p: $ty),*) -> $ret {
            fn __permacache_body($($p: $ty),*) -> $ret { $($body)* }
            #[allow(clippy::let_unit_value)]
            let () = $crate::__private::OUT_FILES_SUPPORTED;
            let __permacache_key = $name::key($(&$p),*);
            let __permacache_paths = $crate::__private::out_paths([$($crate::__private::out_path(&$op)),+]);
            $name::__SLOT.run_out_files(__permacache_key, __permacache_paths, move || {
                __permacache_body($($p),*)
            })
        }

        $crate::__permacache_module! {
            ($d) path: $path, vis: [$vis], asyncness: [], name: $name,
            ret: [$ret], slot: [$crate::__private::OutFiles<$stored>], get: out,
            all: [$({ $p ($ty) $b $rules $pk $role })*] req: $req opt: $opt body: [$($body)*]
        }
    };
    // errors: combinations not supported
    (
        ($d:tt)
        { ctx: { path: $path:literal, $($ctx:tt)* } $($rest:tt)* }
        all: $all:tt req: $req:tt opt: $opt:tt par: $par:tt out: $out:tt
    ) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: the function of ", ::core::stringify!($path),
            " mixes what is not supported together: #[parallel] and #[out_file] parameters",
            " go on synchronous functions without a `Result` return, and not both on one function"
        ));
    };
}

/// The companion module and call macro of a cached function.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_module {
    (
        ($d:tt) path: $path:literal, vis: [$vis:vis], asyncness: [$($async:tt)?], name: $name:ident,
        ret: [$ret:ty], slot: [$slot:ty], get: $get:ident,
        all: [$({ $p:ident ($ty:ty) $b:tt [$($rules:tt)*] $pk:ident $role:ident })*]
        req: [$({ $rp:ident ($rty:ty) $rb:tt })*]
        opt: [$({ $op:ident ($oty:ty) $ob:tt ($od:expr) })*]
        body: [$($body:tt)*]
    ) => {
        #[doc = ::core::concat!(
            "The cache of [`", ::core::stringify!($name), "()`]: namespace path, key, entries and builder."
        )]
        #[allow(dead_code, unused_imports, clippy::ptr_arg, clippy::too_many_arguments)]
        $vis mod $name {
            use super::*;

            const _: () = $crate::__private::cached_value::<$slot>();

            /// The namespace path of the function's entries.
            pub const PATH: &str = $path;
            const _: () = $crate::__private::check_namespace_path($path);

            /// The namespace's settings, as the crate's permacache.toml gave
            /// them at build time (defaults without a build check).
            #[doc(hidden)]
            pub const SETTINGS: $crate::__private::Settings = $crate::__private::Settings::read(
                ::core::option_env!(::core::concat!("PERMACACHE_NS:", $path)),
                ::core::option_env!("PERMACACHE_STORE_DIR"),
                ::core::env!("CARGO_PKG_NAME"),
            )
            .with_own_body($crate::__private::body_fingerprint(::core::stringify!($($body)*)));

            #[doc(hidden)]
            pub static __SLOT: $crate::__private::Slot<$slot> =
                $crate::__private::Slot::new(PATH, SETTINGS, __params_shape);

            /// The fingerprint of the parameters' names and types, stored in
            /// each record: a parameter whose type changes is a miss.
            #[doc(hidden)]
            pub fn __params_shape() -> u64 {
                #[allow(unused_imports)]
                use $crate::__private::{NamedParam as _, TracedParam as _};
                $crate::__private::params_fingerprint(&[
                    $((
                        ::core::stringify!($p),
                        (&$crate::__private::ParamShape::<$crate::__permacache_shape_ty!($role, $b, $ty)>::new())
                            .fingerprint(),
                    ),)*
                ])
            }

            /// The canonical key of a call (of one element, for a batch
            /// function): its arguments after defaults and key rules, as a
            /// JSON object.
            ///
            /// # Errors
            ///
            /// When an argument's `Serialize` implementation fails.
            pub fn key<'__k>($($p: impl $crate::__private::Borrow<$crate::__permacache_arg_ty!($role, $b, $ty, '__k)>),*)
                -> $crate::__private::Result<$crate::__private::String, $crate::KeyError>
            {
                $(let $p: &$crate::__permacache_arg_ty!($role, $b, $ty, '__k) = $crate::__private::Borrow::borrow(&$p);)*
                const PRESORTED: bool = $crate::__private::names_in_order(&[$(::core::stringify!($p)),*]);
                $crate::__private::args_key(PRESORTED, |__permacache_key| {
                    $( $crate::__permacache_key_arg!(__permacache_key, $p, [$($rules)*]); )*
                    $crate::__private::Ok(())
                })
            }

            /// Whether a call's result is stored.
            pub fn contains<'__k>($($p: impl $crate::__private::Borrow<$crate::__permacache_arg_ty!($role, $b, $ty, '__k)>),*) -> bool {
                __SLOT.get(key($($p),*)).is_some()
            }

            /// A call's stored result, without computing it.
            pub fn get<'__k>($($p: impl $crate::__private::Borrow<$crate::__permacache_arg_ty!($role, $b, $ty, '__k)>),*)
                -> $crate::__private::Option<$crate::__permacache_get_ty!($get, $ret, $slot)>
            {
                $crate::__permacache_wrap_hit!($get, __SLOT.get(key($($p),*)))
            }

            /// Removes a call's stored result; whether there was one.
            pub fn forget<'__k>($($p: impl $crate::__private::Borrow<$crate::__permacache_arg_ty!($role, $b, $ty, '__k)>),*) -> bool {
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

            /// Hits, misses by reason, and stores of the function in this
            /// process.
            pub fn stats() -> $crate::Stats {
                __SLOT.stats()
            }

            /// The default of each defaulted parameter, evaluated in the
            /// defining module.
            pub mod defaults {
                use super::super::*;
                $(
                    #[doc = ::core::concat!("The default of `", ::core::stringify!($op), "`.")]
                    pub fn $op() -> $crate::__permacache_field_ty!($ob, $oty, 'static) { $od }
                )*
            }

            /// A call being built: required arguments first, then a setter
            /// per defaulted parameter, then `run`.
            #[must_use = "a call does nothing until `run`"]
            pub struct Call<'__p> {
                $(#[doc(hidden)] pub $p: $crate::__permacache_field_ty!($b, $ty, '__p),)*
                #[doc(hidden)]
                pub __borrows: $crate::__private::PhantomData<&'__p ()>,
            }

            /// Starts a call with the required arguments; the others take
            /// their defaults.
            pub fn call<'__p>($($rp: $crate::__permacache_field_ty!($rb, $rty, '__p)),*) -> Call<'__p> {
                Call {
                    $($rp,)*
                    $($op: defaults::$op(),)*
                    __borrows: $crate::__private::PhantomData,
                }
            }

            impl<'__p> Call<'__p> {
                $(
                    #[doc = ::core::concat!("Sets `", ::core::stringify!($op), "`.")]
                    pub fn $op(mut self, $op: $crate::__permacache_field_ty!($ob, $oty, '__p)) -> Self {
                        self.$op = $op;
                        self
                    }
                )*
            }

            #[doc(hidden)]
            pub struct Parameters<'__p> {
                $(pub $p: $crate::__private::Option<$crate::__permacache_field_ty!($b, $ty, '__p)>,)*
                pub __borrows: $crate::__private::PhantomData<&'__p ()>,
            }

            impl Parameters<'_> {
                #[doc(hidden)]
                pub const NONE: Self = Parameters {
                    $($p: $crate::__private::None,)*
                    __borrows: $crate::__private::PhantomData,
                };
            }

            #[doc(hidden)]
            pub fn __call(args: Parameters<'_>) -> Call<'_> {
                Call {
                    $($p: $crate::__permacache_arg_or_default!($pk, args.$p, defaults::$p),)*
                    __borrows: $crate::__private::PhantomData,
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

        // Beside the function, not in its module: in a function body the
        // module cannot name the function (`super` skips the block).
        impl $name::Call<'_> {
            /// Runs the cached function.
            pub $($async)? fn run(self) -> $ret {
                $crate::__permacache_await!([$($async)?] $name($(self.$p),*))
            }
        }

        #[allow(unused_imports)]
        pub(crate) use $name::__call_macro as $name;
    };
}

/// The type a parameter is kept as in `Call` and `Parameters`: a borrow gets
/// the struct's lifetime (`'static` for a default).
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_field_ty {
    ([own], $ty:ty, $lt:lifetime) => {
        $ty
    };
    ([ref $inner:ty], $ty:ty, $lt:lifetime) => {
        &$lt $inner
    };
    ([optref $inner:ty], $ty:ty, $lt:lifetime) => {
        $crate::__private::Option<&$lt $inner>
    };
    ([view $alias:ident [$($args:tt)*] $e:ty, $d:ty], $ty:ty, $lt:lifetime) => {
        $alias<$lt, $($args)*>
    };
}

/// The type whose shape stands for a parameter in the parameters'
/// fingerprint: a batch parameter's element, a borrow's referent.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_shape_ty {
    (par, $b:tt, $ty:ty) => {
        <$ty as $crate::__private::Batch>::Elem
    };
    ($role:ident, [own], $ty:ty) => {
        $ty
    };
    ($role:ident, [ref $inner:ty], $ty:ty) => {
        $inner
    };
    ($role:ident, [optref $inner:ty], $ty:ty) => {
        $crate::__private::OptionOf<$inner>
    };
    ($role:ident, [view $alias:ident $args:tt $e:ty, $d:ty], $ty:ty) => {
        $crate::__private::ndarray::Array<$e, $d>
    };
}

/// The type a key function takes for a parameter: a batch parameter's element.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_key_ty {
    (par, $ty:ty) => {
        <$ty as $crate::__private::Batch>::Elem
    };
    ($role:ident, $ty:ty) => {
        $ty
    };
}

/// A parameter's type as the companion module's `key`, `get`, `contains`
/// and `forget` take it (one element, for a batch parameter), borrows with
/// the lifetime `$lt`.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_arg_ty {
    (par, $b:tt, $ty:ty, $lt:lifetime) => {
        <$ty as $crate::__private::Batch>::Elem
    };
    ($role:ident, $b:tt, $ty:ty, $lt:lifetime) => {
        $crate::__permacache_field_ty!($b, $ty, $lt)
    };
}

/// What `get` returns: the return type, or one element's result.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_get_ty {
    (plain, $ret:ty, $slot:ty) => {
        $slot
    };
    (result, $ret:ty, $slot:ty) => {
        $ret
    };
    (out, $ret:ty, $slot:ty) => {
        $ret
    };
}

/// A batch call's key argument for element `i`.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_batch_arg {
    (par, $p:ident, $i:ident) => {
        &$p[$i]
    };
    ($role:ident, $p:ident, $i:ident) => {
        &$p
    };
}

/// A batch call's argument for the elements to compute.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_batch_take {
    (par, $p:ident, $missing:ident) => {
        $p.take($missing)
    };
    ($role:ident, $p:ident, $missing:ident) => {
        $p
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
        match $name::__SLOT.begin($key).await {
            $crate::__private::Step::Hit(value) => value,
            $crate::__private::Step::Compute(pending) => {
                let value = $compute.await;
                $name::__SLOT.finish(pending, &value).await;
                value
            }
        }
    };
    (result [async] $name:ident, $key:expr, $compute:expr) => {
        match $name::__SLOT.begin($key).await {
            $crate::__private::Step::Hit(value) => $crate::__private::Ok(value),
            $crate::__private::Step::Compute(pending) => {
                let out = $compute.await;
                if let $crate::__private::Ok(value) = &out {
                    $name::__SLOT.finish(pending, value).await;
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
    (out, $hit:expr) => {
        $hit.map(|entry| entry.value)
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
        // A closure: a borrowed default (`&'static`) then shortens to the
        // call's lifetime.
        $arg.unwrap_or_else(|| $default())
    };
}
