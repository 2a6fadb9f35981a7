//! Record format 3: a record names its identity (namespace version, body,
//! parameter and value shapes, owner, namespace) by a fingerprint, and each
//! namespace keeps the identities in a table written with the first record
//! of each. These tests make the table the only way to the reason: the
//! records are written by child processes, so the reading process has never
//! seen their identities. Each child fails on its first warning.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{ROLE, finished, logs, run};
use permacache::admin::{Namespace, key_hash, refile};
use permacache::{Cache, Miss};

/// The roles a child process plays, chosen by `PERMACACHE_TEST_ROLE`.
#[test]
#[ignore = "run by other tests as a child process"]
fn child() {
    logs::fatal();
    let role = std::env::var(ROLE).unwrap_or_default();
    let root = PathBuf::from(std::env::var("ROOT").unwrap());
    match role.as_str() {
        // Writes keys 1..=3 into one namespace per way an identity can
        // differ from the reader's (version 1, untracked body, a typed
        // cache's parameters, u64 values).
        // (Namespaces under PREFIX: miss counts are per namespace path in a
        // process, and tests run side by side.)
        "write-each-kind" => {
            let prefix = std::env::var("PREFIX").unwrap();
            let builder = |kind: &str| {
                Cache::<u64>::builder(&format!("{prefix}/{kind}"))
                    .root(&root)
                    .version(1)
            };
            let caches = [
                builder("version").version(2).open().unwrap(),
                builder("body").body_fingerprint(7).open().unwrap(),
                builder("params").params_shape(9).open().unwrap(),
                builder("owner-source").open().unwrap(),
            ];
            for cache in &caches {
                for x in 1..=3u64 {
                    cache.insert(&x, &(x * 10)).unwrap();
                }
            }
            let strings: Cache<String> = Cache::builder(&format!("{prefix}/value"))
                .root(&root)
                .version(1)
                .open()
                .unwrap();
            for x in 1..=3u64 {
                strings.insert(&x, &x.to_string()).unwrap();
            }
        }
        // Writes key 1 under version 2, then key 2 once told to go on (a
        // line on stdin): its identity is then one this process has
        // already stored.
        "write-twice" => {
            let cache = Cache::<u64>::builder("cleared/live")
                .root(&root)
                .version(2)
                .open()
                .unwrap();
            cache.insert(&1u64, &10).unwrap();
            println!("wrote 1");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            cache.insert(&2u64, &20).unwrap();
            println!("wrote 2");
        }
        // Writes keys FROM..FROM+8 under version VERSION into NS, as soon
        // as it starts (several start at once on a fresh namespace).
        "write-version" => {
            let ns = std::env::var("NS").unwrap();
            let version: u32 = std::env::var("VERSION").unwrap().parse().unwrap();
            let from: u64 = std::env::var("FROM").unwrap().parse().unwrap();
            let cache = Cache::<u64>::builder(&ns)
                .root(&root)
                .version(version)
                .open()
                .unwrap();
            for x in from..from + 8 {
                cache.insert(&x, &x).unwrap();
            }
        }
        _ => {}
    }
}

fn reader(root: &Path, ns: &str) -> Cache<u64> {
    Cache::<u64>::builder(ns)
        .root(root)
        .version(1)
        .open()
        .unwrap()
}

/// The one miss a fresh lookup of key 1 makes, by reason.
fn reason_of_a_lookup(cache: &Cache<u64>) -> Vec<(Miss, u64)> {
    let before = cache.stats();
    assert_eq!(cache.get_or_compute(&1u64, || 11), 11);
    let after = cache.stats();
    after
        .misses
        .iter()
        .map(|&(why, n)| (why, n - before.misses_of(why)))
        .filter(|&(_, n)| n > 0)
        .collect()
}

#[test]
fn each_reason_is_told_by_a_process_that_never_saw_the_identity() {
    logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    run(common::child("write-each-kind")
        .env("ROOT", root)
        .env("PREFIX", "kinds"));
    // The same files under another namespace's path: entries of another
    // namespace (copied by hand).
    let (from, to) = (root.join("kinds/owner-source"), root.join("kinds/owner"));
    std::fs::create_dir_all(&to).unwrap();
    std::fs::copy(from.join("data.mdb"), to.join("data.mdb")).unwrap();

    for (ns, why) in [
        ("kinds/version", Miss::OtherVersion),
        ("kinds/body", Miss::OtherBody),
        ("kinds/params", Miss::OtherParameters),
        ("kinds/value", Miss::OtherValueShape),
        ("kinds/owner", Miss::OtherOwner),
    ] {
        let cache = reader(root, ns);
        assert_eq!(cache.len().unwrap(), 3, "{ns}: the table is not an entry");
        assert_eq!(reason_of_a_lookup(&cache), [(why, 1)], "{ns}");
        // Overwritten by the reader's own record: a hit from now on.
        assert_eq!(cache.get(&1u64).unwrap(), Some(11), "{ns}");
        assert!(logs::about(ns).is_empty(), "{ns}: {:?}", logs::about(ns));
    }
}

#[test]
fn a_record_naming_an_identity_its_store_lacks_is_a_damaged_miss_warned_once() {
    logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let ns = "unnamed/records";
    let cache = reader(dir.path(), ns);
    cache.insert(&1u64, &10).unwrap();
    cache.insert(&2u64, &20).unwrap();
    // Re-filed under identities nobody stored: what a damaged table, or a
    // tool's mistake, would leave.
    let store = Namespace::open(dir.path(), ns).unwrap();
    for (x, fingerprint) in [(1u64, 0x1234), (2, 0x5678)] {
        let hash = key_hash(0, x.to_string().as_bytes());
        let record = store.get_raw(&hash).unwrap().unwrap();
        store.put_raw(&hash, &refile(&record, fingerprint)).unwrap();
    }
    let fresh = Cache::<u64>::builder(ns)
        .root(dir.path())
        .version(1)
        .open()
        .unwrap();
    assert_eq!(reason_of_a_lookup(&fresh), [(Miss::Damaged, 1)]);
    assert_eq!(fresh.get_or_compute(&2u64, || 22), 22);
    let warned = logs::about(ns);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0]
            .contains("the identity 0000000000001234 it names is not in its namespace's table"),
        "{warned:?}"
    );
    // Both overwritten, under the reader's identity.
    assert_eq!(fresh.get(&1u64).unwrap(), Some(11));
    assert_eq!(fresh.get(&2u64).unwrap(), Some(22));
}

#[test]
fn clear_keeps_the_identities_a_live_writer_has_already_stored() {
    logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let mut writer = common::child("write-twice")
        .env("ROOT", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("wrote 1")));
    let cache = reader(dir.path(), "cleared/live");
    cache.clear().unwrap();
    assert_eq!(cache.len().unwrap(), 0);
    // The writer stores its second record under the identity it stored with
    // its first, without writing the identity again.
    writeln!(writer.stdin.take().unwrap()).unwrap();
    assert!(lines.any(|l| l.unwrap().contains("wrote 2")));
    finished(writer);
    let before = cache.stats();
    assert_eq!(cache.get_or_compute(&2u64, || 21), 21);
    assert_eq!(
        cache.stats().misses_of(Miss::OtherVersion) - before.misses_of(Miss::OtherVersion),
        1,
        "told from the table, not taken for damage"
    );
    assert!(logs::about("cleared/live").is_empty());
}

#[test]
fn compaction_keeps_the_identity_table() {
    logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    run(common::child("write-each-kind")
        .env("ROOT", root)
        .env("PREFIX", "compacted"));
    // Not open in this process yet: compaction may run.
    let compacted = permacache::admin::compact(root, "compacted/version").unwrap();
    assert!(compacted.after > 0);
    let cache = reader(root, "compacted/version");
    assert_eq!(cache.len().unwrap(), 3);
    assert_eq!(reason_of_a_lookup(&cache), [(Miss::OtherVersion, 1)]);
    assert!(logs::about("compacted/version").is_empty());
}

#[test]
fn typed_caches_and_key_types_taking_turns_on_one_thread_keep_their_identities() {
    let dir = tempfile::tempdir().unwrap();
    let open = |ns: &str| Cache::<u64>::builder(ns).root(dir.path()).open().unwrap();
    let (a, b) = (open("memo/a"), open("memo/b"));
    a.insert(&1u64, &10).unwrap();
    b.insert(&1i64, &20).unwrap();
    // The key text is `1` every time: only the key's type tells them apart.
    for _ in 0..3 {
        assert_eq!(a.get(&1u64).unwrap(), Some(10));
        assert_eq!(b.get(&1i64).unwrap(), Some(20));
        assert_eq!(a.get(&1i64).unwrap(), None, "another key type");
        assert_eq!(b.get(&1u64).unwrap(), None, "another key type");
    }
    assert_eq!(a.stats().misses_of(Miss::OtherParameters), 3);
    assert_eq!(b.stats().misses_of(Miss::OtherParameters), 3);
}

#[test]
fn processes_opening_a_fresh_namespace_at_once_each_keep_their_identity() {
    logs::capture();
    let dir = tempfile::tempdir().unwrap();
    for round in 0..15 {
        let ns = format!("racing/{round}");
        let writers: Vec<_> = (0..4u64)
            .map(|w| {
                common::child("write-version")
                    .env("ROOT", dir.path())
                    .env("NS", &ns)
                    .env("VERSION", (2 + w).to_string())
                    .env("FROM", (w * 8).to_string())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for writer in writers {
            finished(writer);
        }
        // Every record's identity is in the table: each of the 32 is a
        // miss for another version, none is taken for damage.
        let cache = reader(dir.path(), &ns);
        assert_eq!(cache.len().unwrap(), 32, "{ns}");
        for x in 0..32u64 {
            assert_eq!(cache.get_or_compute(&x, || x + 100), x + 100, "{ns} {x}");
        }
        let stats = cache.stats();
        assert_eq!(stats.misses_of(Miss::OtherVersion), 32, "{ns}: {stats:?}");
        assert!(logs::about(&ns).is_empty(), "{ns}: {:?}", logs::about(&ns));
    }
}

#[test]
fn an_export_carries_its_identities_and_leaves_out_a_record_it_cannot_name() {
    let dir = tempfile::tempdir().unwrap();
    let cache = reader(dir.path(), "exported/from");
    for x in 1..=3u64 {
        cache.insert(&x, &(x * 10)).unwrap();
    }
    let store = cache.namespace();
    let hash = key_hash(0, b"3");
    let record = store.get_raw(&hash).unwrap().unwrap();
    store.put_raw(&hash, &refile(&record, 0x9999)).unwrap();
    let mut file = Vec::new();
    let written = permacache::admin::export::write_export(store, &mut file, &mut || {}).unwrap();
    assert_eq!(written, 2, "the record its store cannot name is left out");
    let export = permacache::admin::export::read_export(&file).unwrap();
    assert_eq!(export.identities.len(), 1);
    assert_eq!(export.records.len(), 2);

    // Into another namespace of another root: re-filed under identities
    // that name it, and served there.
    let other = tempfile::tempdir().unwrap();
    let target = Namespace::open(other.path(), "exported/to").unwrap();
    assert_eq!(export.store_into(target).unwrap(), 2);
    let there = reader(other.path(), "exported/to");
    assert_eq!(there.get(&1u64).unwrap(), Some(10));
    assert_eq!(there.get(&2u64).unwrap(), Some(20));
    assert_eq!(there.get(&3u64).unwrap(), None);
    assert_eq!(there.stats().misses_of(Miss::Absent), 1);
}
