//! The entry macro: matches the user's syntax and hands off.

/// Defines functions with a permanent, disk-backed cache.
///
/// ```
/// use permacache::permacached;
///
/// permacached! {
///     "docs/entry/f" =>
///     /// Doc comments and attributes pass through.
///     pub fn f(x: i32, y: i32 = 2, #[drop_if_eq(0)] t: i32 = 0) -> Vec<i32> {
///         vec![x, y, t]
///     }
/// }
///
/// # fn main() {
/// # let dir = tempfile::tempdir().unwrap();
/// # permacache::set_store_dir(dir.path()).unwrap();
/// assert_eq!(f!(2), vec![2, 2, 0]);
/// assert_eq!(f::key(&2, &2, &0).unwrap(), r#"{"x":2,"y":2}"#);
/// assert_eq!(f::key(&2, &2, &1).unwrap(), r#"{"t":1,"x":2,"y":2}"#);
/// assert_eq!(f::call(2).t(1).run(), vec![2, 2, 1]);
/// # }
/// ```
///
/// See the crate documentation for the whole syntax.
#[macro_export]
macro_rules! permacached {
    // parsing: nothing left
    () => {};
    // parsing: an async function
    (
        $path:literal =>
        $(#[$attr:meta])*
        $vis:vis async fn $name:ident ($($params:tt)*) $($rest:tt)*
    ) => {
        $crate::__permacache_ret! {
            ctx: { path: $path, attrs: [$(#[$attr])*], vis: [$vis], asyncness: [async], name: $name }
            params: [$($params)*]
            ret: []
            rest: [$($rest)*]
        }
    };
    // parsing: a function
    (
        $path:literal =>
        $(#[$attr:meta])*
        $vis:vis fn $name:ident ($($params:tt)*) $($rest:tt)*
    ) => {
        $crate::__permacache_ret! {
            ctx: { path: $path, attrs: [$(#[$attr])*], vis: [$vis], asyncness: [], name: $name }
            params: [$($params)*]
            ret: []
            rest: [$($rest)*]
        }
    };
    // error: a generic function
    (
        $path:literal =>
        $(#[$attr:meta])*
        $vis:vis $(async)? fn $name:tt < $($rest:tt)*
    ) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: `", ::core::stringify!($name), "` is generic; a cached function needs concrete types ",
            "(its key and its stored value are fixed at compile time): write one cached function per type, ",
            "or take a concrete type such as an enum or `serde_json::Value`"
        ));
    };
    // error: a function without its namespace path
    ($(#[$attr:meta])* $vis:vis $(async)? fn $name:tt $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: `", ::core::stringify!($name),
            "` needs its namespace path first, as in `\"unique/path/", ::core::stringify!($name),
            "\" => fn ", ::core::stringify!($name), "(...)`"
        ));
    };
    // error: a path not followed by a function
    ($path:literal => $first:tt $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: expected a function after `", ::core::stringify!($path), " =>`"
        ));
    };
    ($path:literal => ) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: expected a function after `", ::core::stringify!($path), " =>`"
        ));
    };
}

/// Stage 1: collects the return type's tokens up to the body.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_ret {
    // the body: the return type is complete
    (ctx: $ctx:tt params: $params:tt ret: [$($ret:tt)*] rest: [{ $($body:tt)* } $($rest:tt)*]) => {
        $crate::__permacache_kind! { ctx: $ctx params: $params body: [$($body)*] ret: [$($ret)*] }
        $crate::permacached! { $($rest)* }
    };
    // the arrow before the return type
    (ctx: $ctx:tt params: $params:tt ret: [] rest: [-> $($rest:tt)*]) => {
        $crate::__permacache_ret! { ctx: $ctx params: $params ret: [] rest: [$($rest)*] }
    };
    // a token of the return type
    (ctx: $ctx:tt params: $params:tt ret: [$($ret:tt)*] rest: [$t:tt $($rest:tt)*]) => {
        $crate::__permacache_ret! { ctx: $ctx params: $params ret: [$($ret)* $t] rest: [$($rest)*] }
    };
    // error: no body
    (ctx: { path: $path:literal, $($x:tt)* } params: $params:tt ret: $ret:tt rest: []) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: the function of ", ::core::stringify!($path), " needs a body"
        ));
    };
}

/// Stage 2: a `Result` return caches only `Ok`; anything else is cached whole.
/// The return type's tokens stay whole in `ret`; `probe` loses leading path
/// segments until `Result<..>` shows or nothing matches.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_kind {
    // no return type
    (ctx: $ctx:tt params: $params:tt body: $body:tt ret: []) => {
        $crate::__permacache_params! {
            @parse { ctx: $ctx kind: plain ret: [()] stored: [()] body: $body } [] [] [] [] [] $params
        }
    };
    (ctx: $ctx:tt params: $params:tt body: $body:tt ret: [$($ret:tt)+]) => {
        $crate::__permacache_kind! { @probe ctx: $ctx params: $params body: $body ret: [$($ret)+] probe: [$($ret)+] }
    };
    // Result<T, E>
    (@probe ctx: $ctx:tt params: $params:tt body: $body:tt ret: $ret:tt probe: [Result < $t:ty , $e:ty >]) => {
        $crate::__permacache_params! {
            @parse { ctx: $ctx kind: result ret: $ret stored: [$t] body: $body } [] [] [] [] [] $params
        }
    };
    // a Result alias with one parameter, such as io::Result<T>
    (@probe ctx: $ctx:tt params: $params:tt body: $body:tt ret: $ret:tt probe: [Result < $t:ty >]) => {
        $crate::__permacache_params! {
            @parse { ctx: $ctx kind: result ret: $ret stored: [$t] body: $body } [] [] [] [] [] $params
        }
    };
    // a leading path segment
    (@probe ctx: $ctx:tt params: $params:tt body: $body:tt ret: $ret:tt probe: [$seg:ident :: $($rest:tt)+]) => {
        $crate::__permacache_kind! { @probe ctx: $ctx params: $params body: $body ret: $ret probe: [$($rest)+] }
    };
    (@probe ctx: $ctx:tt params: $params:tt body: $body:tt ret: $ret:tt probe: [:: $($rest:tt)+]) => {
        $crate::__permacache_kind! { @probe ctx: $ctx params: $params body: $body ret: $ret probe: [$($rest)+] }
    };
    // any other type
    (@probe ctx: $ctx:tt params: $params:tt body: $body:tt ret: [$ret:ty] probe: $probe:tt) => {
        $crate::__permacache_params! {
            @parse { ctx: $ctx kind: plain ret: [$ret] stored: [$ret] body: $body } [] [] [] [] [] $params
        }
    };
}

/// Stage 3: sorts the parameters into all / required / defaulted, and lists
/// the `#[parallel]` and `#[out_file]` ones (that attribute comes first).
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_params {
    // all parsed
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt []) => {
        $crate::__permacache_expand! { ($) $fnctx all: $all req: $req opt: $opt par: $par out: $out }
    };
    // error: a batch of borrows: `#[parallel] words: Vec<&str>`
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [#[parallel] $(#[$($rule:tt)*])* $p:ident : $c:ident < & $($x:tt)*]) => {
        $crate::__permacache_borrow_in_container!($p);
    };
    // a #[parallel] parameter
    (@parse $fnctx:tt [$($all:tt)*] [$($req:tt)*] $opt:tt [$($par:ident)*] $out:tt
        [#[parallel] $(#[$($rule:tt)*])* $p:ident : $ty:ty $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @parse $fnctx
            [$($all)* { $p ($ty) [own] [$([$($rule)*])*] req par }]
            [$($req)* { $p ($ty) [own] }]
            $opt
            [$($par)* $p]
            $out
            [$($($rest)*)?]
        }
    };
    // an #[out_file] parameter: never in the key
    (@parse $fnctx:tt [$($all:tt)*] [$($req:tt)*] $opt:tt $par:tt [$($out:ident)*]
        [#[out_file] $p:ident : $ty:ty $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @parse $fnctx
            [$($all)* { $p ($ty) [own] [[ignore]] req out }]
            [$($req)* { $p ($ty) [own] }]
            $opt
            $par
            [$($out)* $p]
            [$($($rest)*)?]
        }
    };
    // error: a `&mut` parameter
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : & mut $($rest:tt)*]) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: parameter `", ::core::stringify!($p), "` is a `&mut` borrow; a cached call ",
            "may not run its body, so it cannot promise to change the argument: take `&T` (or `T`) and ",
            "return what changes"
        ));
    };
    // error: a defaulted parameter named like the builder's `run`
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* run : $ty:ty = $d:expr $(, $($rest:tt)*)?]) => {
        ::core::compile_error!(
            "permacached!: a parameter with a default cannot be named `run`: its setter would clash with `run()`, which makes the call in `f::call(..).run()`; rename the parameter (for example `run_id`)"
        );
    };
    // a borrowed parameter with a default: `x: &T = ...`
    (@parse $fnctx:tt [$($all:tt)*] $req:tt [$($opt:tt)*] $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : & $inner:ty = $d:expr $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @parse $fnctx
            [$($all)* { $p (&$inner) [ref $inner] [$([$($rule)*])*] opt one }]
            $req
            [$($opt)* { $p (&$inner) [ref $inner] ($d) }]
            $par
            $out
            [$($($rest)*)?]
        }
    };
    // an optional borrow with a default: `x: Option<&T> = ...`
    (@parse $fnctx:tt [$($all:tt)*] $req:tt [$($opt:tt)*] $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : Option < & $inner:ty > = $d:expr $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @parse $fnctx
            [$($all)* { $p (Option<&$inner>) [optref $inner] [$([$($rule)*])*] opt one }]
            $req
            [$($opt)* { $p (Option<&$inner>) [optref $inner] ($d) }]
            $par
            $out
            [$($($rest)*)?]
        }
    };
    // an optional borrow: `x: Option<&T>`
    (@parse $fnctx:tt [$($all:tt)*] [$($req:tt)*] $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : Option < & $inner:ty > $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @parse $fnctx
            [$($all)* { $p (Option<&$inner>) [optref $inner] [$([$($rule)*])*] req one }]
            [$($req)* { $p (Option<&$inner>) [optref $inner] }]
            $opt
            $par
            $out
            [$($($rest)*)?]
        }
    };
    // error: a container of borrows: `Vec<&str>`, `HashSet<&T>`
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : $c:ident < & $($x:tt)*]) => {
        $crate::__permacache_borrow_in_container!($p);
    };
    // error: a map or pair type whose second argument is a borrow: `HashMap<String, &str>`
    // (the first taken as one name: a `ty` fragment would refuse a lifetime, `Cow<'a, str>`)
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : $c:ident < $a:ident , & $($x:tt)*]) => {
        $crate::__permacache_borrow_in_container!($p);
    };
    // error: one level deeper: `Vec<Vec<&str>>`
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : $c:ident < $d:ident < & $($x:tt)*]) => {
        $crate::__permacache_borrow_in_container!($p);
    };
    // error: a borrow of a container of borrows: `&Vec<&str>`
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : & $c:ident < & $($x:tt)*]) => {
        $crate::__permacache_borrow_in_container!($p);
    };
    // error: a tuple holding a borrow: `(&str, u32)`, `(u32, &str)`
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : ( & $($x:tt)* ) $($y:tt)*]) => {
        $crate::__permacache_borrow_in_container!($p);
    };
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : ( $a:ty , & $($x:tt)* ) $($y:tt)*]) => {
        $crate::__permacache_borrow_in_container!($p);
    };
    // error: a slice or array of borrows: `&[&str]`, `[&str; 2]`
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : & [ & $($x:tt)* ] $($y:tt)*]) => {
        $crate::__permacache_borrow_in_container!($p);
    };
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : [ & $($x:tt)* ] $($y:tt)*]) => {
        $crate::__permacache_borrow_in_container!($p);
    };
    // a parameter with a default
    (@parse $fnctx:tt [$($all:tt)*] $req:tt [$($opt:tt)*] $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : $ty:ty = $d:expr $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @parse $fnctx
            [$($all)* { $p ($ty) [own] [$([$($rule)*])*] opt one }]
            $req
            [$($opt)* { $p ($ty) [own] ($d) }]
            $par
            $out
            [$($($rest)*)?]
        }
    };
    // a borrowed parameter: `x: &T`
    (@parse $fnctx:tt [$($all:tt)*] [$($req:tt)*] $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : & $inner:ty $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @parse $fnctx
            [$($all)* { $p (&$inner) [ref $inner] [$([$($rule)*])*] req one }]
            [$($req)* { $p (&$inner) [ref $inner] }]
            $opt
            $par
            $out
            [$($($rest)*)?]
        }
    };
    // an ndarray view (the `ndarray` feature): `x: ArrayView2<f64>` or
    // `x: ArrayView<T, D>`, the type as the caller imported it, kept with the
    // call's lifetime
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : ArrayView0 < $e:ty > $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @view $fnctx $all $req $opt $par $out
            [$([$($rule)*])*] $p ArrayView0 [$e] $e, $crate::__private::ndarray::Ix0; [$($($rest)*)?]
        }
    };
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : ArrayView1 < $e:ty > $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @view $fnctx $all $req $opt $par $out
            [$([$($rule)*])*] $p ArrayView1 [$e] $e, $crate::__private::ndarray::Ix1; [$($($rest)*)?]
        }
    };
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : ArrayView2 < $e:ty > $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @view $fnctx $all $req $opt $par $out
            [$([$($rule)*])*] $p ArrayView2 [$e] $e, $crate::__private::ndarray::Ix2; [$($($rest)*)?]
        }
    };
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : ArrayView3 < $e:ty > $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @view $fnctx $all $req $opt $par $out
            [$([$($rule)*])*] $p ArrayView3 [$e] $e, $crate::__private::ndarray::Ix3; [$($($rest)*)?]
        }
    };
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : ArrayView4 < $e:ty > $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @view $fnctx $all $req $opt $par $out
            [$([$($rule)*])*] $p ArrayView4 [$e] $e, $crate::__private::ndarray::Ix4; [$($($rest)*)?]
        }
    };
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : ArrayView5 < $e:ty > $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @view $fnctx $all $req $opt $par $out
            [$([$($rule)*])*] $p ArrayView5 [$e] $e, $crate::__private::ndarray::Ix5; [$($($rest)*)?]
        }
    };
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : ArrayView6 < $e:ty > $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @view $fnctx $all $req $opt $par $out
            [$([$($rule)*])*] $p ArrayView6 [$e] $e, $crate::__private::ndarray::Ix6; [$($($rest)*)?]
        }
    };
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : ArrayViewD < $e:ty > $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @view $fnctx $all $req $opt $par $out
            [$([$($rule)*])*] $p ArrayViewD [$e] $e, $crate::__private::ndarray::IxDyn; [$($($rest)*)?]
        }
    };
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : ArrayView < $e:ty, $d:ty > $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @view $fnctx $all $req $opt $par $out
            [$([$($rule)*])*] $p ArrayView [$e, $d] $e, $d; [$($($rest)*)?]
        }
    };
    (@view $fnctx:tt [$($all:tt)*] [$($req:tt)*] $opt:tt $par:tt $out:tt
        [$([$($rule:tt)*])*] $p:ident $alias:ident [$($args:tt)*] $e:ty, $d:ty; $rest:tt) => {
        $crate::__permacache_params! {
            @parse $fnctx
            [$($all)* { $p ($alias<'_, $($args)*>) [view $alias [$($args)*] $e, $d] [$([$($rule)*])*] req one }]
            [$($req)* { $p ($alias<'_, $($args)*>) [view $alias [$($args)*] $e, $d] }]
            $opt
            $par
            $out
            $rest
        }
    };
    // a required parameter
    (@parse $fnctx:tt [$($all:tt)*] [$($req:tt)*] $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* $p:ident : $ty:ty $(, $($rest:tt)*)?]) => {
        $crate::__permacache_params! {
            @parse $fnctx
            [$($all)* { $p ($ty) [own] [$([$($rule)*])*] req one }]
            [$($req)* { $p ($ty) [own] }]
            $opt
            $par
            $out
            [$($($rest)*)?]
        }
    };
    // error: a method (`&self`, `&mut self`)
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt [& $s:tt $($rest:tt)*]) => {
        ::core::compile_error!(
            "permacached!: a cached function cannot be a method (`&self`): `permacached!` defines a module and a macro beside the function, which an `impl` block cannot hold; define it at module level taking the receiver by reference (`fn predict(model: &Model, x: i32)`, in the key through `Serialize`, or `#[ignore] model: &Model`) and call it from the method (`fn predict(&self, x: i32) -> f64 { predict(self, x) }`)"
        );
    };
    // error: a method taking `self`
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt [$(mut)? self $($rest:tt)*]) => {
        ::core::compile_error!(
            "permacached!: a cached function cannot be a method (`self`): define it at module level taking the receiver by reference (`fn predict(model: &Model, x: i32)`) and call it from the method"
        );
    };
    // error: a `mut` parameter
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt
        [$(#[$($rule:tt)*])* mut $p:tt $($rest:tt)*]) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: parameters of a cached function cannot be `mut`; take `", ::core::stringify!($p),
            ": Type` and rebind it at the start of the body: `let mut ", ::core::stringify!($p), " = ",
            ::core::stringify!($p), ";`"
        ));
    };
    // error: not `name: Type`
    (@parse $fnctx:tt $all:tt $req:tt $opt:tt $par:tt $out:tt [$first:tt $($other:tt)*]) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: expected parameters as `name: Type` or `name: Type = default`, found `",
            ::core::stringify!($first $($other)*), "`"
        ));
    };
}

/// The compile error for a parameter with a borrow inside another type
/// (one message for every shape `__permacache_params` recognises).
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_borrow_in_container {
    ($p:ident) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: parameter `", ::core::stringify!($p), "` has a borrow inside another type; ",
            "a cached function keeps its arguments in its call builder and traces their types' shape, ",
            "which a borrow inside a container, tuple or slice cannot be: take owned elements ",
            "(`Vec<String>` for `Vec<&str>`), or borrow the whole (`&[String]`); `&T` and `Option<&T>` are fine"
        ));
    };
}
