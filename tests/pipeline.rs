//! One pipeline for every call kind: each mode crossed with each kind of
//! call (plain, `Result`, typed, async, batch, out files) does the same
//! things and counts the same stats; and each kind computes a key missed by
//! many threads or async tasks at once exactly once.

mod common;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use permacache::{Cache, CacheMiss, Miss, Mode, Stats, permacached, with_mode};

static RUNS: [AtomicUsize; 6] = [const { AtomicUsize::new(0) }; 6];

/// The tests share the functions' counts: one runs at a time.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn ran(kind: usize) -> usize {
    RUNS[kind].fetch_add(1, Ordering::SeqCst);
    // Long enough that threads missing the key together overlap.
    std::thread::sleep(Duration::from_millis(30));
    kind
}

/// A future that is pending once, so that other tasks run meanwhile.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

permacached! {
    "tests/pipeline/plain" =>
    fn plain(x: u64) -> u64 { ran(PLAIN); x * 2 }

    "tests/pipeline/result" =>
    fn result(x: u64) -> Result<u64, String> { ran(RESULT); Ok(x * 2) }

    "tests/pipeline/async" =>
    async fn later(x: u64) -> u64 {
        ran(ASYNC);
        YieldNow(false).await;
        x * 2
    }

    "tests/pipeline/batch" =>
    fn batch(#[parallel] xs: Vec<u64>) -> Vec<u64> {
        ran(BATCH);
        xs.into_iter().map(|x| x * 2).collect()
    }

    "tests/pipeline/out_files" =>
    fn out_file(x: u64, #[out_file] out: PathBuf) -> u64 {
        ran(OUT_FILES);
        std::fs::write(&out, x.to_string()).unwrap();
        x * 2
    }
}

const PLAIN: usize = 0;
const RESULT: usize = 1;
const TYPED: usize = 2;
const ASYNC: usize = 3;
const BATCH: usize = 4;
const OUT_FILES: usize = 5;
const KINDS: [(usize, &str); 6] = [
    (PLAIN, "plain"),
    (RESULT, "result"),
    (TYPED, "typed"),
    (ASYNC, "async"),
    (BATCH, "batch"),
    (OUT_FILES, "out files"),
];

fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        permacache::set_store_dir(&dir).unwrap();
        dir
    })
}

fn typed() -> &'static Cache<u64> {
    static TYPED_CACHE: OnceLock<Cache<u64>> = OnceLock::new();
    TYPED_CACHE.get_or_init(|| {
        Cache::builder("tests/pipeline/typed")
            .root(root())
            .open()
            .unwrap()
    })
}

fn out_path(x: u64) -> PathBuf {
    root().join(format!("out-{x}"))
}

/// One call of `kind` with argument `x`.
fn call(kind: usize, x: u64) -> u64 {
    root();
    match kind {
        PLAIN => plain(x),
        RESULT => result(x).unwrap(),
        TYPED => typed().get_or_compute(&x, || {
            ran(TYPED);
            x * 2
        }),
        ASYNC => common::block_on(later(x)),
        BATCH => batch(vec![x])[0],
        OUT_FILES => out_file(x, out_path(x)),
        _ => unreachable!(),
    }
}

fn stats(kind: usize) -> Stats {
    match kind {
        PLAIN => plain::stats(),
        RESULT => result::stats(),
        TYPED => typed().stats(),
        ASYNC => later::stats(),
        BATCH => batch::stats(),
        OUT_FILES => out_file::stats(),
        _ => unreachable!(),
    }
}

fn stored(kind: usize, x: u64) -> bool {
    match kind {
        PLAIN => plain::contains(x),
        RESULT => result::contains(x),
        TYPED => typed().contains(&x).unwrap(),
        ASYNC => later::contains(x),
        BATCH => batch::contains(x),
        OUT_FILES => out_file::contains(x, out_path(x)),
        _ => unreachable!(),
    }
}

/// What one kind did in one mode: computations, hits, misses by reason,
/// writes, and whether the new key was stored or the call failed.
#[derive(Debug, PartialEq)]
struct Seen {
    runs: usize,
    hits: u64,
    misses: Vec<(Miss, u64)>,
    stored: u64,
    new_key_stored: bool,
    failed: bool,
}

fn delta(before: &Stats, after: &Stats) -> (u64, Vec<(Miss, u64)>, u64) {
    let mut misses: Vec<(Miss, u64)> = after
        .misses
        .iter()
        .map(|(m, n)| {
            let was = before
                .misses
                .iter()
                .find(|(b, _)| b == m)
                .map_or(0, |(_, n)| *n);
            (*m, *n - was)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    misses.sort_by_key(|(m, _)| format!("{m:?}"));
    (
        after.hits - before.hits,
        misses,
        after.stored - before.stored,
    )
}

fn seen(kind: usize, mode: Mode, m: u64) -> Seen {
    let (old, new) = (1000 * m + 1, 1000 * m + 2);
    call(kind, old);
    let runs = RUNS[kind].load(Ordering::SeqCst);
    let before = stats(kind);
    let failed = with_mode(mode, || {
        assert_eq!(call(kind, old), old * 2);
        let new_call = std::panic::catch_unwind(|| call(kind, new));
        match new_call {
            Ok(v) => {
                assert_eq!(v, new * 2);
                false
            }
            Err(payload) => {
                assert!(payload.is::<CacheMiss>(), "{kind} {mode:?}");
                true
            }
        }
    });
    let (hits, misses, stored_count) = delta(&before, &stats(kind));
    Seen {
        runs: RUNS[kind].load(Ordering::SeqCst) - runs,
        hits,
        misses,
        stored: stored_count,
        new_key_stored: stored(kind, new),
        failed,
    }
}

#[test]
fn every_mode_does_the_same_with_every_call_kind() {
    let _serial = one_at_a_time();
    let modes = [
        Mode::Normal,
        Mode::Off,
        Mode::ErrorOnMiss,
        Mode::Refresh,
        Mode::ReadOnly,
    ];
    for (m, mode) in modes.into_iter().enumerate() {
        let expected = match mode {
            Mode::Normal => Seen {
                runs: 1,
                hits: 1,
                misses: vec![(Miss::Absent, 1)],
                stored: 1,
                new_key_stored: true,
                failed: false,
            },
            Mode::Off => Seen {
                runs: 2,
                hits: 0,
                misses: vec![(Miss::Mode, 2)],
                stored: 0,
                new_key_stored: false,
                failed: false,
            },
            Mode::ErrorOnMiss => Seen {
                runs: 0,
                hits: 1,
                misses: vec![(Miss::Absent, 1)],
                stored: 0,
                new_key_stored: false,
                failed: true,
            },
            Mode::Refresh => Seen {
                runs: 2,
                hits: 0,
                misses: vec![(Miss::Mode, 2)],
                stored: 2,
                new_key_stored: true,
                failed: false,
            },
            Mode::ReadOnly => Seen {
                runs: 1,
                hits: 1,
                misses: vec![(Miss::Absent, 1)],
                stored: 0,
                new_key_stored: false,
                failed: false,
            },
            _ => unreachable!(),
        };
        for (kind, name) in KINDS {
            assert_eq!(seen(kind, mode, m as u64), expected, "{name} in {mode:?}");
        }
    }
}

#[test]
fn many_threads_missing_one_key_compute_it_once_for_every_call_kind() {
    let _serial = one_at_a_time();
    for (kind, name) in KINDS {
        let x = 5_000 + kind as u64;
        let runs = RUNS[kind].load(Ordering::SeqCst);
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    call(kind, x)
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), x * 2, "{name}");
        }
        assert_eq!(RUNS[kind].load(Ordering::SeqCst) - runs, 1, "{name}");
    }
}

#[test]
fn many_async_tasks_on_one_thread_missing_one_key_compute_it_once() {
    let _serial = one_at_a_time();
    root();
    let runs = RUNS[ASYNC].load(Ordering::SeqCst);
    let tasks: Vec<Pin<Box<dyn Future<Output = u64>>>> =
        (0..8).map(|_| Box::pin(later(7_000)) as _).collect();
    assert_eq!(join_all(tasks), vec![14_000; 8]);
    assert_eq!(RUNS[ASYNC].load(Ordering::SeqCst) - runs, 1);
}

/// Polls every task in turn on this thread until all are done.
fn join_all<T>(mut tasks: Vec<Pin<Box<dyn Future<Output = T>>>>) -> Vec<T> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut out: Vec<Option<T>> = tasks.iter().map(|_| None).collect();
    while out.iter().any(Option::is_none) {
        for (task, slot) in tasks.iter_mut().zip(out.iter_mut()) {
            if slot.is_none()
                && let Poll::Ready(v) = task.as_mut().poll(&mut cx)
            {
                *slot = Some(v);
            }
        }
    }
    out.into_iter().map(Option::unwrap).collect()
}
