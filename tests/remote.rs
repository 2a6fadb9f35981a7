//! The shared tier against real `redis-server` processes on loopback: one
//! server and a 3-master cluster, two processes with their own store roots
//! sharing one Redis, a Redis killed or frozen mid-run, a cluster node
//! killed, the compute-once lock, and the CLI's push and pull.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::child as child_cmd;
use common::redis_server::{RedisServer, cluster_address, connect, redis_key, try_cluster};
use common::{ROLE, lines_with, run};
use permacache::{Cache, permacached};

// ---------------------------------------------------------------------------
// Functions the child processes call, shared through PERMACACHE_REMOTE.

static RUNS: AtomicUsize = AtomicUsize::new(0);

permacached! {
    "tests/remote/square" =>
    fn square(x: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x * x
    }
}

permacached! {
    "tests/remote/cubes" =>
    fn cubes(#[parallel] xs: Vec<u64>) -> Vec<u64> {
        RUNS.fetch_add(xs.len(), Ordering::SeqCst);
        xs.iter().map(|x| x * x * x).collect()
    }
}

permacached! {
    "tests/remote/blob" =>
    fn blob(x: u64) -> Vec<u8> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        vec![x as u8; 100 << 10]
    }
}

fn cache_at<R: serde::Serialize + serde::de::DeserializeOwned + 'static>(
    root: &Path,
    ns: &str,
    remote: &str,
) -> Cache<R> {
    Cache::builder(ns).root(root).remote(remote).open().unwrap()
}

/// The roles a child process plays, chosen by `PERMACACHE_TEST_ROLE`; the
/// store root and remote come from `PERMACACHE_DIR` and `PERMACACHE_REMOTE`.
#[test]
#[ignore = "run by other tests as a child process"]
fn child() {
    let role = std::env::var(ROLE).unwrap_or_default();
    let xs: Vec<u64> = std::env::var("XS")
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    match role.as_str() {
        "square" => {
            for &x in &xs {
                assert_eq!(square(x), x * x);
            }
        }
        "blob" => {
            common::logs::capture();
            if std::env::var("FILE_SIZE_LIMIT").is_ok() {
                common::limit_file_size(256 << 10);
            }
            for &x in &xs {
                assert_eq!(blob(x), vec![x as u8; 100 << 10]);
            }
            println!(
                "store warnings: {}",
                common::logs::about("tests/remote/blob").len()
            );
        }
        "cubes" => {
            let got = cubes(xs.clone());
            assert_eq!(got, xs.iter().map(|x| x * x * x).collect::<Vec<_>>());
        }
        "locked" => {
            // Computes slowly, saying so in a file all children share.
            let cache: Cache<u64> = Cache::builder("tests/remote/locked")
                .root(std::env::var("PERMACACHE_DIR").unwrap())
                .remote(std::env::var("PERMACACHE_REMOTE").unwrap())
                .remote_lock(Duration::from_secs(30))
                .open()
                .unwrap();
            let log = std::env::var("COMPUTED_LOG").unwrap();
            for &x in &xs {
                let got = cache.get_or_compute(&x, || {
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&log)
                        .unwrap();
                    writeln!(f, "{x}").unwrap();
                    if std::env::var_os("HOLD_FOREVER").is_some() {
                        println!("holding");
                        loop {
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                    std::thread::sleep(Duration::from_millis(300));
                    x + 1000
                });
                assert_eq!(got, x + 1000);
            }
        }
        other => panic!("unknown role {other:?}"),
    }
    println!("runs: {}", RUNS.load(Ordering::SeqCst));
}

/// Runs a child role against `root` and `remote`; how many computations it
/// ran.
fn run_child(role: &str, root: &Path, remote: &str, xs: &str) -> usize {
    let out = run(child_cmd(role)
        .env("PERMACACHE_DIR", root)
        .env("PERMACACHE_REMOTE", remote)
        .env("XS", xs));
    lines_with(&out, "runs: ")[0].trim().parse().unwrap()
}

fn list(range: std::ops::Range<u64>) -> String {
    range.map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

// ---------------------------------------------------------------------------

#[test]
fn a_second_machine_is_served_what_the_first_computed() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    // Two processes, two store roots, one Redis.
    assert_eq!(
        run_child("square", a.path(), &redis.url(), &list(0..20)),
        20
    );
    assert_eq!(run_child("square", b.path(), &redis.url(), &list(0..20)), 0);
    assert_eq!(run_child("square", b.path(), &redis.url(), &list(0..25)), 5);

    // The remote hits were copied into b's own store: served with the
    // remote off.
    assert_eq!(run_child("square", b.path(), "off", &list(0..25)), 0);
    // And a's store never saw 20..25.
    assert_eq!(run_child("square", a.path(), "off", &list(20..25)), 5);

    // Batch calls too: one round trip for the local misses.
    assert_eq!(run_child("cubes", a.path(), &redis.url(), &list(0..50)), 50);
    assert_eq!(run_child("cubes", b.path(), &redis.url(), &list(0..60)), 10);
    assert_eq!(run_child("cubes", b.path(), "off", &list(0..60)), 0);
}

#[test]
fn a_full_local_disk_is_still_served_by_the_remote() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_eq!(run_child("blob", a.path(), &redis.url(), &list(0..10)), 10);
    let out = run(child_cmd("blob")
        .env("PERMACACHE_DIR", b.path())
        .env("PERMACACHE_REMOTE", redis.url())
        .env("FILE_SIZE_LIMIT", "1")
        .env("XS", list(0..14)));
    // 0..10 served by Redis although few fit on the local disk; 10..14
    // computed; one warning about the local store.
    assert_eq!(lines_with(&out, "runs: "), ["4"]);
    assert_eq!(lines_with(&out, "store warnings: "), ["1"]);
}

#[test]
fn records_are_stored_byte_for_byte_under_the_documented_key() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let cache: Cache<String> = cache_at(root.path(), "tests/remote/bytes", &redis.url());
    cache.get_or_compute(&("a", 1), || "one".to_string());

    let hash = permacache::admin::key_hash(0, b"[\"a\",1]");
    let local = cache.namespace().get_raw(&hash).unwrap().unwrap();
    let remote: Vec<u8> = redis::cmd("GET")
        .arg(redis_key("tests/remote/bytes", "[\"a\",1]"))
        .query(&mut connect(&redis.url()))
        .unwrap();
    // Remote format 4: sealed, unsigned (no PERMACACHE_REMOTE_SECRET); the
    // record's identity whole, then the record byte for byte.
    assert_eq!(remote[..2], [4, 0]);
    let (identity, record) = remote[2..].split_at(permacache::admin::IDENTITY_LEN);
    assert_eq!(record, &local[..]);
    let identity = permacache::admin::Identity::from_bytes(identity.try_into().unwrap()).unwrap();
    let named = permacache::admin::Record::parse(record)
        .unwrap()
        .header
        .identity;
    assert_eq!(identity.fingerprint(), named);
    assert_eq!(
        identity.namespace,
        permacache::admin::name_fingerprint("tests/remote/bytes")
    );
}

#[test]
fn a_remote_record_is_served_only_for_its_own_full_key() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let ns = "tests/remote/collide";
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let writer: Cache<u64> = cache_at(a.path(), ns, &redis.url());
    writer.get_or_compute(&1u64, || 100);
    let mut conn = connect(&redis.url());
    let record: Vec<u8> = redis::cmd("GET")
        .arg(redis_key(ns, "1"))
        .query(&mut conn)
        .unwrap();

    // Key 2's Redis key holds key 1's record (as a hash collision would),
    // key 3's holds bytes that are no record, key 4's a value of another
    // type: each is a miss, computed right.
    let _: () = redis::cmd("SET")
        .arg(redis_key(ns, "2"))
        .arg(&record)
        .query(&mut conn)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(redis_key(ns, "3"))
        .arg(b"\x01garbage".as_slice())
        .query(&mut conn)
        .unwrap();
    let strings: Cache<String> = cache_at(&tempfile::tempdir().unwrap().keep(), ns, &redis.url());
    strings.get_or_compute(&4u64, || "four".into());

    let reader: Cache<u64> = cache_at(b.path(), ns, &redis.url());
    assert_eq!(reader.get_or_compute(&2u64, || 200), 200);
    assert_eq!(reader.get_or_compute(&3u64, || 300), 300);
    assert_eq!(reader.get_or_compute(&4u64, || 400), 400);
    assert_eq!(reader.get_or_compute(&1u64, || unreachable!()), 100);

    // Another namespace version is another Redis key: not served.
    let v2: Cache<u64> = Cache::builder(ns)
        .root(tempfile::tempdir().unwrap().keep())
        .remote(redis.url())
        .version(2)
        .open()
        .unwrap();
    assert_eq!(v2.get(&1u64).unwrap(), None);
}

#[test]
fn calls_stay_right_when_redis_is_killed_mid_run_and_use_it_again_when_it_is_back() {
    common::logs::capture();
    let Some(mut redis) = RedisServer::try_start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<u64>> = cache_at(root.path(), "tests/remote/killed", &redis.url());
    let runs = AtomicUsize::new(0);
    let call = |x: u64| {
        cache.get_or_compute(&x, || {
            runs.fetch_add(1, Ordering::SeqCst);
            vec![x, x * 3]
        })
    };
    for x in 0..50 {
        assert_eq!(call(x), vec![x, x * 3]);
    }
    redis.kill();
    for x in 0..150 {
        assert_eq!(call(x), vec![x, x * 3]);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 150);
    let port = format!("127.0.0.1:{}", redis.port);
    assert_eq!(
        common::logs::about(&port).len(),
        1,
        "one warning: {:?}",
        common::logs::about(&port)
    );

    // Back, empty: after its rest the remote takes writes again.
    redis.restart();
    let mut x = 1000;
    while redis.ask("DBSIZE").trim() == ":0" {
        assert_eq!(call(x), vec![x, x * 3]);
        x += 1;
        assert!(x < 1_000_000, "the remote was never used again");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(common::logs::about(&port).len(), 1);
}

#[test]
fn a_redis_restarted_between_calls_is_used_at_once_without_a_warning() {
    common::logs::capture();
    let Some(mut redis) = RedisServer::try_start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let cache: Cache<u64> = cache_at(root.path(), "tests/remote/restarted", &redis.url());
    assert_eq!(cache.get_or_compute(&1u64, || 1), 1);
    // The pooled connection now leads to a closed socket.
    redis.restart();
    assert_eq!(cache.get_or_compute(&2u64, || 2), 2);
    assert_eq!(redis.ask("DBSIZE").trim(), ":1");
    assert!(common::logs::about(&format!("127.0.0.1:{}", redis.port)).is_empty());
}

#[test]
fn a_frozen_redis_times_out_and_calls_go_on() {
    common::logs::capture();
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let cache: Cache<u64> = Cache::builder("tests/remote/frozen")
        .root(root.path())
        .remote(redis.url())
        .remote_timeout(Duration::from_millis(30))
        .open()
        .unwrap();
    assert_eq!(cache.get_or_compute(&1u64, || 11), 11);
    // Accepts connections, never answers.
    redis.signal("-STOP");
    for x in 2..40u64 {
        assert_eq!(cache.get_or_compute(&x, || x + 10), x + 10);
    }
    assert_eq!(cache.get_or_compute(&1u64, || unreachable!()), 11);
    // Past the first rest, a new connection to the frozen server is tried:
    // its handshake times out too.
    std::thread::sleep(Duration::from_millis(1100));
    for x in 40..60u64 {
        assert_eq!(cache.get_or_compute(&x, || x + 10), x + 10);
    }
    redis.signal("-CONT");
    let about = format!("127.0.0.1:{}", redis.port);
    assert_eq!(common::logs::about(&about).len(), 1);
    assert!(
        common::logs::about(&about)[0].contains("local store alone"),
        "{:?}",
        common::logs::about(&about)
    );
}

#[test]
fn an_unreachable_or_bad_remote_never_fails_a_call() {
    common::logs::capture();
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = tempfile::tempdir().unwrap();
    let url = format!("redis://127.0.0.1:{port}");
    let cache: Cache<u64> = cache_at(root.path(), "tests/remote/nowhere", &url);
    for x in 0..20u64 {
        assert_eq!(cache.get_or_compute(&x, || x * 2), x * 2);
    }
    assert_eq!(cache.get_or_compute(&3u64, || unreachable!()), 6);
    assert_eq!(common::logs::about(&format!("127.0.0.1:{port}")).len(), 1);

    // An address that is not one: warned at open, the cache is local.
    let bad: Cache<u64> = cache_at(root.path(), "tests/remote/bad", "http://example");
    assert_eq!(bad.get_or_compute(&1u64, || 5), 5);
    assert_eq!(bad.get_or_compute(&1u64, || unreachable!()), 5);
    let warned = common::logs::about("http://example");
    assert_eq!(warned.len(), 1);
    assert!(warned[0].contains("expected \"redis://"), "{warned:?}");
}

#[test]
fn one_worker_computes_a_locked_key_while_the_others_wait() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    // Three processes on three roots miss keys 11..=14 at once.
    let log = tempfile::NamedTempFile::new().unwrap();
    let roots: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let handles: Vec<_> = roots
        .iter()
        .map(|root| {
            let mut cmd = child_cmd("locked");
            cmd.env("PERMACACHE_DIR", root.path())
                .env("PERMACACHE_REMOTE", redis.url())
                .env("COMPUTED_LOG", log.path())
                .env("XS", "11,12,13,14");
            std::thread::spawn(move || run(&mut cmd))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let computed = std::fs::read_to_string(log.path()).unwrap();
    let mut lines: Vec<&str> = computed.lines().collect();
    lines.sort();
    assert_eq!(lines, ["11", "12", "13", "14"], "each key computed once");
}

#[test]
fn a_killed_lock_holder_is_taken_over_by_exactly_one_waiter() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let log = tempfile::NamedTempFile::new().unwrap();
    let roots: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let locked = |root: &Path| {
        let mut cmd = child_cmd("locked");
        cmd.env("PERMACACHE_DIR", root)
            .env("PERMACACHE_REMOTE", redis.url())
            .env("COMPUTED_LOG", log.path())
            .env("XS", "21");
        cmd
    };
    let mut holder = common::holding(&mut locked(roots[0].path()));
    let waiters: Vec<_> = roots[1..]
        .iter()
        .map(|root| common::spawn(&mut locked(root.path())))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The lock lapses within its hold (3 s) once nobody renews it; one
    // waiter takes it and computes, the others are served its value (well
    // before their 30 s wait ends).
    for waiter in waiters {
        let out = waiter.wait_with_output().unwrap();
        assert!(out.status.success());
    }
    let computed = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(
        computed.lines().collect::<Vec<_>>(),
        ["21", "21"],
        "the holder's computation and one waiter's"
    );
}

#[test]
fn a_lock_holder_that_fails_hands_the_key_to_a_waiter() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let open = || -> Cache<u64> {
        Cache::builder("tests/remote/handover")
            .root(tempfile::tempdir().unwrap().keep())
            .remote(redis.url())
            .remote_lock(Duration::from_secs(60))
            .open()
            .unwrap()
    };
    let (first, second) = (open(), open());
    let started = Arc::new(Barrier::new(2));
    let holder = {
        let started = started.clone();
        std::thread::spawn(move || {
            first.get_or_compute(&7u64, || {
                started.wait();
                std::thread::sleep(Duration::from_millis(200));
                panic!("the holder fails");
            })
        })
    };
    started.wait();
    // The lock is held: this waits, then takes over when the holder's
    // panic releases it (well before the 60 s lease).
    assert_eq!(second.get_or_compute(&7u64, || 70), 70);
    assert!(holder.join().is_err());
}

#[test]
fn a_cluster_shares_entries_and_survives_a_node_killed() {
    common::logs::capture();
    let Some(mut nodes) = try_cluster(3) else {
        return;
    };
    let spec = cluster_address(&nodes);
    let ns = "tests/remote/cluster";
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let writer: Cache<u64> = cache_at(a.path(), ns, &spec);
    for x in 0..100u64 {
        assert_eq!(writer.get_or_compute(&x, || x + 1), x + 1);
    }
    // Spread over every master.
    for node in &nodes {
        assert_ne!(node.ask("DBSIZE").trim(), ":0", "node {}", node.port);
    }
    let reader: Cache<u64> = cache_at(b.path(), ns, &spec);
    for x in 0..100u64 {
        assert_eq!(
            reader.get_or_compute(&x, || unreachable!("{x} is shared")),
            x + 1
        );
    }

    nodes[2].kill();
    let third: Cache<u64> = cache_at(c.path(), ns, &spec);
    for x in 0..200u64 {
        assert_eq!(third.get_or_compute(&x, || x + 1), x + 1);
    }
    assert!(!common::logs::about(&format!("{}", nodes[0].port)).is_empty());
}

// ---------------------------------------------------------------------------
// The CLI.

fn cli(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_permacache"))
        .arg("--dir")
        .arg(root)
        .args(args)
        .env_remove("PERMACACHE_REMOTE")
        .output()
        .unwrap()
}

#[test]
fn push_and_pull_copy_a_namespace_through_redis() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let ns = "tests/remote/cli";
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let local: Cache<u64> = Cache::builder(ns).root(a.path()).open().unwrap();
    for x in 0..300u64 {
        local.insert(&x, &(x * 7)).unwrap();
    }
    let out = cli(a.path(), &["push", ns, "--remote", &redis.url()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pushed 300 entries"));
    assert_eq!(redis.ask("DBSIZE").trim(), ":300");

    // b has one entry of its own, newer than the remote's: kept.
    let theirs: Cache<u64> = Cache::builder(ns).root(b.path()).open().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    theirs.insert(&5u64, &555).unwrap();
    let out = cli(b.path(), &["--json", "pull", ns, "--remote", &redis.url()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pulled"], 299);
    assert_eq!(report["up_to_date"], 1);
    for x in 0..300u64 {
        let want = if x == 5 { 555 } else { x * 7 };
        assert_eq!(theirs.get(&x).unwrap(), Some(want), "{x}");
    }

    // A value under the namespace's prefix that is not its record: skipped,
    // counted, exit 1; nothing else changes.
    let _: () = redis::cmd("SET")
        .arg(redis_key(ns, "999"))
        .arg(b"junk".as_slice())
        .query(&mut connect(&redis.url()))
        .unwrap();
    let c = tempfile::tempdir().unwrap();
    let out = cli(c.path(), &["pull", ns, "--remote", &redis.url()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("pulled 300") && text.contains("skipped 1 invalid"),
        "{text}"
    );

    // No remote named: a clear error.
    let out = cli(a.path(), &["push", ns]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--remote"));
}

#[test]
fn pull_reads_every_node_of_a_cluster() {
    let Some(mut nodes) = try_cluster(3) else {
        return;
    };
    let spec = cluster_address(&nodes);
    let ns = "tests/remote/cli-cluster";
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let local: Cache<u64> = Cache::builder(ns).root(a.path()).open().unwrap();
    for x in 0..200u64 {
        local.insert(&x, &x).unwrap();
    }
    let out = cli(a.path(), &["push", ns, "--remote", &spec]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(b.path(), &["pull", ns, "--remote", &spec]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pulled 200 entries"));

    // One master down, the others serving their keys (partial coverage
    // allowed): pull takes what it can, names the master it skipped, and
    // exits 1.
    for node in &nodes {
        node.ask("CONFIG SET cluster-require-full-coverage no");
    }
    nodes[2].kill();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !nodes[0].ask("CLUSTER INFO").contains("cluster_state:ok")
        || !String::from_utf8_lossy(
            &Command::new("redis-cli")
                .args(["-u", &nodes[0].url(), "CLUSTER", "NODES"])
                .output()
                .unwrap()
                .stdout,
        )
        .contains("fail")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the cluster did not mark the node failed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let c = tempfile::tempdir().unwrap();
    let out = cli(c.path(), &["pull", ns, "--remote", &spec]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("skipped cluster master"), "{text}");
    let pulled: usize = text
        .split("pulled ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(pulled > 0 && pulled < 200, "{text}");
}

// ---------------------------------------------------------------------------
// permacache.toml: `remote` reaches the functions of a crate.

const FIXTURE_MAIN: &str = r#"use permacache::permacached;

permacached! {
    "fx/shared" =>
    fn shared(x: u64) -> u64 { println!("computed shared"); x + 1 }
}

permacached! {
    "fx/local" =>
    fn local(x: u64) -> u64 { println!("computed local"); x + 2 }
}

fn main() {
    assert_eq!(shared(1), 2);
    assert_eq!(local(1), 3);
}
"#;

#[test]
fn a_remote_in_permacache_toml_reaches_the_functions_of_the_crate() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let toml = format!(
        "[store]\nremote = \"{}\"\nremote_timeout = \"200ms\"\n\n[namespace.\"fx/shared\"]\n\n[namespace.\"fx/local\"]\nremote = \"off\"\n",
        redis.url()
    );
    let f = common::fixture::Fixture::with_features("fx_remote", &toml, FIXTURE_MAIN, &["redis"]);
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let run = |root: &Path, remote: Option<&str>| -> Vec<String> {
        let root = root.to_str().unwrap();
        let mut env = vec![("PERMACACHE_DIR", root)];
        env.extend(remote.map(|r| ("PERMACACHE_REMOTE", r)));
        f.run_with(&env)
            .lines()
            .filter_map(|l| l.strip_prefix("computed ").map(str::to_string))
            .collect()
    };
    assert_eq!(run(a.path(), None), ["shared", "local"]);
    // Another machine: the shared namespace is served by Redis, the
    // local-only one is computed.
    assert_eq!(run(b.path(), None), ["local"]);
    // PERMACACHE_REMOTE=off turns the remote off at run time.
    assert_eq!(run(c.path(), Some("off")), ["shared", "local"]);
}

#[test]
fn a_100_mb_value_is_shared_with_the_default_timeout() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let big = |x: u64| -> Vec<u8> {
        (0..100usize << 20)
            .map(|i| (i / 1000) as u8 ^ x as u8)
            .collect()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let writer: Cache<Vec<u8>> = cache_at(a.path(), "tests/remote/hundred_mb", &redis.url());
    assert!(writer.get_or_compute(&1u64, || big(1)) == big(1));
    let reader: Cache<Vec<u8>> = cache_at(b.path(), "tests/remote/hundred_mb", &redis.url());
    let got = reader.get_or_compute(&1u64, || panic!("computed again: not served by Redis"));
    assert!(got == big(1));
}

#[test]
fn pull_reaches_every_master_of_a_password_protected_cluster() {
    if !common::redis_server::available() {
        return;
    }
    let nodes = common::redis_server::start_cluster_with(3, Some("s3cret,pw"));
    let spec = nodes
        .iter()
        .map(|n| format!("redis://:s3cret,pw@127.0.0.1:{}", n.port))
        .collect::<Vec<_>>()
        .join(",");
    let ns = "tests/remote/cli-cluster-password";
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let local: Cache<u64> = Cache::builder(ns).root(a.path()).open().unwrap();
    for x in 0..200u64 {
        local.insert(&x, &x).unwrap();
    }
    let out = cli(a.path(), &["push", ns, "--remote", &spec]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(b.path(), &["pull", ns, "--remote", &spec]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("pulled 200 entries"), "{text}");
    assert!(!text.contains("s3cret") && !String::from_utf8_lossy(&out.stderr).contains("s3cret"));
}
