//! "The cache never takes the program down": faults driven against real
//! files and real child processes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use permacache::Cache;

/// The value every fault test stores for key `i`: sizes from a few bytes to
/// several pages, so that damage meets leaf, branch and overflow pages.
fn value(i: u64) -> Vec<u64> {
    let len = if i.is_multiple_of(10) {
        3000
    } else {
        (i % 7) as usize * 5 + 1
    };
    (0..len as u64).map(|j| i * 1_000_003 + j).collect()
}

const KEYS: u64 = 300;

fn root_of_child() -> String {
    std::env::var("PERMACACHE_TEST_ROOT").expect("the parent names a root")
}

/// The roles this binary plays as a child process.
#[test]
#[ignore = "run as a child process by the tests below"]
fn child() {
    let root = root_of_child();
    match std::env::var(common::ROLE).unwrap().as_str() {
        // Two calls of one key under whatever PERMACACHE_MODE says.
        "twice" => {
            let cache: Cache<u32> = Cache::builder("faults/mode").root(&root).open().unwrap();
            for _ in 0..2 {
                cache.get_or_compute(&7, || {
                    println!("computed");
                    49
                });
            }
        }
        // Every key of the damage namespace: each value right, hit or not.
        "read-all" => {
            let cache = Cache::<Vec<u64>>::builder("faults/damage")
                .root(&root)
                .open();
            if let Err(e) = &cache {
                println!("open failed: {e}");
            }
            let computed = std::cell::Cell::new(0);
            for i in 0..KEYS {
                let compute = || {
                    computed.set(computed.get() + 1);
                    value(i)
                };
                let got = match &cache {
                    Ok(cache) => cache.get_or_compute(&i, compute),
                    Err(_) => compute(),
                };
                assert_eq!(got, value(i), "key {i}: a wrong value");
            }
            println!("all right, {} computed", computed.get());
        }
        // Writes keys FROM..TO of the damage namespace.
        "write" => {
            let (from, to) = (num("FROM"), num("TO"));
            let ns = std::env::var("NS").unwrap_or_else(|_| "faults/damage".into());
            let cache = Cache::<Vec<u64>>::builder(&ns).root(&root).open().unwrap();
            for i in from..to {
                cache.insert(&i, &value(i)).unwrap();
            }
            println!("wrote {from}..{to}");
        }
        // A first call in a namespace on a full disk, and in one that exists.
        "full-disk" => {
            for ns in ["faults/full/new", "faults/full/old"] {
                let cache = Cache::<Vec<u64>>::builder(ns).root(&root).open();
                if let Err(e) = &cache {
                    println!("open failed: {e}");
                }
                for i in 0..20 {
                    let got = match &cache {
                        Ok(cache) => cache.get_or_compute(&i, || value(i)),
                        Err(_) => value(i),
                    };
                    assert_eq!(got, value(i));
                }
            }
            println!("all right");
        }
        // Commits entries under a `sync` setting, then crashes.
        "commit-then-crash" => {
            let durability = match std::env::var("SYNC").unwrap().as_str() {
                "full" => permacache::Durability::Full,
                "no-meta-sync" => permacache::Durability::NoMetaSync,
                _ => permacache::Durability::Off,
            };
            let cache = Cache::<Vec<u64>>::builder("faults/sync")
                .root(&root)
                .sync(durability)
                .open()
                .unwrap();
            for i in 0..200 {
                cache.insert(&i, &value(i)).unwrap();
                println!("committed {i}");
            }
            std::process::abort();
        }
        other => panic!("unknown role {other:?}"),
    }
}

fn num(var: &str) -> u64 {
    std::env::var(var).unwrap().parse().unwrap()
}

fn child_in(root: &Path, role: &str) -> std::process::Command {
    let mut cmd = common::child(role);
    cmd.env("PERMACACHE_TEST_ROOT", root);
    cmd
}

#[test]
fn a_misspelt_mode_is_said_once_on_stderr_and_nothing_is_read_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run(child_in(dir.path(), "twice").env("PERMACACHE_MODE", "readonly"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .matches("PERMACACHE_MODE=\"readonly\" is not a mode")
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("normal, off, error-on-miss, refresh, read-only"));
    assert_eq!(
        common::lines_with(&out, "computed").len(),
        2,
        "nothing read"
    );
    let cache: Cache<u32> = Cache::builder("faults/mode")
        .root(dir.path())
        .open()
        .unwrap();
    assert_eq!(cache.len().unwrap(), 0, "nothing written");

    // Spelt right, the same program caches.
    let out = common::run(child_in(dir.path(), "twice").env("PERMACACHE_MODE", "normal"));
    assert_eq!(common::lines_with(&out, "computed").len(), 1);
}

/// A small xorshift generator: the damage loop is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn permacache_cli(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_permacache"))
        .arg("--dir")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

/// Damages `data.mdb` one of three ways; says how.
fn damage(data: &Path, rng: &mut Rng) -> String {
    let mut bytes = std::fs::read(data).unwrap();
    let len = bytes.len() as u64;
    match rng.below(3) {
        0 => {
            let at = rng.below(len);
            bytes.truncate(at as usize);
            std::fs::write(data, &bytes).unwrap();
            format!("truncated to {at}")
        }
        1 => {
            let page = rng.below(len / 4096);
            let at = (page * 4096) as usize;
            let end = (at + 4096).min(bytes.len());
            bytes[at..end].fill(0);
            std::fs::write(data, &bytes).unwrap();
            format!("page {page} zeroed")
        }
        _ => {
            let flips = 1 + rng.below(8);
            for _ in 0..flips {
                let bit = rng.below(len * 8);
                bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
            }
            std::fs::write(data, &bytes).unwrap();
            format!("{flips} bits flipped")
        }
    }
}

#[test]
fn damaged_data_files_never_give_a_wrong_value_nor_crash_the_cli() {
    let template = tempfile::tempdir().unwrap();
    common::run(
        child_in(template.path(), "write")
            .env("FROM", "0")
            .env("TO", KEYS.to_string()),
    );
    let pristine = template.path().join("faults/damage");

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut tried, mut callers_lost, mut recomputed) = (0, Vec::new(), 0);
    for round in 0..120 {
        let dir = tempfile::tempdir().unwrap();
        let ns_dir = dir.path().join("faults/damage");
        copy_dir(&pristine, &ns_dir);
        let how = damage(&ns_dir.join("data.mdb"), &mut rng);
        tried += 1;

        // The CLI first, on the damaged file as it is: it always answers.
        let verify = permacache_cli(dir.path(), &["verify"]);
        assert!(
            matches!(verify.status.code(), Some(0 | 1)),
            "round {round} ({how}): verify ended by {:?}: {}",
            verify.status,
            String::from_utf8_lossy(&verify.stderr)
        );
        let export_to = dir.path().join("export.pc");
        let export_to = export_to.to_str().unwrap();
        for args in [
            &["list"][..],
            &["show", "faults/damage", "--all"],
            &["count", "faults/damage"],
            &["stats"],
            &["export", "faults/damage", export_to],
        ] {
            let out = permacache_cli(dir.path(), args);
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "round {round} ({how}): {args:?} ended by {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }

        // Then a program calling its cached function: never a wrong value
        // (the child asserts each); alive wherever LMDB allows.
        let out = child_in(dir.path(), "read-all").output().unwrap();
        match out.status.code() {
            Some(0) => {
                if !common::lines_with(&out, "all right, 0 computed").is_empty() {
                    continue;
                }
                recomputed += 1;
            }
            Some(code) => panic!(
                "round {round} ({how}): the caller failed with {code}: {}",
                String::from_utf8_lossy(&out.stdout)
            ),
            None => callers_lost.push(format!("round {round} ({how}): {:?}", out.status)),
        }
    }
    println!(
        "damages tried: {tried}; callers that recomputed some values: {recomputed}; callers lost to a signal inside LMDB: {}",
        callers_lost.len()
    );
    for lost in &callers_lost {
        println!("  lost: {lost}");
    }
}

/// A tmpfs mounted for one test, unmounted when dropped; `None` where this
/// user cannot mount one.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .ok()?
            .status
            .success();
        ok.then(|| SmallDisk(at.to_path_buf()))
    }

    /// Fills the disk to the last byte.
    fn fill(&self) {
        let mut n = 0;
        loop {
            let chunk = vec![1u8; 4096];
            if std::fs::write(self.0.join(format!("fill-{n}")), &chunk).is_err() {
                break;
            }
            n += 1;
        }
        let _ = std::fs::write(self.0.join("fill-last"), [1u8]);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_gives_right_values_for_new_and_existing_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("disk"), "2m") else {
        common::skip_root_test("cannot mount a tmpfs here (not root?)");
        return;
    };
    let root = disk.0.join("root");
    // The existing namespace, written while there was room (by a child, so
    // that this process leaves the disk free to unmount).
    common::run(
        child_in(&root, "write")
            .env("NS", "faults/full/old")
            .env("FROM", "0")
            .env("TO", "5"),
    );
    disk.fill();
    let out = child_in(&root, "full-disk").output().unwrap();
    assert!(
        out.status.success(),
        "the caller died: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::lines_with(&out, "all right").len(), 1);
    let failed = common::lines_with(&out, "open failed: ");
    assert!(
        failed.iter().any(|f| f.contains("lock.mdb")),
        "the new namespace's lock file could not be allocated: {failed:?}"
    );
}

#[test]
fn compact_never_loses_an_entry_of_writers_in_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    common::run(
        child_in(dir.path(), "write")
            .env("FROM", "0")
            .env("TO", "50"),
    );
    let mut refused = 0;
    let mut compacted = 0;
    for round in 0..15u64 {
        let (from, to) = (100 + round * 20, 120 + round * 20);
        let mut writer = child_in(dir.path(), "write")
            .env("FROM", from.to_string())
            .env("TO", to.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = permacache_cli(dir.path(), &["compact", "faults/damage"]);
        match out.status.code() {
            Some(0) => compacted += 1,
            Some(1) => {
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains("is open in another process"),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                refused += 1;
            }
            other => panic!("compact ended by {other:?}"),
        }
        assert!(writer.wait().unwrap().success());
    }
    // Every entry every writer committed is there.
    let out = common::run(&mut child_in(dir.path(), "read-all"));
    let all: Vec<u64> = (0..50).chain(100..400).collect();
    let cache: Cache<Vec<u64>> = Cache::builder("faults/damage")
        .root(dir.path())
        .open()
        .unwrap();
    let missing: Vec<u64> = all
        .iter()
        .copied()
        .filter(|i| cache.get(i).unwrap().is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "lost {missing:?} ({compacted} compactions, {refused} refused)"
    );
    drop(out);
}

#[test]
fn a_symlink_loop_lists_each_namespace_once_and_a_damaged_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    common::run(
        child_in(dir.path(), "write")
            .env("FROM", "0")
            .env("TO", "3"),
    );
    std::os::unix::fs::symlink(dir.path(), dir.path().join("faults/loop")).unwrap();
    let broken = dir.path().join("faults/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("data.mdb"), vec![7u8; 10_000]).unwrap();

    let out = permacache_cli(dir.path(), &["--json", "list"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a damaged namespace is a problem"
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["faults/broken", "faults/damage"]);
    assert!(
        list[0]["error"].as_str().unwrap().contains("damaged"),
        "{list}"
    );
    assert_eq!(list[1]["entries"], 3);

    let out = permacache_cli(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("faults/broken: its data file is damaged"),
        "{text}"
    );
    assert!(text.contains("3 records checked"), "{text}");
}

#[test]
fn crafted_imports_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    common::run(
        child_in(dir.path(), "write")
            .env("FROM", "0")
            .env("TO", "2"),
    );
    let file = dir.path().join("x.pcx");
    let out = permacache_cli(
        dir.path(),
        &["export", "faults/damage", file.to_str().unwrap()],
    );
    assert!(out.status.success());
    let pristine = std::fs::read(&file).unwrap();
    // Export format 3: magic (18), version (1), the name (4 + len), the
    // identities (4 + 48 each: one here), the record count (8); then the
    // first record's LMDB key (16) and length (4).
    let name_len = "faults/damage".len();
    let identity = 18 + 1 + 4 + name_len + 4;
    assert_eq!(pristine[identity - 4..identity], 1u32.to_le_bytes());
    let record = identity + 48 + 8 + 16 + 4;
    let reseal = |bytes: &mut Vec<u8>, record_end: usize| {
        // The record's own checksum, then the file's.
        let sum = xxhash_rust::xxh3::xxh3_64(&bytes[record..record_end - 8]);
        bytes[record_end - 8..record_end].copy_from_slice(&sum.to_le_bytes());
        let body = bytes.len() - 16;
        let file_sum = xxhash_rust::xxh3::xxh3_128(&bytes[..body]).to_be_bytes();
        bytes[body..].copy_from_slice(&file_sum);
    };
    let record_len = u32::from_le_bytes(pristine[record - 4..record].try_into().unwrap()) as usize;
    let record_end = record + record_len;

    type Craft<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
    let cases: Vec<(&str, Craft)> = vec![
        (
            "an unknown codec 9",
            Box::new(|b: &mut Vec<u8>| b[record + 1] = 9),
        ),
        (
            "a key that is not UTF-8",
            // The key starts after the header (16) and its length (1).
            Box::new(|b: &mut Vec<u8>| b[record + 17] = 0xff),
        ),
        (
            "an identity that the file does not hold",
            // The record's identity fingerprint: bytes 2..10 of its header.
            Box::new(|b: &mut Vec<u8>| b[record + 2] ^= 1),
        ),
        (
            "identity 0 is of another namespace",
            // The identity's namespace fingerprint: its bytes 40..48.
            Box::new(|b: &mut Vec<u8>| b[identity + 40] ^= 1),
        ),
        (
            "identity 0 is not one",
            // A reserved byte of the identity.
            Box::new(|b: &mut Vec<u8>| b[identity + 2] = 1),
        ),
        (
            "an LMDB key that an earlier record has",
            Box::new(|b: &mut Vec<u8>| {
                // Two records under one key: the first entry written twice.
                let entry: Vec<u8> = b[record - 20..record_end].to_vec();
                b.splice(record_end..record_end, entry);
                let count_at = record - 20 - 8;
                let count = u64::from_le_bytes(b[count_at..count_at + 8].try_into().unwrap());
                b[count_at..count_at + 8].copy_from_slice(&(count + 1).to_le_bytes());
            }),
        ),
    ];
    let other = tempfile::tempdir().unwrap();
    for (problem, craft) in cases {
        let mut bytes = pristine.clone();
        craft(&mut bytes);
        reseal(&mut bytes, record_end);
        std::fs::write(&file, &bytes).unwrap();
        let out = permacache_cli(
            other.path(),
            &["import", "faults/damage", file.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1), "{problem}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(problem), "{problem}: {err}");
        assert!(
            !other.path().join("faults/damage").exists(),
            "nothing written"
        );
    }
}

#[test]
fn a_store_on_a_read_only_filesystem_still_serves_its_hits() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("disk"), "8m") else {
        common::skip_root_test("cannot mount a tmpfs here (not root?)");
        return;
    };
    let root = disk.0.join("root");
    common::run(child_in(&root, "write").env("FROM", "0").env("TO", "100"));
    let remounted = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&disk.0)
        .status()
        .unwrap()
        .success();
    assert!(remounted);
    // No writer can exist here: reading without locks is safe, and done.
    let out = common::run(&mut child_in(&root, "read-all"));
    let done = common::lines_with(&out, "all right, ");
    assert_eq!(
        done,
        ["200 computed"],
        "keys 0..100 served, 100..300 computed"
    );
}

#[test]
fn a_process_crash_loses_no_committed_entry_under_any_sync_setting() {
    for sync in ["full", "no-meta-sync", "off"] {
        let dir = tempfile::tempdir().unwrap();
        let out = child_in(dir.path(), "commit-then-crash")
            .env("SYNC", sync)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{sync}: the child crashes");
        let committed = common::lines_with(&out, "committed ");
        assert_eq!(committed.len(), 200, "{sync}");
        let cache: Cache<Vec<u64>> = Cache::builder("faults/sync")
            .root(dir.path())
            .open()
            .unwrap();
        for i in committed.iter().map(|c| c.parse::<u64>().unwrap()) {
            assert_eq!(
                cache.get(&i).unwrap(),
                Some(value(i)),
                "{sync}: entry {i} lost"
            );
        }
    }
}
