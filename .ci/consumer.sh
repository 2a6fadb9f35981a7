#!/usr/bin/env bash
# The packaged crate, as crates.io would serve it, built as a dependency of a
# fresh crate: with the build check (as a build-dependency that compiles
# neither LMDB nor clap) and without it. Its second run is served from disk.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo package --quiet --allow-dirty
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xzf "target/package/permacache-$version.crate" -C "$work"
pkg="$work/permacache-$version"

make_consumer() { # dir, with_check
    local dir="$1" with_check="$2"
    mkdir -p "$dir/src"
    {
        echo '[package]'
        echo 'name = "consumer"'
        echo 'version = "0.1.0"'
        echo 'edition = "2024"'
        echo '[dependencies]'
        echo "permacache = { path = \"$pkg\" }"
        if [ "$with_check" = yes ]; then
            echo '[build-dependencies]'
            echo "permacache = { path = \"$pkg\", default-features = false, features = [\"build\"] }"
        fi
        echo '[workspace]'
    } >"$dir/Cargo.toml"
    cat >"$dir/src/main.rs" <<'RS'
use permacache::permacached;

permacached! {
    "consumer/square" =>
    fn square(x: u64) -> u64 {
        println!("computed");
        x * x
    }
}

fn main() {
    println!("{}", square(12));
}
RS
    if [ "$with_check" = yes ]; then
        printf 'fn main() {\n    permacache::build::check();\n}\n' >"$dir/build.rs"
        printf '[namespace."consumer/square"]\nversion = 1\n' >"$dir/permacache.toml"
    fi
}

for with_check in yes no; do
    dir="$work/consumer-$with_check"
    make_consumer "$dir" "$with_check"
    export PERMACACHE_DIR="$work/store-$with_check"
    first="$(cargo run --quiet --manifest-path "$dir/Cargo.toml")"
    second="$(cargo run --quiet --manifest-path "$dir/Cargo.toml")"
    [ "$first" = $'computed\n144' ] || { echo "consumer ($with_check check): $first"; exit 1; }
    [ "$second" = "144" ] || { echo "consumer ($with_check check), second run: $second"; exit 1; }
done

# The build-dependency compiles neither LMDB nor the CLI crates.
build_deps="$(cargo tree --quiet --manifest-path "$work/consumer-yes/Cargo.toml" -e build --prefix none)"
if grep -Eq '^(lmdb-rkv|clap|indicatif|anyhow)' <<<"$build_deps"; then
    echo "the build-dependency pulls in:"; grep -E '^(lmdb-rkv|clap|indicatif|anyhow)' <<<"$build_deps"; exit 1
fi
# And the library's default features compile no CLI crate.
normal_deps="$(cargo tree --quiet --manifest-path "$work/consumer-no/Cargo.toml" -e normal --prefix none)"
if grep -Eq '^(clap|indicatif|anyhow) ' <<<"$normal_deps"; then
    echo "the default features pull in CLI crates"; exit 1
fi
echo "consumer: the packaged crate builds and caches in a fresh crate, with and without the build check"
