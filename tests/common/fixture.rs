//! Fixture crates that depend on this one, built by cargo into a target dir
//! shared by every fixture, for the build-check and settings tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A crate in a temp dir, built into a target dir shared by all fixtures so
/// that permacache and its dependencies compile once.
pub struct Fixture {
    dir: tempfile::TempDir,
    pub store: tempfile::TempDir,
}

fn shared_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("fixtures")
}

impl Fixture {
    pub fn new(name: &str, toml: &str, main: &str) -> Fixture {
        Fixture::with_features(name, toml, main, &[])
    }

    /// A fixture that also depends on serde (derive).
    pub fn with_deps(name: &str, toml: &str, main: &str) -> Fixture {
        Fixture::make(
            name,
            toml,
            main,
            &[],
            "serde = { version = \"1\", features = [\"derive\"] }\n",
        )
    }

    /// A fixture depending on permacache with `features`.
    pub fn with_features(name: &str, toml: &str, main: &str, features: &[&str]) -> Fixture {
        Fixture::make(name, toml, main, features, "")
    }

    fn make(name: &str, toml: &str, main: &str, features: &[&str], deps: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let me = env!("CARGO_MANIFEST_DIR");
        let manifest = format!(
            r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[dependencies]
permacache = {{ path = "{me}", features = {features:?} }}
log = "0.4"
{deps}
[build-dependencies]
permacache = {{ path = "{me}", default-features = false, features = ["build"] }}

[workspace]
"#
        );
        let f = Fixture {
            dir,
            store: tempfile::tempdir().unwrap(),
        };
        f.write("Cargo.toml", &manifest);
        std::fs::copy(Path::new(me).join("Cargo.lock"), f.path("Cargo.lock")).unwrap();
        f.write(
            "build.rs",
            "fn main() {\n    permacache::build::check();\n}\n",
        );
        f.write("permacache.toml", toml);
        f.write("src/main.rs", main);
        f
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn write(&self, file: &str, text: &str) {
        let p = self.path(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn cargo(&self, args: &[&str]) -> Output {
        self.cargo_with(args, &[])
    }

    /// Runs cargo with extra environment variables.
    pub fn cargo_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO"))
            .args(args)
            .arg("--offline")
            .current_dir(self.dir.path())
            .env("CARGO_TARGET_DIR", shared_target())
            .env("PERMACACHE_DIR", self.store.path())
            .env_remove("RUSTFLAGS")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Builds; returns cargo's stderr and whether it succeeded.
    pub fn build(&self) -> (bool, String) {
        let out = self.cargo(&["build"]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Builds and runs; returns what the program printed.
    pub fn run(&self) -> String {
        self.run_with(&[])
    }

    /// Builds and runs with extra environment variables.
    pub fn run_with(&self, env: &[(&str, &str)]) -> String {
        let out = self.cargo_with(&["run", "--quiet"], env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
