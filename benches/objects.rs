//! The object-store tier's figures, against a real S3 API server
//! (`moto_server`) on loopback, each beside its floor in the same run:
//!
//! - a hit served by the object store (small and 8 MB values; read-only mode,
//!   so every call asks the store) vs one raw GET of the same object by the
//!   tier's own client (signing and the HTTP exchange, nothing else);
//! - a local hit with the object store configured vs one without;
//! - the first call of a 200 MB value on a fresh machine (a new, empty
//!   store root each time), served by each tier: the object store, Redis
//!   (with `--features redis`), beside one raw GET of the object and a
//!   local miss that stores the value durably; and a local hit of it.
//!
//! `cargo bench --features s3 --bench objects` (needs moto_server:
//! `pip install 'moto[server]'`; with `redis`, redis-server). The server is Python: the figures say what
//! the tier adds to a request, not what S3 would take.

use std::hint::black_box;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use permacache::{Cache, Mode, with_mode};

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A raw request to the server (fake signature: moto checks presence).
fn raw(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_whitespace().nth(1)?.parse().ok()
}

/// A `moto_server` with bucket `bench-objects`, and the AWS variables
/// pointing at it.
fn moto_server() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server (pip install 'moto[server]')");
    let deadline = Instant::now() + Duration::from_secs(60);
    while raw(port, "GET", "/").is_none() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(raw(port, "PUT", "/bench-objects"), Some(200));
    let endpoint = format!("http://127.0.0.1:{port}");
    for (k, v) in [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ] {
        // SAFETY: each bench group starts its server before any cache of
        // its own opens; the recency thread and earlier groups' connections
        // read no AWS variable.
        unsafe { std::env::set_var(k, v) };
    }
    Server(child, port)
}

fn objects(c: &mut Criterion) {
    let _server = moto_server();
    let address = "s3://bench-objects";
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let open = |ns: &str, dir: usize| -> Cache<Vec<u8>> {
        Cache::builder(ns)
            .root(dirs[dir].path())
            .objects(address)
            .open()
            .unwrap()
    };
    let store = permacache::remote::Objects::open(address, Duration::from_secs(1)).unwrap();

    let mut g = c.benchmark_group("objects");
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(20);
    for (label, ns, size) in [
        ("small", "bench/objects/small", 100usize),
        ("8 MB", "bench/objects/big", 8 << 20),
    ] {
        let (writer, reader) = (open(ns, 0), open(ns, 1));
        writer.get_or_compute(&1u64, || vec![7u8; size]);
        let name = store
            .list(&format!("permacache/{ns}/"))
            .unwrap()
            .pop()
            .unwrap();
        g.bench_function(format!("{label}: object-store hit (read-only mode)"), |b| {
            b.iter(|| {
                with_mode(Mode::ReadOnly, || {
                    black_box(reader.get_or_compute(&1u64, || unreachable!("in the bucket")))
                })
            })
        });
        g.bench_function(format!("{label}: floor, one GET of the object"), |b| {
            b.iter(|| black_box(store.fetch(&name).unwrap().unwrap()))
        });
    }

    // Local hits: the same entries in a store with the object store
    // configured and in one without.
    let configured = open("bench/objects/local", 2);
    let local: Cache<Vec<u8>> = Cache::builder("bench/objects/local")
        .root(dirs[3].path())
        .open()
        .unwrap();
    let entries: Vec<(u64, Vec<u8>)> = (0..1_000u64).map(|k| (k, vec![k as u8; 100])).collect();
    for cache in [&configured, &local] {
        cache
            .insert_many(entries.iter().map(|(k, v)| (k, v)))
            .unwrap();
    }
    let mut k = 0u64;
    g.bench_function("local hit, object store configured", |b| {
        b.iter(|| {
            k = (k + 7919) % 1_000;
            black_box(configured.get_or_compute(&k, || unreachable!()))
        })
    });
    g.bench_function("local hit, no remote", |b| {
        b.iter(|| {
            k = (k + 7919) % 1_000;
            black_box(local.get_or_compute(&k, || unreachable!()))
        })
    });
    g.finish();
}

#[cfg(feature = "redis")]
fn redis_server() -> (Server, tempfile::TempDir) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (apt-get install -y redis-server)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Server(child, port), dir)
}

/// The first call of a 200 MB value on a fresh machine, tier by tier.
fn first_call_200mb(c: &mut Criterion) {
    const SIZE: usize = 200 << 20;
    let server = moto_server();
    // A bucket of its own: an object store stays open per address for the
    // process, and the first group's server is gone.
    assert_eq!(raw(server.1, "PUT", "/bench-200mb"), Some(200));
    let address = "s3://bench-200mb";
    let ns = "bench/objects/200mb";
    let value = || vec![9u8; SIZE];
    let home = tempfile::tempdir().unwrap();
    // moto (Python) takes over a second before the first byte of a 200 MB
    // object: 10 s before a stall, as the tests give it.
    let timeout = Duration::from_secs(10);
    let writer: Cache<Vec<u8>> = Cache::builder(ns)
        .root(home.path())
        .objects(address)
        .remote_timeout(timeout)
        .open()
        .unwrap();
    writer.get_or_compute(&1u64, value);
    let store = permacache::remote::Objects::open(address, timeout).unwrap();
    let name = store
        .list(&format!("permacache/{ns}/"))
        .unwrap()
        .pop()
        .unwrap();

    let mut g = c.benchmark_group("first call, 200 MB");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(1));
    g.measurement_time(Duration::from_secs(20));
    // A fresh machine per call: a new store root, the tier configured.
    let fresh = |configure: &dyn Fn(
        permacache::CacheBuilder<Vec<u8>>,
    ) -> permacache::CacheBuilder<Vec<u8>>,
                 b: &mut criterion::Bencher| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let root = tempfile::tempdir().unwrap();
                let cache = configure(Cache::builder(ns).root(root.path()))
                    .open()
                    .unwrap();
                let start = Instant::now();
                let got = cache.get_or_compute(&1u64, || unreachable!("served by the tier"));
                spent += start.elapsed();
                assert_eq!(got.len(), SIZE);
            }
            spent
        })
    };
    g.bench_function("object store", |b| {
        fresh(&|c| c.objects(address).remote_timeout(timeout), b)
    });
    g.bench_function("floor, one GET of the object", |b| {
        b.iter(|| black_box(store.fetch(&name).unwrap().unwrap().len()))
    });
    #[cfg(feature = "redis")]
    let _redis = {
        let redis = redis_server();
        let url = format!("redis://127.0.0.1:{}", (redis.0).1);
        let seed_root = tempfile::tempdir().unwrap();
        let seed: Cache<Vec<u8>> = Cache::builder(ns)
            .root(seed_root.path())
            .remote(&url)
            .open()
            .unwrap();
        seed.get_or_compute(&1u64, value);
        g.bench_function("Redis", |b| fresh(&|c| c.remote(&url), b));
        (redis, seed_root)
    };
    // What keeping the value costs a fresh machine without any tier: a
    // miss that computes (one fill) and stores it durably.
    g.bench_function("floor, a local miss storing it", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let root = tempfile::tempdir().unwrap();
                let cache: Cache<Vec<u8>> = Cache::builder(ns).root(root.path()).open().unwrap();
                let start = Instant::now();
                black_box(cache.get_or_compute(&1u64, value).len());
                spent += start.elapsed();
            }
            spent
        })
    });
    g.bench_function("local hit", |b| {
        b.iter(|| black_box(writer.get_or_compute(&1u64, || unreachable!()).len()))
    });
    g.finish();
}

criterion_group!(benches, objects, first_call_200mb);
criterion_main!(benches);
