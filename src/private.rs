//! What generated code reaches, and nothing else: not part of the API.

pub use core;
pub use std::option::Option::{self, None, Some};
pub use std::result::Result::{self, Ok};
pub use std::string::{String, ToString};

pub use crate::key::args_key;
pub use crate::slot::{Settings, Slot, Step};

/// Fails compilation when a namespace path literal is not a plain relative
/// path (the run-time check is `store::check_namespace`).
pub const fn check_namespace_path(path: &str) {
    let b = path.as_bytes();
    if b.is_empty() || b[0] == b'/' || b[b.len() - 1] == b'/' {
        panic!("permacached!: a namespace path must be a relative path like \"unique/path/f\"");
    }
    let mut i = 0;
    let mut segment_start = 0;
    while i <= b.len() {
        if i == b.len() || b[i] == b'/' {
            let len = i - segment_start;
            let dots = len <= 2
                && (len == 0 || b[segment_start] == b'.')
                && (len < 2 || b[segment_start + 1] == b'.');
            if len == 0 || dots {
                panic!("permacached!: a namespace path has no empty, '.' or '..' segment");
            }
            segment_start = i + 1;
        } else {
            let c = b[i];
            if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.') {
                panic!(
                    "permacached!: a namespace path holds only letters, digits, '_', '-', '.' and '/'"
                );
            }
        }
        i += 1;
    }
}

/// Fails compilation with `message` when the word `name` is not among the
/// argument names `given` (the text of `[x t]`).
pub const fn require_argument(given: &str, name: &str, message: &str) {
    let g = given.as_bytes();
    let n = name.as_bytes();
    let mut i = 0;
    while i < g.len() {
        if ident(g[i]) && (i == 0 || !ident(g[i - 1])) {
            let mut j = 0;
            while j < n.len() && i + j < g.len() && g[i + j] == n[j] {
                j += 1;
            }
            if j == n.len() && (i + j == g.len() || !ident(g[i + j])) {
                return;
            }
        }
        i += 1;
    }
    panic!("{}", message);
}

const fn ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}
