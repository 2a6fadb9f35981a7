//! Stage 5: one parameter's part of the key, after its key rules.

/// Adds a parameter to the key, as its rules say.
#[doc(hidden)]
#[macro_export]
macro_rules! __permacache_key_arg {
    // no rule: the value itself
    ($k:ident, $p:ident, []) => {
        $crate::__permacache_key_arg!(@emit $k, $p, $p)
    };
    ($k:ident, $p:ident, [$($rules:tt)+]) => {
        $crate::__permacache_key_arg!(@rules $k, $p, value: [$p], [$($rules)+])
    };
    // rules done
    (@rules $k:ident, $p:ident, value: [$($v:tt)*], []) => {
        $crate::__permacache_key_arg!(@emit $k, $p, $($v)*)
    };
    // #[ignore]: never in the key
    (@rules $k:ident, $p:ident, value: $v:tt, [[ignore] $($rest:tt)*]) => {};
    // #[drop_if_eq(expr)]: left out when equal
    (@rules $k:ident, $p:ident, value: $v:tt, [[drop_if_eq($($e:tt)+)] $($rest:tt)*]) => {
        if !(*$p == ($($e)+)) {
            $crate::__permacache_key_arg!(@rules $k, $p, value: $v, [$($rest)*]);
        }
    };
    // #[drop_if(path)]: left out when `path(&value)` is true
    (@rules $k:ident, $p:ident, value: $v:tt, [[drop_if($($f:tt)+)] $($rest:tt)*]) => {
        if !(($($f)+)($p)) {
            $crate::__permacache_key_arg!(@rules $k, $p, value: $v, [$($rest)*]);
        }
    };
    // #[hash]: the stable hash of the value
    (@rules $k:ident, $p:ident, value: [$p2:ident], [[hash] $($rest:tt)*]) => {
        $crate::__permacache_key_arg!(@rules $k, $p, value: [&$crate::stable_hash($p)?], [$($rest)*])
    };
    // #[fingerprint]: the fast binary fingerprint of the value
    (@rules $k:ident, $p:ident, value: [$p2:ident], [[fingerprint] $($rest:tt)*]) => {
        // (a slice, Vec or Box<[T]> of plain numbers is hashed in place: the
        // autoref picks `FingerprintBulk` when the value is one)
        $crate::__permacache_key_arg!(@rules $k, $p, value: [&{
            #[allow(unused_imports)]
            use $crate::__private::{FingerprintBulk as _, FingerprintSerde as _};
            (&$crate::__private::Fingerprinted($p)).fingerprint()?
        }], [$($rest)*])
    };
    // #[display]: the value's `to_string()`
    (@rules $k:ident, $p:ident, value: [$p2:ident], [[display] $($rest:tt)*]) => {
        $crate::__permacache_key_arg!(
            @rules $k, $p, value: [&$crate::__private::ToString::to_string($p)], [$($rest)*]
        )
    };
    // #[in_file]: what the file or directory at the path holds
    (@rules $k:ident, $p:ident, value: [$p2:ident], [[in_file] $($rest:tt)*]) => {
        $crate::__permacache_key_arg!(@rules $k, $p, value: [&$crate::__private::in_file_key(
            ::core::convert::AsRef::<::std::path::Path>::as_ref($p)
        )?], [$($rest)*])
    };
    // #[key_with(path)]: what `path(&value)` returns
    (@rules $k:ident, $p:ident, value: [$p2:ident], [[key_with($($f:tt)+)] $($rest:tt)*]) => {
        $crate::__permacache_key_arg!(@rules $k, $p, value: [&($($f)+)($p)], [$($rest)*])
    };
    // error: two rules that each replace the value
    (@rules $k:ident, $p:ident, value: $v:tt, [[$rule:tt $($args:tt)*] $($rest:tt)*]) => {
        $crate::__permacache_key_arg!(@unknown $p, $rule, $($args)*)
    };
    (@unknown $p:ident, hash, ) => { $crate::__permacache_key_arg!(@twice $p) };
    (@unknown $p:ident, display, ) => { $crate::__permacache_key_arg!(@twice $p) };
    (@unknown $p:ident, fingerprint, ) => { $crate::__permacache_key_arg!(@twice $p) };
    (@unknown $p:ident, key_with, $($args:tt)*) => { $crate::__permacache_key_arg!(@twice $p) };
    (@unknown $p:ident, in_file, ) => { $crate::__permacache_key_arg!(@twice $p) };
    (@twice $p:ident) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: parameter `", ::core::stringify!($p),
            "` has more than one of #[hash], #[fingerprint], #[display], #[key_with(..)], #[in_file]; keep one"
        ));
    };
    // #[out_file] and #[parallel] come first (the parameter stage takes them)
    (@unknown $p:ident, out_file, $($args:tt)*) => { $crate::__permacache_key_arg!(@first $p, out_file) };
    (@unknown $p:ident, parallel, $($args:tt)*) => { $crate::__permacache_key_arg!(@first $p, parallel) };
    (@first $p:ident, $rule:ident) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: #[", ::core::stringify!($rule), "] must be the first attribute of `",
            ::core::stringify!($p), "`, and an #[out_file] parameter takes no other rule and no default"
        ));
    };
    // error: anything else
    (@unknown $p:ident, $rule:tt, $($args:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "permacached!: unknown key rule #[", ::core::stringify!($rule), "] on parameter `",
            ::core::stringify!($p),
            "`; expected #[drop_if_eq(value)], #[drop_if(path)], #[ignore], #[hash], #[fingerprint], #[display], #[key_with(path)] or #[in_file]"
        ));
    };
    // the value goes into the key
    (@emit $k:ident, $p:ident, $($v:tt)*) => {
        $k.arg(
            ::core::stringify!($p),
            ::core::concat!("\"", ::core::stringify!($p), "\":"),
            $($v)*
        )?
    };
}
