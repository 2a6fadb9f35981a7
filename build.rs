//! The project checks its own cached functions (examples, tests) with the same
//! code users run in their build scripts: a build script cannot depend on the
//! crate it builds, so it includes the check's files by path.

#[allow(dead_code)]
#[path = "src/config.rs"]
mod config;

#[allow(dead_code)]
#[path = "src/build/mod.rs"]
mod build;

fn main() {
    // The compile-fail cases are separate crates, one function each, and
    // share paths on purpose.
    build::Check::new().exclude("tests/compile-fail").run();
}
