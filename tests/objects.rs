//! The object-store tier against a real S3 API server (`moto_server`) on
//! loopback: "machines" are child processes with their own store roots,
//! sharing one bucket alone or beside Redis; values of 8 MB and 200 MB; a
//! poisoned object, another team secret, write-once objects; the server
//! killed, frozen, trickling; a missing bucket; bad credentials (moto
//! checking signatures); the CLI's push, pull and
//! listing.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::s3_server::S3Server;
use common::{ROLE, lines_with, run};
use permacache::{Cache, permacached};

const NS: &str = "tests/objects/values";

static CUBED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

permacached! {
    "tests/objects/cubes" =>
    fn cubes(#[parallel] xs: Vec<u64>) -> Vec<u64> {
        CUBED.fetch_add(xs.len(), std::sync::atomic::Ordering::SeqCst);
        xs.iter().map(|x| x * x * x).collect()
    }
}

/// The value of `x` at `size` bytes: every byte depends on `x` and its
/// place, so a value served for the wrong key or cut short shows.
fn value(x: u64, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (x as usize).wrapping_mul(31).wrapping_add(i / 4096) as u8)
        .collect()
}

/// The roles a child plays: `values` computes `value(x, SIZE)` for each x
/// of `XS` through a cache on `PERMACACHE_DIR` (objects and Redis from the
/// environment), and prints its computations and warnings.
#[test]
#[ignore = "run by other tests as a child process"]
fn child() {
    common::logs::capture();
    match std::env::var(ROLE).unwrap().as_str() {
        "values" => {}
        "locked" => return locked(),
        "cubes" => {
            let xs: Vec<u64> = (0..100).collect();
            assert_eq!(
                cubes(xs.clone()),
                xs.iter().map(|x| x * x * x).collect::<Vec<_>>()
            );
            for warning in common::logs::all() {
                println!("warning: {warning}");
            }
            println!("runs: {}", CUBED.load(std::sync::atomic::Ordering::SeqCst));
            return;
        }
        other => panic!("unknown role {other:?}"),
    }
    let size: usize = std::env::var("SIZE").unwrap().parse().unwrap();
    let xs: Vec<u64> = std::env::var("XS")
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    let cache: Cache<Vec<u8>> = Cache::builder(NS)
        .root(std::env::var("PERMACACHE_DIR").unwrap())
        .open()
        .unwrap();
    let mode = match std::env::var("MODE").as_deref() {
        Ok("refresh") => permacache::Mode::Refresh,
        _ => permacache::Mode::Normal,
    };
    let mut runs = 0;
    for &x in &xs {
        let got = permacache::with_mode(mode, || {
            cache.get_or_compute(&x, || {
                runs += 1;
                value(x, size)
            })
        });
        assert!(got == value(x, size), "a wrong value for {x}");
    }
    for warning in common::logs::all() {
        println!("warning: {warning}");
    }
    println!("runs: {runs}");
}

/// Computes key 1 slowly under a cross-machine lock, logging each
/// computation to `COMPUTED_LOG`; with `HOLD_FOREVER`, says "holding" and
/// never ends its computation.
fn locked() {
    let cache: Cache<u64> = Cache::builder("tests/objects/locked")
        .root(std::env::var("PERMACACHE_DIR").unwrap())
        .remote_lock(Duration::from_secs(60))
        .open()
        .unwrap();
    let got = cache.get_or_compute(&1u64, || {
        use std::io::Write;
        let log = std::env::var("COMPUTED_LOG").unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log)
            .unwrap();
        writeln!(f, "{}", std::process::id()).unwrap();
        if std::env::var_os("HOLD_FOREVER").is_some() {
            println!("holding");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        1001
    });
    assert_eq!(got, 1001);
    for warning in common::logs::all() {
        println!("warning: {warning}");
    }
}

/// One machine: a child on its own store root.
fn machine(root: &Path, env: &[(&str, String)], xs: &str, size: usize) -> Command {
    let mut cmd = common::child("values");
    cmd.env("PERMACACHE_DIR", root)
        .env("XS", xs)
        .env("SIZE", size.to_string())
        .env_remove("PERMACACHE_REMOTE")
        .env_remove("PERMACACHE_OBJECTS")
        .env_remove("PERMACACHE_REMOTE_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The computations and warnings of a finished machine.
fn outcome(out: &Output) -> (usize, Vec<String>) {
    let runs = lines_with(out, "runs: ")[0].trim().parse().unwrap();
    (runs, lines_with(out, "warning: "))
}

/// Runs a machine to its end.
fn on_machine(root: &Path, env: &[(&str, String)], xs: &str, size: usize) -> (usize, Vec<String>) {
    outcome(&run(&mut machine(root, env, xs, size)))
}

/// A server with a bucket, and the environment that reaches it.
fn bucket(name: &str) -> Option<(S3Server, Vec<(&'static str, String)>)> {
    let server = S3Server::try_start()?;
    server.create_bucket(name);
    let mut env = server.env();
    env.push(("PERMACACHE_OBJECTS", format!("s3://{name}/team")));
    // moto on a loaded 2-core machine (every test starts one) can leave a
    // request without a byte for over the default second: a stall warning
    // would fail tests that want none. The stall tests set their own.
    env.push(("PERMACACHE_REMOTE_TIMEOUT", "10s".into()));
    Some((server, env))
}

/// `env` with the remote timeout set to `timeout`.
fn with_timeout(env: &[(&'static str, String)], timeout: &str) -> Vec<(&'static str, String)> {
    let mut env = env.to_vec();
    env.retain(|(k, _)| *k != "PERMACACHE_REMOTE_TIMEOUT");
    env.push(("PERMACACHE_REMOTE_TIMEOUT", timeout.into()));
    env
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn two_machines_share_through_the_object_store_alone() {
    let Some((server, env)) = bucket("shared-alone") else {
        return;
    };
    let (a, b) = (dir(), dir());
    assert_eq!(on_machine(a.path(), &env, "1,2,3,4,5", 1000), (5, vec![]));
    let objects = server.list("shared-alone");
    assert_eq!(objects.len(), 5, "{objects:?}");
    assert!(
        objects
            .iter()
            .all(|o| o.starts_with("team/permacache/tests/objects/values/0-")),
        "{objects:?}"
    );
    // The second machine computes nothing, and keeps what it was served:
    // a third run of it is served locally with the object store gone.
    assert_eq!(on_machine(b.path(), &env, "1,2,3,4,5", 1000), (0, vec![]));
    drop(server);
    let mut offline = env.clone();
    offline.retain(|(k, _)| *k != "PERMACACHE_OBJECTS");
    assert_eq!(
        on_machine(b.path(), &offline, "1,2,3,4,5", 1000),
        (0, vec![])
    );
}

#[test]
fn with_redis_small_records_go_to_redis_and_big_ones_to_the_bucket() {
    let Some((server, mut env)) = bucket("beside-redis") else {
        return;
    };
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    env.push(("PERMACACHE_REMOTE", redis.url()));
    let (a, b) = (dir(), dir());
    assert_eq!(on_machine(a.path(), &env, "1,2,3", 200), (3, vec![]));
    assert_eq!(on_machine(a.path(), &env, "10,11", 2 << 20), (2, vec![]));
    assert_eq!(redis.ask("DBSIZE").trim(), ":3");
    assert_eq!(server.list("beside-redis").len(), 2);
    assert_eq!(on_machine(b.path(), &env, "1,2,3", 200), (0, vec![]));
    assert_eq!(on_machine(b.path(), &env, "10,11", 2 << 20), (0, vec![]));
    // A small record found only in the bucket (written by a machine without
    // Redis) is kept in Redis once read.
    let mut alone = env.clone();
    alone.retain(|(k, _)| *k != "PERMACACHE_REMOTE");
    assert_eq!(on_machine(dir().path(), &alone, "7", 200), (1, vec![]));
    assert_eq!(redis.ask("DBSIZE").trim(), ":3");
    assert_eq!(on_machine(dir().path(), &env, "7", 200), (0, vec![]));
    assert_eq!(redis.ask("DBSIZE").trim(), ":4");
}

#[test]
fn values_of_8_mb_and_200_mb_are_shared() {
    let Some((_server, env)) = bucket("big-values") else {
        return;
    };
    let (a, b) = (dir(), dir());
    assert_eq!(on_machine(a.path(), &env, "1", 8 << 20), (1, vec![]));
    assert_eq!(on_machine(b.path(), &env, "1", 8 << 20), (0, vec![]));
    assert_eq!(on_machine(a.path(), &env, "2", 200 << 20), (1, vec![]));
    assert_eq!(on_machine(b.path(), &env, "2", 200 << 20), (0, vec![]));
}

#[test]
fn a_poisoned_object_is_a_miss_never_a_value() {
    let Some((server, env)) = bucket("poisoned") else {
        return;
    };
    assert_eq!(on_machine(dir().path(), &env, "1,2,3", 5000), (3, vec![]));
    let mut names = server.list("poisoned");
    names.sort();
    // A changed byte, a truncated object, and another record's bytes.
    let first = server.get("poisoned", &names[0]).unwrap();
    let mut changed = first.clone();
    let at = changed.len() - 40;
    changed[at] ^= 1;
    server.put("poisoned", &names[0], &changed);
    let second = server.get("poisoned", &names[1]).unwrap();
    server.put("poisoned", &names[1], &second[..second.len() / 2]);
    server.put("poisoned", &names[2], &first);
    let (runs, warnings) = on_machine(dir().path(), &env, "1,2,3", 5000);
    assert_eq!(runs, 3);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("damaged"), "{warnings:?}");
    // The machine that recomputed replaced the bad objects: the next one is
    // served.
    assert_eq!(on_machine(dir().path(), &env, "1,2,3", 5000), (0, vec![]));
}

#[test]
fn refresh_mode_replaces_the_object() {
    let Some((server, env)) = bucket("refreshed") else {
        return;
    };
    assert_eq!(on_machine(dir().path(), &env, "1", 300), (1, vec![]));
    let name = server.list("refreshed").pop().unwrap();
    let before = server.get("refreshed", &name).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let mut cmd = machine(dir().path(), &env, "1", 300);
    cmd.env("MODE", "refresh");
    assert_eq!(outcome(&run(&mut cmd)), (1, vec![]));
    let after = server.get("refreshed", &name).unwrap();
    assert_ne!(
        before, after,
        "the refreshed record (a newer write time) replaced it"
    );
    assert_eq!(on_machine(dir().path(), &env, "1", 300), (0, vec![]));
}

#[test]
fn another_secret_is_not_served_and_cannot_replace_an_object() {
    let Some((server, env)) = bucket("secrets") else {
        return;
    };
    let with = |secret: &str| {
        let mut env = env.clone();
        env.push(("PERMACACHE_REMOTE_SECRET", secret.to_string()));
        env
    };
    assert_eq!(
        on_machine(dir().path(), &with("team"), "1,2", 300),
        (2, vec![])
    );
    let before: Vec<Vec<u8>> = server
        .list("secrets")
        .iter()
        .map(|n| server.get("secrets", n).unwrap())
        .collect();
    let (runs, warnings) = on_machine(dir().path(), &with("other"), "1,2", 300);
    assert_eq!(runs, 2);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    // Its own records were refused by the write-once puts: the team's stay.
    let after: Vec<Vec<u8>> = server
        .list("secrets")
        .iter()
        .map(|n| server.get("secrets", n).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        on_machine(dir().path(), &with("team"), "1,2", 300),
        (0, vec![])
    );
}

#[test]
fn a_killed_server_costs_one_warning_and_the_calls_go_on() {
    let Some((mut server, env)) = bucket("killed") else {
        return;
    };
    server.kill();
    let (runs, warnings) = on_machine(dir().path(), &env, "1,2,3,4,5,6,7,8", 100);
    assert_eq!(runs, 8);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("local store alone"), "{warnings:?}");
}

/// Waits for a machine, failing the test if it is still running after a
/// minute (not a speed measurement: a bound on a hang).
fn finish_within_a_minute(mut cmd: Command) -> (usize, Vec<String>) {
    let mut child = common::spawn(&mut cmd);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the calls still wait on the object store after a minute"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = common::finished(child);
    outcome(&out)
}

#[test]
fn a_frozen_server_costs_one_warning_and_the_calls_go_on() {
    let Some((server, env)) = bucket("frozen") else {
        return;
    };
    let env = with_timeout(&env, "1s");
    server.signal("-STOP");
    let (runs, warnings) = finish_within_a_minute(machine(dir().path(), &env, "1,2,3,4,5", 100));
    server.signal("-CONT");
    assert_eq!(runs, 5);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("stalled"), "{warnings:?}");
}

#[test]
fn a_trickling_server_costs_one_warning_and_the_calls_go_on() {
    let Some((server, env)) = bucket("trickle") else {
        return;
    };
    // The values are in the bucket; the reader reaches it through a relay
    // where one 100 kB reply would take almost an hour.
    assert_eq!(
        on_machine(dir().path(), &env, "1,2,3", 100_000),
        (3, vec![])
    );
    let mut slow = with_timeout(&env, "1s");
    slow.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    slow.push((
        "AWS_ENDPOINT_URL",
        format!("http://127.0.0.1:{}", common::relay::trickling(server.port)),
    ));
    let (runs, warnings) = finish_within_a_minute(machine(dir().path(), &slow, "1,2,3", 100_000));
    assert_eq!(runs, 3);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("stalled"), "{warnings:?}");
}

#[test]
fn a_missing_bucket_is_named_once_and_the_calls_go_on() {
    let Some((_server, mut env)) = bucket("present") else {
        return;
    };
    env.retain(|(k, _)| *k != "PERMACACHE_OBJECTS");
    env.push(("PERMACACHE_OBJECTS", "s3://no-such-bucket".into()));
    let (runs, warnings) = on_machine(dir().path(), &env, "1,2,3", 100);
    assert_eq!(runs, 3);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("bucket does not exist"),
        "{warnings:?}"
    );
}

#[test]
fn bad_credentials_are_named_once_and_the_calls_go_on() {
    // moto with its IAM authentication on: signatures are checked.
    let Some((server, key, secret)) = S3Server::try_start_with_credentials("guarded") else {
        return;
    };
    let env = |key: &str, secret: &str| {
        let mut env = server.env();
        env.retain(|(k, _)| *k != "AWS_ACCESS_KEY_ID" && *k != "AWS_SECRET_ACCESS_KEY");
        env.push(("AWS_ACCESS_KEY_ID", key.to_string()));
        env.push(("AWS_SECRET_ACCESS_KEY", secret.to_string()));
        env.push(("PERMACACHE_OBJECTS", "s3://guarded/team".into()));
        env.push(("PERMACACHE_REMOTE_TIMEOUT", "10s".into()));
        env
    };
    // The team's credentials: requests signed with them are accepted, and
    // a second machine is served.
    let good = env(&key, &secret);
    assert_eq!(on_machine(dir().path(), &good, "1,2", 100), (2, vec![]));
    assert_eq!(on_machine(dir().path(), &good, "1,2", 100), (0, vec![]));
    // A wrong secret, then an unknown key: one warning naming the refusal
    // and what to check; every call computes its right value.
    for (key, secret, code) in [
        (key.as_str(), "not-the-secret", "SignatureDoesNotMatch"),
        (
            "AKIANOSUCHKEY0000000",
            secret.as_str(),
            "InvalidAccessKeyId",
        ),
    ] {
        let (runs, warnings) = on_machine(dir().path(), &env(key, secret), "1,2,3", 100);
        assert_eq!(runs, 3);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains(code) && warnings[0].contains("AWS_SECRET_ACCESS_KEY"),
            "{warnings:?}"
        );
    }
    // The refused machines stored nothing: key 3 is computed again.
    assert_eq!(on_machine(dir().path(), &good, "1,2,3", 100), (1, vec![]));
    // Listings are not checked here: moto's checker reads a query's `%2F`
    // as `/` and refuses even boto3's own signature of a prefix holding a
    // slash (tried with boto3 against moto 5.2). `sign.rs`'s unit test checks
    // such a query against botocore's signer instead.
}

#[test]
fn a_bad_address_or_plain_http_without_leave_is_named_once() {
    let Some((_server, mut env)) = bucket("addresses") else {
        return;
    };
    env.retain(|(k, _)| *k != "AWS_ALLOW_HTTP");
    let (runs, warnings) = on_machine(dir().path(), &env, "1,2", 100);
    assert_eq!(runs, 2);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("AWS_ALLOW_HTTP=true"), "{warnings:?}");
    env.retain(|(k, _)| *k != "PERMACACHE_OBJECTS");
    env.push(("PERMACACHE_OBJECTS", "s3://Bad_Bucket".into()));
    let (runs, warnings) = on_machine(dir().path(), &env, "1,2", 100);
    assert_eq!(runs, 2);
    assert!(warnings[0].contains("is not a bucket name"), "{warnings:?}");
}

fn cli(root: &Path, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_permacache"));
    cmd.arg("--dir")
        .arg(root)
        .args(args)
        .env_remove("PERMACACHE_REMOTE")
        .env_remove("PERMACACHE_OBJECTS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn push_pull_and_list_move_a_namespace_through_the_bucket() {
    let Some((server, env)) = bucket("cli-moves") else {
        return;
    };
    let (a, b) = (dir(), dir());
    let mut local_only = env.clone();
    local_only.retain(|(k, _)| *k != "PERMACACHE_OBJECTS");
    assert_eq!(
        on_machine(a.path(), &local_only, "1,2,3,4", 3000),
        (4, vec![])
    );
    assert!(server.list("cli-moves").is_empty());
    let out = cli(a.path(), &env, &["push", NS]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pushed 4 entries"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(server.list("cli-moves").len(), 4);

    let out = cli(b.path(), &env, &["--json", "remote", NS]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["tiers"][0]["records"].as_array().unwrap().len(), 4);

    let out = cli(b.path(), &env, &["--json", "pull", NS]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pulled"], 4);
    // Pulled: served locally with no remote at all.
    assert_eq!(
        on_machine(b.path(), &local_only, "1,2,3,4", 3000),
        (0, vec![])
    );

    // An object under the namespace that is not its record: skipped,
    // counted, exit 1.
    let junk = format!("team/permacache/{NS}/0-0000000000000000/{:032x}", 7);
    server.put("cli-moves", &junk, b"junk");
    let out = cli(dir().path(), &env, &["pull", NS]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("pulled 4") && text.contains("skipped 1 invalid"),
        "{text}"
    );

    // Forget reaches the bucket too: another machine computes the key again.
    let out = cli(b.path(), &env, &["forget", NS, "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("here and in s3://cli-moves/team/"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(server.list("cli-moves").len(), 4, "3 records and the junk");
    assert_eq!(on_machine(dir().path(), &env, "1,2,3", 3000), (1, vec![]));

    // No tier named: a clear error.
    let out = cli(a.path(), &local_only, &["push", NS]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--objects"));
}

/// Children of `role` "locked" on these roots, logging to `log`.
fn locked_on(root: &Path, env: &[(&str, String)], log: &Path) -> Command {
    let mut cmd = common::child("locked");
    cmd.env("PERMACACHE_DIR", root)
        .env("COMPUTED_LOG", log)
        .env_remove("PERMACACHE_REMOTE")
        .env_remove("PERMACACHE_REMOTE_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn computations(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn four_processes_on_two_machines_compute_one_key_once() {
    let Some((_server, env)) = bucket("lease-once") else {
        return;
    };
    for round in 0..3 {
        let (a, b, logs) = (dir(), dir(), dir());
        let log = logs.path().join("computed");
        let mut env = env.clone();
        env.retain(|(k, _)| *k != "PERMACACHE_OBJECTS");
        env.push((
            "PERMACACHE_OBJECTS",
            format!("s3://lease-once/round{round}"),
        ));
        let children: Vec<_> = [a.path(), a.path(), b.path(), b.path()]
            .iter()
            .map(|root| common::spawn(&mut locked_on(root, &env, &log)))
            .collect();
        for child in children {
            let out = common::finished(child);
            assert!(
                lines_with(&out, "warning: ").is_empty(),
                "{:?}",
                lines_with(&out, "warning: ")
            );
        }
        assert_eq!(computations(&log), 1, "round {round}");
    }
}

#[test]
fn a_dead_lease_holder_is_taken_over_by_exactly_one_waiter() {
    let Some((_server, env)) = bucket("lease-dead") else {
        return;
    };
    let log_dir = dir();
    let log = log_dir.path().join("computed");
    let roots: Vec<_> = (0..4).map(|_| dir()).collect();
    let mut holder = common::holding(&mut locked_on(roots[0].path(), &env, &log));
    let waiters: Vec<_> = roots[1..]
        .iter()
        .map(|root| common::spawn(&mut locked_on(root.path(), &env, &log)))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The lease lapses within its 10 s; one waiter computes, the others are
    // served its value (well before their 60 s wait ends).
    for waiter in waiters {
        common::finished(waiter);
    }
    assert_eq!(computations(&log), 2, "the holder's and one waiter's");
}

#[test]
fn a_batch_call_is_served_its_misses_by_the_bucket() {
    let Some((_server, env)) = bucket("batches") else {
        return;
    };
    let batch = |root: &Path| {
        let mut cmd = common::child("cubes");
        cmd.env("PERMACACHE_DIR", root)
            .env_remove("PERMACACHE_REMOTE");
        for (k, v) in &env {
            cmd.env(k, v);
        }
        outcome(&run(&mut cmd))
    };
    assert_eq!(batch(dir().path()), (100, vec![]));
    assert_eq!(batch(dir().path()), (0, vec![]));
}
