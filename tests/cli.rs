//! The `permacache` binary, run for real on stores this test program wrote.

use std::path::Path;
use std::process::{Command, Output};

use permacache::admin::{Namespace, key_hash};
use permacache::{Cache, Codec};

fn permacache(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_permacache"))
        .arg("--dir")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

fn json(out: Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap()
}

fn squares(root: &Path, ns: &str, n: u32) -> Cache<Vec<u32>> {
    let cache = Cache::builder(ns).root(root).open().unwrap();
    for x in 0..n {
        cache.insert(&(x, "sq"), &vec![x, x * x]).unwrap();
    }
    cache
}

#[test]
fn list_count_and_show_describe_what_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    squares(dir.path(), "cli/list/a", 3);
    squares(dir.path(), "cli/list/b/deeper", 5);
    let readable: Cache<Vec<f64>> = Cache::builder("cli/list/json")
        .root(dir.path())
        .codec(Codec::Json)
        .open()
        .unwrap();
    readable.insert(&"k", &vec![0.5, 1.0]).unwrap();

    let list = json(permacache(dir.path(), &["--json", "list"]));
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cli/list/a", "cli/list/b/deeper", "cli/list/json"]);
    assert_eq!(list[1]["entries"], 5);
    assert!(list[1]["bytes"].as_u64().unwrap() > 0);
    assert!(ok(permacache(dir.path(), &["list"])).contains("cli/list/b/deeper"));

    assert_eq!(
        ok(permacache(dir.path(), &["count", "cli/list/b/deeper"])),
        "5\n"
    );

    let shown = json(permacache(dir.path(), &["--json", "show", "cli/list/json"]));
    assert_eq!(shown[0]["key"], r#""k""#);
    assert_eq!(shown[0]["value"], serde_json::json!([0.5, 1.0]));
    let text = ok(permacache(
        dir.path(),
        &["show", "cli/list/a", "--limit", "2"],
    ));
    // postcard values too are shown as JSON, through the shape the
    // namespace keeps.
    assert!(text.contains(r#"[0,"sq"] => [0,0]"#), "{text}");
    assert!(text.contains("... 1 more"), "{text}");

    let missing = permacache(dir.path(), &["count", "cli/list/nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no namespace \"cli/list/nope\""));
    assert!(
        !dir.path().join("cli/list/nope").exists(),
        "a look never creates a namespace"
    );
}

#[test]
fn an_export_imported_into_another_root_serves_hits() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    squares(a.path(), "cli/share", 10);
    let file = a.path().join("share.pcx");
    ok(permacache(
        a.path(),
        &["export", "cli/share", file.to_str().unwrap()],
    ));

    let out = permacache(b.path(), &["import", "cli/share", file.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("imported 10 entries"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stderr(&out).lines().collect::<Vec<_>>(),
        [format!(
            "permacache: store root {} (--dir)",
            b.path().display()
        )],
        "the root said, and no progress bar when stdout is not a terminal"
    );
    let served: Cache<Vec<u32>> = Cache::builder("cli/share").root(b.path()).open().unwrap();
    assert_eq!(
        served.get_or_compute(&(7u32, "sq"), || vec![0]),
        vec![7, 49]
    );

    // The target now has entries: a second import is refused unless merging.
    let again = permacache(b.path(), &["import", "cli/share", file.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already has 10 entries"),
        "{}",
        stderr(&again)
    );
    served.insert(&(99u32, "sq"), &vec![99]).unwrap();
    ok(permacache(
        b.path(),
        &["import", "cli/share", file.to_str().unwrap(), "--merge"],
    ));
    assert_eq!(served.len().unwrap(), 11);
    assert_eq!(served.get(&(99u32, "sq")).unwrap(), Some(vec![99]));
}

#[test]
fn a_damaged_or_foreign_export_is_refused_and_changes_nothing() {
    let a = tempfile::tempdir().unwrap();
    squares(a.path(), "cli/damage", 4);
    let file = a.path().join("x.pcx");
    ok(permacache(
        a.path(),
        &["export", "cli/damage", file.to_str().unwrap()],
    ));
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();

    let b = tempfile::tempdir().unwrap();
    let out = permacache(b.path(), &["import", "cli/damage", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("checksum does not match"),
        "{}",
        stderr(&out)
    );
    assert!(!b.path().join("cli/damage").exists(), "nothing written");

    std::fs::write(&file, "name,value\n1,2\n").unwrap();
    let out = permacache(b.path(), &["import", "cli/damage", file.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("does not start like one"),
        "{}",
        stderr(&out)
    );

    // Into an existing namespace with --merge: still nothing changes.
    squares(b.path(), "cli/kept", 2);
    let out = permacache(
        b.path(),
        &["import", "cli/kept", file.to_str().unwrap(), "--merge"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(ok(permacache(b.path(), &["count", "cli/kept"])), "2\n");
}

#[test]
fn verify_reports_a_damaged_record_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cache = squares(dir.path(), "cli/verify", 5);
    assert!(ok(permacache(dir.path(), &["verify"])).contains("5 records checked, 0 unreadable"));

    let hash = key_hash(0, br#"[2,"sq"]"#);
    let mut bytes = cache.namespace().get_raw(&hash).unwrap().unwrap();
    bytes.truncate(30);
    cache.namespace().put_raw(&hash, &bytes).unwrap();
    let out = permacache(dir.path(), &["verify", "cli/verify"]);
    assert_eq!(out.status.code(), Some(1));
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        stdout(&out).contains(&format!("cli/verify: record {hex}: truncated record")),
        "{}",
        stdout(&out)
    );
    let out = permacache(dir.path(), &["--json", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["bad"].as_array().unwrap().len(), 1);
    assert_eq!(report["checked"], 5);
}

#[test]
fn gc_removes_old_entries_and_stale_versions() {
    let dir = tempfile::tempdir().unwrap();
    let cache = squares(dir.path(), "cli/gc", 6);
    // Age two entries by 40 days.
    let ns = cache.namespace();
    for x in [0u32, 1] {
        let hash = key_hash(0, permacache::stringify(&(x, "sq")).unwrap().as_bytes());
        let mut bytes = ns.get_raw(&hash).unwrap().unwrap();
        age(&mut bytes, 40);
        ns.put_raw(&hash, &bytes).unwrap();
    }
    let out = ok(permacache(
        dir.path(),
        &["gc", "cli/gc", "--older-than", "30d", "--dry-run"],
    ));
    assert!(out.starts_with("cli/gc: would remove 2 entries ("), "{out}");
    assert!(out.contains("4 left"), "{out}");
    assert_eq!(cache.len().unwrap(), 6, "a dry run removes nothing");
    let out = ok(permacache(
        dir.path(),
        &["gc", "cli/gc", "--older-than", "30d"],
    ));
    assert!(out.starts_with("cli/gc: removed 2 entries ("), "{out}");
    assert!(out.contains("4 left"), "{out}");
    // This test has the namespace open: gc cannot compact it, and says so.
    assert!(
        out.contains("another process has it open") && out.contains("`permacache compact cli/gc`"),
        "{out}"
    );
    assert_eq!(cache.get(&(0u32, "sq")).unwrap(), None);
    assert_eq!(cache.get(&(2u32, "sq")).unwrap(), Some(vec![2, 4]));

    let v2: Cache<Vec<u32>> = Cache::builder("cli/gc")
        .root(dir.path())
        .version(2)
        .open()
        .unwrap();
    v2.insert(&(2u32, "sq"), &vec![2, 4]).unwrap();
    let out = json(permacache(
        dir.path(),
        &["--json", "gc", "--all", "--stale-versions"],
    ));
    assert_eq!(out[0]["namespace"], "cli/gc");
    assert_eq!(out[0]["removed"], 3);
    assert_eq!(out[0]["left"], 1);
    assert_eq!(v2.get(&(2u32, "sq")).unwrap(), Some(vec![2, 4]));

    let bad = permacache(dir.path(), &["gc", "cli/gc", "--older-than", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("\"45s\""), "{}", stderr(&bad));
}

/// What `du` counts for a folder and everything in it.
fn du(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                du(&e.path())
            } else {
                m.blocks() * 512
            }
        })
        .sum()
}

#[test]
fn gc_max_size_evicts_the_least_recently_used_across_the_store_and_compacts() {
    // Two namespaces of 200 entries of 20 kB; "old" written ten days ago.
    let a = tempfile::tempdir().unwrap();
    for (name, age_days) in [("cli/old", 10u64), ("cli/new", 0)] {
        let cache: Cache<Vec<u8>> = Cache::builder(name).root(a.path()).open().unwrap();
        for k in 0..200u32 {
            cache.insert(&k, &vec![k as u8; 20_000]).unwrap();
        }
        if age_days > 0 {
            let ns = cache.namespace();
            for k in 0..200u32 {
                let hash = key_hash(0, permacache::stringify(&k).unwrap().as_bytes());
                let mut bytes = ns.get_raw(&hash).unwrap().unwrap();
                age(&mut bytes, age_days);
                ns.put_raw(&hash, &bytes).unwrap();
            }
        }
    }
    // A store no process has open: export, import elsewhere.
    let b = tempfile::tempdir().unwrap();
    for name in ["cli/old", "cli/new"] {
        let file = a.path().join("x.pcx");
        ok(permacache(
            a.path(),
            &["export", name, file.to_str().unwrap()],
        ));
        ok(permacache(
            b.path(),
            &["import", name, file.to_str().unwrap()],
        ));
    }
    let before = du(b.path());
    let dry = ok(permacache(
        b.path(),
        &["gc", "--all", "--max-size", "5MB", "--dry-run"],
    ));
    assert!(dry.contains("cli/old: would remove"), "{dry}");
    assert_eq!(du(b.path()), before, "a dry run changes nothing");

    let out = ok(permacache(b.path(), &["gc", "--all", "--max-size", "5MB"]));
    assert!(out.contains("cli/new: removed 0 entries"), "{out}");
    assert!(out.contains("the file shrank from"), "{out}");
    let after = du(b.path());
    assert!(
        after as f64 <= 5e6 * 1.10,
        "{before} -> {after} bytes on disk for --max-size 5MB"
    );
    assert_eq!(ok(permacache(b.path(), &["count", "cli/new"])), "200\n");
    let old: usize = ok(permacache(b.path(), &["count", "cli/old"]))
        .trim()
        .parse()
        .unwrap();
    assert!(old < 100, "{old} old entries kept");

    // One namespace: its own size.
    let out = ok(permacache(
        b.path(),
        &["gc", "cli/new", "--max-size", "2MB"],
    ));
    assert!(out.starts_with("cli/new: removed "), "{out}");
    assert!(du(&b.path().join("cli/new")) as f64 <= 2e6 * 1.10);
    let bad = permacache(b.path(), &["gc", "cli/new", "--max-size", "lots"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("\"20GB\""), "{}", stderr(&bad));
}

#[test]
fn forget_takes_any_spelling_of_a_key_and_clear_empties() {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<u8> = Cache::builder("cli/forget")
        .root(dir.path())
        .open()
        .unwrap();
    #[derive(serde::Serialize)]
    struct Args {
        x: u8,
        y: u8,
    }
    cache.insert(&Args { x: 1, y: 2 }, &3).unwrap();
    cache.insert(&Args { x: 4, y: 5 }, &9).unwrap();
    ok(permacache(
        dir.path(),
        &["forget", "cli/forget", r#"{ "y": 2, "x": 1 }"#],
    ));
    assert_eq!(cache.get(&Args { x: 1, y: 2 }).unwrap(), None);
    let again = permacache(dir.path(), &["forget", "cli/forget", r#"{"x":1,"y":2}"#]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        ok(permacache(
            dir.path(),
            &["forget", "cli/forget", r#"{"x":4,"y":5}"#, "--dry-run"]
        )),
        "would forget {\"x\":4,\"y\":5} (1 records)\n"
    );
    assert_eq!(
        ok(permacache(
            dir.path(),
            &["clear", "cli/forget", "--dry-run"]
        )),
        "would remove 1 entry from cli/forget\n"
    );
    assert_eq!(cache.len().unwrap(), 1, "dry runs remove nothing");
    assert_eq!(
        ok(permacache(dir.path(), &["clear", "cli/forget"])),
        "removed 1 entry from cli/forget\n"
    );
    assert!(cache.is_empty().unwrap());
}

#[test]
fn compact_gives_free_pages_back_and_refuses_a_store_in_use() {
    let a = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<u8>> = Cache::builder("cli/compact").root(a.path()).open().unwrap();
    for i in 0..200u32 {
        cache.insert(&i, &vec![1; 4096]).unwrap();
    }
    for i in 0..190u32 {
        cache.remove(&i).unwrap();
    }
    // This process has the store open: compacting it would lose its writes.
    let refused = permacache(a.path(), &["compact", "cli/compact"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("is open in another process"),
        "{}",
        stderr(&refused)
    );

    // A copy that only the CLI opens.
    let file = a.path().join("c.pcx");
    ok(permacache(
        a.path(),
        &["export", "cli/compact", file.to_str().unwrap()],
    ));
    let b = tempfile::tempdir().unwrap();
    ok(permacache(
        b.path(),
        &["import", "cli/compact", file.to_str().unwrap()],
    ));
    // Remove every entry with gc, which compacts what no process has open.
    let gc = json(permacache(
        b.path(),
        &[
            "--json",
            "gc",
            "cli/compact",
            "--stale-versions",
            "--keep-version",
            "7",
        ],
    ));
    assert_eq!(gc[0]["compacted"], true, "{gc}");
    assert!(
        gc[0]["file_bytes"].as_u64() < gc[0]["file_before"].as_u64(),
        "{gc}"
    );
    // Free pages again, for compact: a second import, then its removal
    // through the library (which does not compact).
    ok(permacache(
        b.path(),
        &["import", "cli/compact", file.to_str().unwrap()],
    ));
    ok(permacache(b.path(), &["clear", "cli/compact"]));
    // A nested namespace whose name an older compaction used for its copy.
    squares(b.path(), "cli/compact/compact.tmp", 3);
    let out = json(permacache(b.path(), &["--json", "compact", "cli/compact"]));
    let (before, after) = (
        out[0]["before"].as_u64().unwrap(),
        out[0]["after"].as_u64().unwrap(),
    );
    assert!(after < before, "{before} -> {after}");
    assert_eq!(ok(permacache(b.path(), &["count", "cli/compact"])), "0\n");
    assert_eq!(
        ok(permacache(b.path(), &["count", "cli/compact/compact.tmp"])),
        "3\n",
        "a nested namespace survives"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(b.path().join("cli/compact/data.mdb"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the file's permissions are kept");
    assert!(Namespace::open_existing(b.path(), "cli/compact").is_ok());
}

#[test]
fn usage_errors_exit_2_and_every_command_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        permacache(dir.path(), &["frobnicate"]).status.code(),
        Some(2)
    );
    for cmd in [
        "list", "count", "show", "clear", "drop", "forget", "export", "import", "stats", "verify",
        "compact", "gc", "push", "pull", "remote",
    ] {
        let out = permacache(dir.path(), &[cmd, "--help"]);
        assert!(out.status.success(), "{cmd}");
        let help = stdout(&out);
        assert!(help.contains("Usage: permacache"), "{cmd}");
        // An example of the command itself, after the options.
        let examples = help.split("Examples:").nth(1).unwrap_or_default();
        let runs_cmd = |line: &str| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.windows(2).any(|w| w == ["permacache", cmd])
        };
        assert!(
            examples.lines().any(runs_cmd),
            "{cmd} --help has no example: {help}"
        );
    }
    let stats = json(permacache(dir.path(), &["--json", "stats"]));
    assert_eq!(stats["entries"], 0);
}

/// Seals a record again after a test changed its bytes.
/// Makes a record `days` older: its written-at is the header's bytes 10..16
/// (u48 milliseconds, record format 3); the checksum is sealed again.
fn age(bytes: &mut Vec<u8>, days: u64) {
    let mut at = [0u8; 8];
    at[..6].copy_from_slice(&bytes[10..16]);
    let at = u64::from_le_bytes(at) - days * 86_400_000;
    bytes[10..16].copy_from_slice(&at.to_le_bytes()[..6]);
    reseal(bytes);
}

fn reseal(bytes: &mut Vec<u8>) {
    bytes.truncate(bytes.len() - 8);
    let sum = xxhash_rust::xxh3::xxh3_64(bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
}

#[test]
fn verify_reports_a_flipped_bit_as_a_checksum_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let cache = squares(dir.path(), "cli/bitrot", 3);
    let hash = key_hash(0, br#"[1,"sq"]"#);
    let mut bytes = cache.namespace().get_raw(&hash).unwrap().unwrap();
    // A bit of the value: the record still parses without its checksum.
    let at = bytes.len() - 9;
    bytes[at] ^= 0x01;
    cache.namespace().put_raw(&hash, &bytes).unwrap();
    let out = permacache(dir.path(), &["verify", "cli/bitrot"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("checksum mismatch (damaged record)"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("3 records checked, 1 unreadable"));
    // An export leaves the damaged record out; the rest import cleanly.
    let file = dir.path().join("bitrot.pcx");
    ok(permacache(
        dir.path(),
        &["export", "cli/bitrot", file.to_str().unwrap()],
    ));
    let other = tempfile::tempdir().unwrap();
    let out = ok(permacache(
        other.path(),
        &["import", "cli/bitrot", file.to_str().unwrap()],
    ));
    assert!(out.contains("imported 2 entries"), "{out}");
}

#[test]
fn an_import_into_another_namespace_is_refused_unless_asked_for() {
    let a = tempfile::tempdir().unwrap();
    squares(a.path(), "cli/from", 4);
    let file = a.path().join("from.pcx");
    ok(permacache(
        a.path(),
        &["export", "cli/from", file.to_str().unwrap()],
    ));
    let b = tempfile::tempdir().unwrap();
    let out = permacache(b.path(), &["import", "cli/to", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("was exported from namespace cli/from, not cli/to"),
        "{}",
        stderr(&out)
    );
    assert!(!b.path().join("cli/to").exists(), "nothing written");

    // Asked for: the entries are re-filed and served under the new path.
    ok(permacache(
        b.path(),
        &[
            "import",
            "cli/to",
            file.to_str().unwrap(),
            "--into-other-namespace",
        ],
    ));
    let to: Cache<Vec<u32>> = Cache::builder("cli/to").root(b.path()).open().unwrap();
    assert_eq!(to.get(&(3u32, "sq")).unwrap(), Some(vec![3, 9]));

    // Copied without the CLI, a record of another namespace is a miss.
    let raw = to
        .namespace()
        .get_raw(&key_hash(0, br#"[3,"sq"]"#))
        .unwrap()
        .unwrap();
    let elsewhere: Cache<Vec<u32>> = Cache::builder("cli/elsewhere")
        .root(b.path())
        .open()
        .unwrap();
    elsewhere
        .namespace()
        .put_raw(&key_hash(0, br#"[3,"sq"]"#), &raw)
        .unwrap();
    assert_eq!(elsewhere.get(&(3u32, "sq")).unwrap(), None);
}

#[test]
fn show_prints_values_of_every_codec_as_json() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Point {
        x: i32,
        label: Option<String>,
    }
    let dir = tempfile::tempdir().unwrap();
    for (ns, codec) in [
        ("cli/show/postcard", Codec::Postcard),
        ("cli/show/json", Codec::Json),
        ("cli/show/cbor", Codec::Cbor),
    ] {
        let cache: Cache<Vec<Point>> = Cache::builder(ns)
            .root(dir.path())
            .codec(codec)
            .open()
            .unwrap();
        let points = vec![
            Point {
                x: -3,
                label: Some("a".into()),
            },
            Point { x: 4, label: None },
        ];
        cache.insert(&1, &points).unwrap();
        let shown = json(permacache(dir.path(), &["--json", "show", ns]));
        assert_eq!(
            shown[0]["value"],
            serde_json::json!([{"x": -3, "label": "a"}, {"x": 4, "label": null}]),
            "{ns}"
        );
    }
}

/// The CLI run in `cwd` without `--dir`, with the user cache directory in
/// `cache_home`.
fn permacache_in(cwd: &Path, cache_home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_permacache"))
        .args(args)
        .current_dir(cwd)
        .env_remove("PERMACACHE_DIR")
        .env("XDG_CACHE_HOME", cache_home)
        .output()
        .unwrap()
}

#[test]
fn the_cli_finds_the_store_of_the_crate_it_runs_in_and_says_which() {
    let krate = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(krate.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    std::fs::write(
        krate.path().join("permacache.toml"),
        "[store]\ndir = \"target/cache\"\n",
    )
    .unwrap();
    let below = krate.path().join("src/deeper");
    std::fs::create_dir_all(&below).unwrap();
    squares(&krate.path().join("target/cache"), "cli/found", 2);

    for cwd in [krate.path(), below.as_path()] {
        let out = permacache_in(cwd, home.path(), &["list"]);
        assert!(stdout(&out).contains("cli/found"), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "store root {} ([store] dir of {})",
                krate.path().join("target/cache").display(),
                krate.path().join("permacache.toml").display()
            )),
            "{}",
            stderr(&out)
        );
    }
    // Outside any crate: the user cache directory, said so.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = permacache_in(elsewhere.path(), home.path(), &["list"]);
    assert!(
        stderr(&out).contains(&format!(
            "store root {} (the user cache directory)",
            home.path().join("permacache").display()
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2_failures_exit_1_and_json_errors_are_json() {
    let dir = tempfile::tempdir().unwrap();
    squares(dir.path(), "cli/usage", 2);
    let missing = dir.path().join("no-such-root");
    let out = Command::new(env!("CARGO_BIN_EXE_permacache"))
        .arg("--dir")
        .arg(&missing)
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no such directory"),
        "{}",
        stderr(&out)
    );

    let out = permacache(dir.path(), &["forget", "cli/usage", "not json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not JSON"), "{}", stderr(&out));
    let out = permacache(dir.path(), &["count", "../outside"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = permacache(dir.path(), &["forget", "cli/usage", "[9,\"sq\"]"]);
    assert_eq!(out.status.code(), Some(1), "a key not stored is a failure");

    let out = permacache(dir.path(), &["--json", "count", "cli/nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        err["error"].as_str().unwrap().contains("no namespace"),
        "{err}"
    );
    assert_eq!(err["exit_code"], 1);

    let out = permacache(
        dir.path(),
        &["export", "cli/usage", "/proc/no/such/place.pcx"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot write /proc/no/such/place.partial"),
        "the file is named: {}",
        stderr(&out)
    );
}

#[test]
fn drop_removes_a_namespace_and_keeps_the_ones_nested_in_it() {
    let dir = tempfile::tempdir().unwrap();
    squares(dir.path(), "cli/drop/inner", 2);
    // Written by the CLI's import, so that this process does not hold it.
    let a = tempfile::tempdir().unwrap();
    squares(a.path(), "cli/drop", 3);
    let file = a.path().join("d.pcx");
    ok(permacache(
        a.path(),
        &["export", "cli/drop", file.to_str().unwrap()],
    ));
    ok(permacache(
        dir.path(),
        &["import", "cli/drop", file.to_str().unwrap()],
    ));

    let out = ok(permacache(dir.path(), &["drop", "cli/drop"]));
    assert_eq!(out, "dropped cli/drop\n");
    assert!(!dir.path().join("cli/drop/data.mdb").exists());
    assert_eq!(
        ok(permacache(dir.path(), &["count", "cli/drop/inner"])),
        "2\n"
    );
    // This process has the nested one open: refused.
    let out = permacache(dir.path(), &["drop", "cli/drop/inner"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is open in another process"));
    let out = permacache(dir.path(), &["drop", "cli/drop"]);
    assert_eq!(out.status.code(), Some(1), "already gone");
}

/// Raw arrays (codec tags 3 and 4) are shown as JSON and verified by the
/// CLI, whatever features it was built with; a shape that disagrees with
/// its elements is reported.
#[test]
fn show_and_verify_read_raw_and_shaped_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<f64>> = Cache::builder("cli/raw").root(dir.path()).open().unwrap();
    let floats: Vec<f64> = (0..100).map(|i| f64::from(i) * 0.5).collect();
    cache.insert(&1, &floats).unwrap();
    let shown = json(permacache(dir.path(), &["--json", "show", "cli/raw"]));
    assert_eq!(shown[0]["value"], serde_json::json!(floats));

    // The same elements as a 2 x 50 ndarray value (codec tag 4).
    let hash = key_hash(0, b"1");
    let bytes = cache.namespace().get_raw(&hash).unwrap().unwrap();
    assert_eq!(bytes[1], permacache::admin::BULK_TAG);
    let value_at = permacache::admin::value_at(&bytes).unwrap();
    assert_eq!(
        value_at,
        16 + 1 + 1,
        "the header, the key's length, the key `1`"
    );
    let shaped = |rows: u64, cols: u64| {
        let mut b = bytes[..value_at].to_vec();
        b[1] = permacache::admin::SHAPED_TAG;
        b.extend_from_slice(&[10, 2]);
        b.extend_from_slice(&rows.to_le_bytes());
        b.extend_from_slice(&cols.to_le_bytes());
        b.extend_from_slice(&bytes[value_at + 1..]); // elements and checksum
        reseal(&mut b);
        b
    };
    cache.namespace().put_raw(&hash, &shaped(2, 50)).unwrap();
    let shown = json(permacache(dir.path(), &["--json", "show", "cli/raw"]));
    assert_eq!(
        shown[0]["value"],
        serde_json::json!({"v": 1, "dim": [2, 50], "data": floats})
    );
    ok(permacache(dir.path(), &["verify", "cli/raw"]));

    cache.namespace().put_raw(&hash, &shaped(2, 49)).unwrap();
    let out = permacache(dir.path(), &["verify", "cli/raw"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("not as many as its shape says"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn compact_keeps_the_time_of_the_last_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.pcx");
    {
        let a = tempfile::tempdir().unwrap();
        let cache: Cache<Vec<u8>> = Cache::builder("cli/kept").root(a.path()).open().unwrap();
        for i in 0..50u32 {
            cache.insert(&i, &vec![1; 4096]).unwrap();
        }
        ok(permacache(
            a.path(),
            &["export", "cli/kept", file.to_str().unwrap()],
        ));
    }
    // Imported by the CLI alone, then written "a day ago".
    ok(permacache(
        dir.path(),
        &["import", "cli/kept", file.to_str().unwrap()],
    ));
    let data = dir.path().join("cli/kept/data.mdb");
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    std::fs::File::options()
        .write(true)
        .open(&data)
        .unwrap()
        .set_modified(day_ago)
        .unwrap();
    let before = json(permacache(dir.path(), &["--json", "list"]))[0]["last_write"].clone();
    ok(permacache(dir.path(), &["compact", "cli/kept"]));
    let after = json(permacache(dir.path(), &["--json", "list"]))[0]["last_write"].clone();
    assert_eq!(after, before, "compaction is no write");
}
