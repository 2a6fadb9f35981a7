//! The project checks its own cached functions (examples, tests) with the same
//! code users run in their build scripts: a build script cannot depend on the
//! crate it builds, so it includes the check's files by path.

#[allow(dead_code)]
#[path = "src/config.rs"]
mod config;

#[allow(dead_code)]
#[path = "src/settings.rs"]
mod settings;

#[allow(dead_code, unused_imports)]
#[path = "src/build/mod.rs"]
mod build;

fn main() {
    // The packaged crate leaves out permacache.toml and the tests: built as a
    // dependency, there is nothing of ours to check, and nothing here may
    // fail a dependent's build.
    let root = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    if !std::path::Path::new(&root).join("permacache.toml").exists() {
        println!("cargo::rerun-if-changed=permacache.toml");
        return;
    }
    // The compile-fail cases are separate crates, one function each, and
    // share paths on purpose.
    // `PERMACACHE_EXPLAIN` is for the crate a user builds, not for this
    // one as its dependency.
    build::Check::new()
        .exclude("tests/compile-fail")
        .explain(false)
        .run();
}
