//! The shared tier, attacked: records planted in Redis by a writer without
//! the team secret (never served, never copied into a local store), lock
//! holders killed or refused, pulls across versions, passwords in every
//! message, wrong-type keys, oversized values and timeouts. Real
//! `redis-server` processes on loopback; real child processes, each with its
//! own `PERMACACHE_REMOTE_SECRET`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::redis_server::{RedisServer, connect, redis_key};
use common::{ROLE, lines_with, run};
use permacache::remote::key_prefix;
use permacache::remote::seal::{Secret, seal};
use permacache::{Cache, Miss, permacached};

permacached! {
    "tests/remote/async" =>
    async fn later(x: u64) -> u64 {
        x + 1
    }
}

// ---------------------------------------------------------------------------
// Helpers.

fn get(url: &str, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(&mut connect(url)).unwrap()
}

fn set(url: &str, key: &str, value: &[u8]) {
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query(&mut connect(url))
        .unwrap();
}

/// A record with its one-byte value replaced, its checksum sealed again: a
/// well-formed record that lies.
/// A portable record (identity, then record) whose value's last byte is
/// `value`, its record's checksum made to hold again.
fn forged(portable: &[u8], value: u8) -> Vec<u8> {
    let (identity, record) = portable.split_at(permacache::admin::IDENTITY_LEN);
    let mut body = record[..record.len() - 8].to_vec();
    let last = body.len() - 1;
    body[last] = value;
    let sum = xxhash_rust::xxh3::xxh3_64(&body);
    body.extend_from_slice(&sum.to_le_bytes());
    [identity, &body].concat()
}

fn role(role: &str, root: &Path, url: &str, secret: Option<&str>) -> Command {
    let mut cmd = common::child(role);
    cmd.env("ROOT", root).env("URL", url);
    match secret {
        Some(s) => cmd.env("PERMACACHE_REMOTE_SECRET", s),
        None => cmd.env_remove("PERMACACHE_REMOTE_SECRET"),
    };
    cmd
}

const NS: &str = "trust/remote/signed";

fn value_of(x: u64) -> u64 {
    x * x + 1
}

#[test]
#[ignore = "run by other tests as a child process"]
fn child() {
    let role = std::env::var(ROLE).unwrap();
    let root = std::env::var("ROOT").unwrap();
    let url = std::env::var("URL").unwrap();
    match role.as_str() {
        "signed" => {
            let cache: Cache<u64> = Cache::builder(NS).root(&root).remote(&url).open().unwrap();
            for x in 0..6u64 {
                let got = cache.get_or_compute(&x, || {
                    println!("computed {x}");
                    value_of(x)
                });
                assert_eq!(got, value_of(x), "key {x}: a wrong value served");
            }
            println!(
                "unsigned misses: {}",
                cache.stats().misses_of(Miss::Unsigned)
            );
        }
        "hold" | "wait" => {
            let cache: Cache<u64> = Cache::builder("trust/remote/lock")
                .root(&root)
                .remote(&url)
                .remote_lock(Duration::from_secs(600))
                .open()
                .unwrap();
            let got = cache.get_or_compute(&99u64, || {
                println!("computed by {role}");
                if role == "hold" {
                    println!("holding");
                    std::thread::sleep(Duration::from_secs(600));
                }
                std::thread::sleep(Duration::from_millis(300));
                4242
            });
            assert_eq!(got, 4242);
        }
        "big" => {
            common::logs::capture();
            let cache: Cache<Vec<u8>> = Cache::builder("trust/remote/big")
                .root(&root)
                .remote(&url)
                .remote_lock(Duration::from_secs(600))
                .open()
                .unwrap();
            let big = cache.get_or_compute(&1u64, || {
                println!("computed big");
                std::thread::sleep(Duration::from_millis(500));
                vec![7u8; 2 << 20]
            });
            assert_eq!(big.len(), 2 << 20);
            // The remote did not rest: a small value after it is shared.
            cache.get_or_compute(&2u64, || vec![1, 2, 3]);
            for line in common::logs::all() {
                println!("warning: {line}");
            }
        }
        "trickle" => {
            let cache: Cache<Vec<u8>> = Cache::builder("trust/remote/trickle")
                .root(&root)
                .remote(&url)
                .remote_timeout(Duration::from_millis(100))
                .open()
                .unwrap();
            for x in 0..3u64 {
                let got = cache.get_or_compute(&x, || {
                    println!("computed {x}");
                    vec![x as u8; 10_000]
                });
                assert_eq!(got, vec![x as u8; 10_000]);
            }
        }
        "async" => {
            // One thread runs the cached call and a counter side by side:
            // while the call waits on the frozen remote, the counter runs.
            permacache::set_store_dir(&root).unwrap();
            let spins = std::cell::Cell::new(0u64);
            let done = std::cell::Cell::new(false);
            let call = async {
                let v = later(1).await;
                done.set(true);
                v
            };
            let spinner = std::future::poll_fn(|cx| {
                if done.get() {
                    return std::task::Poll::Ready(());
                }
                spins.set(spins.get() + 1);
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            });
            let (v, ()) = common::block_on(join(call, spinner));
            assert_eq!(v, 2);
            println!("spins: {}", spins.get());
        }
        other => panic!("unknown role {other:?}"),
    }
}

/// Polls two futures on one thread until both are done.
async fn join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(move |cx| {
        if ra.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

// ---------------------------------------------------------------------------

#[test]
fn records_planted_without_the_secret_are_never_served_nor_kept() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let url = redis.url();
    let writer = tempfile::tempdir().unwrap();
    let out = run(&mut role("signed", writer.path(), &url, Some("team")));
    assert_eq!(lines_with(&out, "computed ").len(), 6);

    // Signed with the team's secret: the layout of remote format 4.
    let k = |x: u64| redis_key(NS, &x.to_string());
    let sealed = get(&url, &k(0)).unwrap();
    assert_eq!(sealed[..2], [4, 1]);
    let record = |x: u64| {
        let v = get(&url, &k(x)).unwrap();
        v[2..v.len() - 32].to_vec()
    };
    // Three plants, each a well-formed record with a checksum that holds:
    // a changed value under the old MAC, an unsigned value, and a value
    // signed with another secret.
    let mut changed = get(&url, &k(0)).unwrap();
    let lie = forged(&record(0), 77);
    changed.splice(2..changed.len() - 32, lie);
    set(&url, &k(0), &changed);
    set(&url, &k(1), &seal(&k(1), &[&forged(&record(1), 78)], None));
    let other = Secret::new(b"not the team");
    set(
        &url,
        &k(2),
        &seal(&k(2), &[&forged(&record(2), 79)], Some(&other)),
    );

    // A machine with the secret: computes the three, serves the rest.
    let reader = tempfile::tempdir().unwrap();
    let out = run(&mut role("signed", reader.path(), &url, Some("team")));
    let mut computed = lines_with(&out, "computed ");
    computed.sort();
    assert_eq!(computed, ["0", "1", "2"]);
    assert_eq!(lines_with(&out, "unsigned misses: "), ["3"]);
    // Nothing planted reached its local store.
    let local: Cache<u64> = Cache::builder(NS)
        .root(reader.path())
        .local_only()
        .open()
        .unwrap();
    for x in 0..6u64 {
        assert_eq!(local.get(&x).unwrap(), Some(value_of(x)), "key {x}");
    }

    // Another team's secret: nothing of this team's is served.
    let stranger = tempfile::tempdir().unwrap();
    let out = run(&mut role(
        "signed",
        stranger.path(),
        &url,
        Some("other team"),
    ));
    assert_eq!(lines_with(&out, "computed ").len(), 6);
}

#[test]
fn a_machine_without_a_secret_serves_intact_signed_records() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let url = redis.url();
    let writer = tempfile::tempdir().unwrap();
    run(&mut role("signed", writer.path(), &url, Some("team")));
    let reader = tempfile::tempdir().unwrap();
    let out = run(&mut role("signed", reader.path(), &url, None));
    assert!(lines_with(&out, "computed ").is_empty());
}

#[test]
fn a_lock_holder_killed_is_noticed_in_seconds_and_one_waiter_takes_over() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let url = redis.url();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut holder = role("hold", dirs[0].path(), &url, None)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("holding")));
    let waiters: Vec<_> = dirs[1..]
        .iter()
        .map(|d| common::spawn(&mut role("wait", d.path(), &url, None)))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The lease is ten minutes; the waiters end long before: the lock of a
    // dead holder lapses within seconds, one waiter computes, the other is
    // served its value.
    let mut computed = Vec::new();
    for w in waiters {
        let out = common::finished(w);
        computed.extend(lines_with(&out, "computed by "));
    }
    assert_eq!(computed, ["wait"]);
}

#[test]
fn a_value_over_the_servers_limit_says_so_and_releases_its_lock() {
    let Some(_) = RedisServer::try_start() else {
        return;
    };
    let redis = RedisServer::start_with(&["--proto-max-bulk-len", "1mb"]);
    let url = redis.url();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = common::spawn(&mut role("big", a.path(), &url, None));
    std::thread::sleep(Duration::from_millis(150));
    let second = common::spawn(&mut role("big", b.path(), &url, None));
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    for out in [&first, &second] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let warnings: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|o| lines_with(o, "warning: "))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("over the server's limit")),
        "{warnings:?}"
    );
    assert!(
        !warnings.iter().any(|w| w.contains("reset")),
        "{warnings:?}"
    );
    // The small value after it was shared: the remote did not rest.
    let small = format!(
        "{}{:032x}",
        key_prefix("trust/remote/big", 0, 0),
        xxhash_rust::xxh3::xxh3_128(b"2")
    );
    assert!(get(&url, &small).is_some());
}

#[test]
fn a_trickling_link_costs_a_call_one_timeout_not_minutes() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    // The values are in Redis; the reader reaches it through the relay,
    // where one 10 kB reply would take five minutes.
    let writer: Cache<Vec<u8>> = Cache::builder("trust/remote/trickle")
        .root(tempfile::tempdir().unwrap().path())
        .remote(redis.url())
        .open()
        .unwrap();
    for x in 0..3u64 {
        writer.get_or_compute(&x, || vec![x as u8; 10_000]);
    }
    let port: u16 = redis.url().rsplit(':').next().unwrap().parse().unwrap();
    let relay = format!("redis://127.0.0.1:{}", common::relay::trickling(port));
    let reader = tempfile::tempdir().unwrap();
    let mut child = common::spawn(&mut role("trickle", reader.path(), &relay, None));
    // Not a speed measurement: a bound on a hang. Without a deadline for
    // the whole operation, the child would still be reading after minutes.
    let mut waited = 0;
    while child.try_wait().unwrap().is_none() {
        assert!(
            waited < 600,
            "the call is still waiting on the trickling link after a minute"
        );
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    }
    let out = common::finished(child);
    // Values computed locally (the remote gave up), and right.
    assert!(!lines_with(&out, "computed ").is_empty());
}

#[test]
fn an_async_function_never_blocks_its_executor_on_a_frozen_remote() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    redis.signal("-STOP");
    let root = tempfile::tempdir().unwrap();
    let out = run(role("async", root.path(), &redis.url(), None)
        .env("PERMACACHE_REMOTE", redis.url())
        .env("PERMACACHE_REMOTE_TIMEOUT", "1s"));
    redis.signal("-CONT");
    // A second's wait on the remote: the counter beside the call ran
    // through it (a blocked thread would leave it near zero).
    let spins: u64 = lines_with(&out, "spins: ")[0].trim().parse().unwrap();
    assert!(
        spins > 1_000,
        "the executor's thread was blocked: {spins} polls of its neighbour"
    );
}

/// A cached async function's future can move between threads.
#[allow(dead_code)]
fn async_calls_are_send() {
    fn send<T: Send>(_: T) {}
    send(later(1));
}

#[test]
fn passwords_never_show() {
    common::logs::capture();
    let secret_spec = "redis://:s3cr,et@127.0.0.1:1";
    let builder = Cache::<u64>::builder("trust/remote/pw").remote(secret_spec);
    let debug = format!("{builder:?}");
    assert!(!debug.contains("s3cr") && !debug.contains("et@"), "{debug}");
    let dir = tempfile::tempdir().unwrap();
    for spec in [
        secret_spec,
        "rediss://:s3cr,et@127.0.0.1:1",
        "redis://:s3cr,et@",
    ] {
        let cache: Cache<u64> = Cache::builder("trust/remote/pw")
            .root(dir.path())
            .remote(spec)
            .remote_timeout(Duration::from_millis(50))
            .open()
            .unwrap();
        assert_eq!(cache.get_or_compute(&1u64, || 5), 5);
        assert!(!format!("{cache:?}").contains("s3cr"));
    }
    let all = common::logs::all();
    assert!(!all.is_empty());
    for line in &all {
        assert!(!line.contains("s3cr") && !line.contains("et@"), "{line}");
    }
    for args in [
        vec!["push", "trust/remote/pw", "--remote", secret_spec],
        vec![
            "pull",
            "trust/remote/pw",
            "--remote",
            "rediss://:s3cr,et@127.0.0.1:1",
        ],
        vec![
            "pull",
            "trust/remote/pw",
            "--remote",
            "http://:s3cr,et@127.0.0.1:1",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_permacache"))
            .arg("--dir")
            .arg(dir.path())
            .args(&args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success());
        assert!(!text.contains("s3cr") && !text.contains("et@"), "{text}");
    }
}

#[test]
fn a_frozen_redis_times_out_and_says_so() {
    common::logs::capture();
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    redis.signal("-STOP");
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<u64> = Cache::builder("trust/remote/frozen")
        .root(dir.path())
        .remote(redis.url())
        .remote_timeout(Duration::from_millis(50))
        .open()
        .unwrap();
    assert_eq!(cache.get_or_compute(&1u64, || 5), 5);
    redis.signal("-CONT");
    assert!(
        common::logs::all().iter().any(|l| l.contains("timed out")),
        "{:?}",
        common::logs::all()
    );
    assert!(
        !common::logs::all()
            .iter()
            .any(|l| l.contains("Resource temporarily unavailable")),
        "{:?}",
        common::logs::all()
    );
}

#[test]
fn a_wrong_type_key_fails_only_that_key() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let url = redis.url();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ns = "trust/remote/wrongtype";
    let writer: Cache<u64> = Cache::builder(ns)
        .root(a.path())
        .remote(&url)
        .open()
        .unwrap();
    for x in 0..4u64 {
        writer.get_or_compute(&x, || x + 10);
    }
    let _: () = redis::cmd("DEL")
        .arg(redis_key(ns, "2"))
        .query(&mut connect(&url))
        .unwrap();
    let _: () = redis::cmd("LPUSH")
        .arg(redis_key(ns, "2"))
        .arg("x")
        .query(&mut connect(&url))
        .unwrap();
    let reader: Cache<u64> = Cache::builder(ns)
        .root(b.path())
        .remote(&url)
        .open()
        .unwrap();
    let mut computed = Vec::new();
    for x in 0..4u64 {
        let got = reader.get_or_compute(&x, || {
            computed.push(x);
            x + 10
        });
        assert_eq!(got, x + 10);
    }
    assert_eq!(computed, [2]);
}

#[test]
fn pull_keeps_a_local_record_of_another_version() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let url = redis.url();
    let ns = "trust/remote/versions";
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // b runs version 2, and has its own entry for 5.
    let mine: Cache<u64> = Cache::builder(ns).root(b.path()).version(2).open().unwrap();
    mine.insert(&5u64, &2_000).unwrap();
    // a runs version 1, later: its records are newer.
    std::thread::sleep(Duration::from_millis(5));
    let theirs: Cache<u64> = Cache::builder(ns).root(a.path()).version(1).open().unwrap();
    for x in 0..10u64 {
        theirs.insert(&x, &(x + 1_000)).unwrap();
    }
    let cli = |root: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_permacache"))
            .arg("--dir")
            .arg(root)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(
        cli(a.path(), &["push", ns, "--remote", &url])
            .status
            .success()
    );
    let out = cli(b.path(), &["--json", "pull", ns, "--remote", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["kept_other_version"], 1, "{report}");
    assert_eq!(report["pulled"], 9, "{report}");
    assert_eq!(mine.get(&5u64).unwrap(), Some(2_000));
}

// ---------------------------------------------------------------------------
// TLS.

/// Runs openssl in `dir`; false when it cannot.
fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A CA, a certificate it signs for 127.0.0.1, and a CA that signed
/// nothing, made in `dir`; false without openssl.
fn make_certs(dir: &Path) -> bool {
    let ok = openssl(dir, &["version"]);
    if !ok {
        assert!(
            std::env::var_os("PERMACACHE_REQUIRE_REDIS").is_none(),
            "PERMACACHE_REQUIRE_REDIS is set but openssl cannot be run: apt-get install -y openssl"
        );
        return false;
    }
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    for (ca, cn) in [("ca", "permacache test CA"), ("other", "someone else's CA")] {
        assert!(openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
            ],
        ));
    }
    assert!(openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    ));
    assert!(openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    ));
    true
}

#[test]
fn a_tls_remote_with_a_password_is_shared_and_an_unverified_one_is_a_fault() {
    common::logs::capture();
    if !common::redis_server::available() {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    if !make_certs(certs.path()) {
        return;
    }
    let c = |f: &str| certs.path().join(f).display().to_string();
    let tls_port = common::redis_server::free_port();
    let redis = RedisServer::start_with(&[
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &c("server.crt"),
        "--tls-key-file",
        &c("server.key"),
        "--tls-ca-cert-file",
        &c("ca.crt"),
        "--tls-auth-clients",
        "no",
        "--requirepass",
        "pass,word",
    ]);
    let spec = format!("rediss://:pass,word@127.0.0.1:{tls_port}");
    let ns = "trust/remote/tls";
    let open = |root: &Path, ca: &str| -> Cache<u64> {
        Cache::builder(ns)
            .root(root)
            .remote(&spec)
            .remote_ca(c(ca))
            .remote_timeout(Duration::from_millis(500))
            .open()
            .unwrap()
    };
    let (a, b, d) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let writer = open(a.path(), "ca.crt");
    assert_eq!(writer.get_or_compute(&1u64, || 11), 11);
    // Stored in Redis, through TLS, with the password.
    let stored: i64 = redis::cmd("DBSIZE")
        .query(
            &mut redis::Client::open(format!(
                "redis://:pass,word@127.0.0.1:{}",
                redis.url().rsplit(':').next().unwrap()
            ))
            .unwrap()
            .get_connection()
            .unwrap(),
        )
        .unwrap();
    assert_eq!(stored, 1);
    let reader = open(b.path(), "ca.crt");
    assert_eq!(
        reader.get_or_compute(&1u64, || panic!("not served over TLS")),
        11
    );

    // A certificate that does not verify: a fault, never a quiet downgrade.
    let stranger = open(d.path(), "other.crt");
    let mut computed = false;
    assert_eq!(
        stranger.get_or_compute(&1u64, || {
            computed = true;
            11
        }),
        11
    );
    assert!(computed);
    let all = common::logs::all();
    assert!(
        all.iter()
            .any(|l| l.contains("rediss://") && l.to_lowercase().contains("certificate")),
        "{all:?}"
    );
    assert!(!all.iter().any(|l| l.contains("pass,word")), "{all:?}");
}
