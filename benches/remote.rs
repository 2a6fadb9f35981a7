//! The shared tier's figures, against a real `redis-server` on loopback,
//! each beside its floor in the same run:
//!
//! - a remote hit (local miss, Redis hit, copied into LMDB) vs one raw Redis
//!   GET of the same bytes plus one raw LMDB commit;
//! - a local hit with a remote configured vs the same hit without one (the
//!   feature must not slow local hits);
//! - a miss with a remote configured vs a local-only miss.
//!
//! `cargo bench --features redis --bench remote` (needs redis-server).

use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use permacache::Cache;

/// The server process, its port, and its directory (removed on drop).
struct Server(Child, u16, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_server() -> Server {
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
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .is_err()
    {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server(child, port, dir)
}

fn value(x: u64) -> Vec<u64> {
    vec![x, x * x, x + 7]
}

fn remote(c: &mut Criterion) {
    let server = redis_server();
    let url = format!("redis://127.0.0.1:{}", server.1);
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let ns = "bench/remote";
    let writer: Cache<Vec<u64>> = Cache::builder(ns)
        .root(dirs[0].path())
        .remote(&url)
        .open()
        .unwrap();
    let reader: Cache<Vec<u64>> = Cache::builder(ns)
        .root(dirs[1].path())
        .remote(&url)
        .open()
        .unwrap();
    let local: Cache<Vec<u64>> = Cache::builder(ns).root(dirs[2].path()).open().unwrap();
    let mut next = 0u64;

    let mut g = c.benchmark_group("remote");
    g.measurement_time(Duration::from_secs(5));

    // Keys the writer put in Redis (and its own store) and the reader has
    // never seen: each read is a local miss and a Redis hit.
    g.bench_function("remote hit (local miss + Redis GET + LMDB copy)", |b| {
        b.iter_custom(|iters| {
            let keys: Vec<u64> = (next..next + iters).collect();
            next += iters;
            let entries: Vec<(u64, Vec<u64>)> = keys.iter().map(|&k| (k, value(k))).collect();
            for chunk in entries.chunks(5_000) {
                writer
                    .insert_many(chunk.iter().map(|(k, v)| (k, v)))
                    .unwrap();
            }
            let start = Instant::now();
            for k in &keys {
                black_box(reader.get_or_compute(k, || unreachable!("in Redis")));
            }
            start.elapsed()
        })
    });

    // The floor: the same record bytes fetched with one raw GET, and one raw
    // durable LMDB commit of them.
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    writer.insert(&u64::MAX, &value(1)).unwrap();
    let redis_key = {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg("permacache:*")
            .query(&mut conn)
            .unwrap();
        keys.pop().unwrap()
    };
    let floor_ns = permacache::admin::Namespace::open(dirs[3].path(), "bench/floor").unwrap();
    let hash = [7u8; 16];
    g.bench_function("floor: raw Redis GET + raw LMDB commit", |b| {
        b.iter(|| {
            let bytes: Vec<u8> = redis::cmd("GET").arg(&redis_key).query(&mut conn).unwrap();
            floor_ns.put_raw(&hash, &bytes).unwrap();
        })
    });
    g.bench_function("floor: raw Redis GET", |b| {
        b.iter(|| {
            let bytes: Vec<u8> = redis::cmd("GET").arg(&redis_key).query(&mut conn).unwrap();
            black_box(bytes)
        })
    });

    // Local hits: the same 10,000 entries, written the same way, in a store
    // with a remote and in one without.
    let configured: Cache<Vec<u64>> = Cache::builder(ns)
        .root(dirs[4].path())
        .remote(&url)
        .open()
        .unwrap();
    let entries: Vec<(u64, Vec<u64>)> = (0..10_000u64).map(|k| (k, value(k))).collect();
    for cache in [&configured, &local] {
        cache
            .insert_many(entries.iter().map(|(k, v)| (k, v)))
            .unwrap();
    }
    let mut k = 0u64;
    g.bench_function("local hit, remote configured", |b| {
        b.iter(|| {
            k = (k + 7919) % 10_000;
            black_box(configured.get_or_compute(&k, || unreachable!()))
        })
    });
    g.bench_function("local hit, no remote", |b| {
        b.iter(|| {
            k = (k + 7919) % 10_000;
            black_box(local.get_or_compute(&k, || unreachable!()))
        })
    });

    // Misses: compute (nothing), durable local write, and with a remote a
    // Redis GET before and a SET after.
    let mut m = 1u64 << 40;
    g.bench_function("miss, remote configured", |b| {
        b.iter(|| {
            m += 1;
            black_box(writer.get_or_compute(&m, || value(m)))
        })
    });
    g.bench_function("miss, no remote", |b| {
        b.iter(|| {
            m += 1;
            black_box(local.get_or_compute(&m, || value(m)))
        })
    });
    g.finish();
}

criterion_group!(benches, remote);
criterion_main!(benches);
