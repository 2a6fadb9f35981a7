//! Compute-once across the processes of one machine, with no server: real
//! child processes missing the same keys at once compute each key once, and
//! a lock holder killed with SIGKILL hands the key to a waiter at once.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use permacache::{Cache, permacached};

fn slow(k: u64, by: &str) -> u64 {
    std::thread::sleep(Duration::from_millis(200));
    println!("computed {k} by {by}");
    k * k
}

permacached! {
    "tests/once/batch" =>
    fn squares(#[parallel] ks: Vec<u64>) -> Vec<u64> {
        ks.into_iter().map(|k| slow(k, "batch")).collect()
    }

    "tests/once/async" =>
    async fn square_later(k: u64) -> u64 {
        slow(k, "async")
    }

    "tests/once/gated" =>
    fn gated_squares(#[parallel] ks: Vec<u64>) -> Vec<u64> {
        ks.into_iter().map(gated).collect()
    }

    "tests/once/out_files" =>
    fn square_to_file(k: u64, #[out_file] out: std::path::PathBuf) -> u64 {
        std::fs::write(&out, k.to_string()).unwrap();
        slow(k, "out_files")
    }
}

/// Says it computes `k`, then waits for the test to create `go-{k}`.
fn gated(k: u64) -> u64 {
    println!("computing {k}");
    let go = Path::new(&env("ROOT")).join(format!("go-{k}"));
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    k * k
}

/// Waits until `stats` has counted `misses`.
fn until_missed(misses: u64, stats: impl Fn() -> permacache::Stats) {
    while stats().total_misses() < misses {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn env(var: &str) -> String {
    std::env::var(var).unwrap()
}

#[test]
#[ignore = "run as a child process by the tests below"]
fn child() {
    let root = env("ROOT");
    let turn: u64 = env("TURN").parse().unwrap();
    // Each process walks the keys from another place.
    let keys: Vec<u64> = (0..10).map(|i| (i + turn * 3) % 10).collect();
    match env(common::ROLE).as_str() {
        "plain" => {
            let cache: Cache<u64> = Cache::builder("tests/once/plain")
                .root(&root)
                .open()
                .unwrap();
            for k in keys {
                assert_eq!(cache.get_or_compute(&k, || slow(k, "plain")), k * k);
            }
        }
        "batch" => {
            permacache::set_store_dir(&root).unwrap();
            assert_eq!(
                squares(keys.clone()),
                keys.iter().map(|k| k * k).collect::<Vec<_>>()
            );
        }
        "async" => {
            permacache::set_store_dir(&root).unwrap();
            for k in keys {
                assert_eq!(common::block_on(square_later(k)), k * k);
            }
        }
        "out_files" => {
            permacache::set_store_dir(&root).unwrap();
            // Each process asks for its own output file: a copy of another's
            // is served, never a second computation.
            for k in keys {
                let out = Path::new(&root).join(format!("out-{k}-{turn}"));
                assert_eq!(square_to_file(k, out.clone()), k * k);
                assert_eq!(std::fs::read_to_string(out).unwrap(), k.to_string());
            }
        }
        "gated" => {
            permacache::set_store_dir(&root).unwrap();
            assert_eq!(gated_squares(vec![7]), [49]);
        }
        // One thread computes key 3; another misses 3 and 7, then waits for
        // the first (in this process) while another process stores 7.
        "meanwhile" => {
            permacache::set_store_dir(&root).unwrap();
            let first = std::thread::spawn(|| gated_squares(vec![3]));
            until_missed(1, gated_squares::stats);
            let second = std::thread::spawn(|| gated_squares(vec![3, 7]));
            until_missed(3, gated_squares::stats);
            println!("looked");
            assert_eq!(first.join().unwrap(), [9]);
            assert_eq!(second.join().unwrap(), [9, 49]);
        }
        "hold" => {
            let cache: Cache<u64> = Cache::builder("tests/once/held")
                .root(&root)
                .open()
                .unwrap();
            cache.get_or_compute(&99, || {
                println!("holding");
                std::thread::sleep(Duration::from_secs(60));
                0
            });
        }
        "wait" => {
            let cache: Cache<u64> = Cache::builder("tests/once/held")
                .root(&root)
                .open()
                .unwrap();
            assert_eq!(cache.get_or_compute(&99, || slow(99, "waiter")), 99 * 99);
        }
        // Waits at most 300 ms for the holder, then computes itself and
        // says so once.
        "impatient" => {
            common::logs::capture();
            let cache: Cache<u64> = Cache::builder("tests/once/held")
                .root(&root)
                .lock_wait(Duration::from_millis(300))
                .open()
                .unwrap();
            assert_eq!(cache.get_or_compute(&99, || slow(99, "impatient")), 99 * 99);
            for warning in common::logs::all() {
                println!("warning: {warning}");
            }
        }
        other => panic!("unknown role {other:?}"),
    }
}

fn four_processes(root: &Path, role: &str) -> Vec<String> {
    let children: Vec<_> = (0..4)
        .map(|turn| {
            common::spawn(
                common::child(role)
                    .env("ROOT", root)
                    .env("TURN", turn.to_string()),
            )
        })
        .collect();
    let mut computed = Vec::new();
    for child in children {
        let out = common::finished(child);
        computed.extend(common::lines_with(&out, "computed "));
    }
    computed.sort();
    computed
}

#[test]
fn four_processes_missing_the_same_ten_keys_compute_each_once() {
    for role in ["plain", "batch", "async", "out_files"] {
        let dir = tempfile::tempdir().unwrap();
        let computed = four_processes(dir.path(), role);
        assert_eq!(computed.len(), 10, "{role}: {computed:?}");
        let mut keys: Vec<&str> = computed
            .iter()
            .map(|c| c.split(' ').next().unwrap())
            .collect();
        keys.dedup();
        assert_eq!(keys.len(), 10, "{role}: {computed:?}");
    }
}

#[test]
fn a_batch_takes_what_another_process_stored_while_it_waited_on_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let read_until = |child: &mut std::process::Child, marker: &str| {
        let out = child.stdout.take().unwrap();
        let mut lines = BufReader::new(out);
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap() > 0 && !line.contains(marker) {
            line.clear();
        }
        assert!(line.contains(marker), "the child ended before {marker:?}");
        child.stdout = Some(lines.into_inner());
    };
    // Another process computes 7 and holds its key lock...
    let mut other = common::spawn(common::child("gated").env("ROOT", root).env("TURN", "0"));
    read_until(&mut other, "computing 7");
    // ...while this one misses 3 and 7 and waits for its own thread's 3.
    let mut this = common::spawn(
        common::child("meanwhile")
            .env("ROOT", root)
            .env("TURN", "0"),
    );
    read_until(&mut this, "looked");
    // The other stores 7 and lets go before this one takes 7's lock.
    std::fs::write(root.join("go-7"), "").unwrap();
    common::finished(other);
    std::fs::write(root.join("go-3"), "").unwrap();
    let this = common::finished(this);
    assert_eq!(
        common::lines_with(&this, "computing "),
        Vec::<String>::new(),
        "7 was computed again"
    );
}

/// A child computing key 99 of `tests/once/held` for a minute, once it has
/// begun.
fn holder_of_key_99(root: &Path) -> std::process::Child {
    let mut holder = common::spawn(common::child("hold").env("ROOT", root).env("TURN", "0"));
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        if line.contains("holding") {
            break;
        }
    }
    holder
}

#[test]
fn a_holder_killed_hands_the_key_to_a_waiter_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut holder = holder_of_key_99(dir.path());
    let waiter = common::spawn(
        common::child("wait")
            .env("ROOT", dir.path())
            .env("TURN", "0"),
    );
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signals a child this test started.
    unsafe { libc::kill(holder.id() as i32, libc::SIGKILL) };
    let started = std::time::Instant::now();
    let out = common::finished(waiter);
    assert_eq!(common::lines_with(&out, "computed "), ["99 by waiter"]);
    // Not a timing assertion on speed: the holder would have held it 60 s.
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "the waiter waited out the holder"
    );
    assert!(!holder.wait().unwrap().success());
}

#[test]
fn a_hung_holder_is_waited_for_at_most_lock_wait_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut holder = holder_of_key_99(dir.path());
    let out = common::spawn(
        common::child("impatient")
            .env("ROOT", dir.path())
            .env("TURN", "0"),
    )
    .wait_with_output()
    .unwrap();
    // SAFETY: signals a child this test started.
    unsafe { libc::kill(holder.id() as i32, libc::SIGKILL) };
    let _ = holder.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::lines_with(&out, "computed 99 by "), ["impatient"]);
    let warnings = common::lines_with(&out, "warning: ");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let expected = format!("key 99 has been computed by process {}", holder.id());
    assert!(warnings[0].contains(&expected), "{warnings:?}");
    assert!(warnings[0].contains("lock_wait"), "{warnings:?}");
}
