//! Helpers shared by the integration tests: running this same test binary as
//! a child process in a named role.

#![allow(dead_code)]

pub mod fixture;
pub mod logs;
pub mod redis_server;
pub mod relay;
pub mod s3_server;

use std::process::{Child, Command, Output, Stdio};

/// The environment variable that tells a child which role to play.
pub const ROLE: &str = "PERMACACHE_TEST_ROLE";

/// A command that runs this test binary's ignored `child` test in `role`.
pub fn child(role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args([
        "child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE, role)
    .stdin(Stdio::null());
    cmd
}

/// Runs a child to completion and returns its output, failing the test with
/// the child's stderr when it fails.
pub fn run(cmd: &mut Command) -> Output {
    finished(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child"),
    )
}

/// Waits for a started child and returns its output, failing the test with
/// the child's stderr when it failed.
pub fn finished(child: Child) -> Output {
    let out = child.wait_with_output().expect("wait for child");
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts a child with stdout piped.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped()).spawn().expect("spawn child")
}

/// Starts a child that computes a locked key forever (`HOLD_FOREVER`), and
/// returns once it says it is holding the lock.
pub fn holding(cmd: &mut Command) -> Child {
    use std::io::BufRead;
    let mut holder = cmd
        .env("HOLD_FOREVER", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let mut lines = std::io::BufReader::new(holder.stdout.take().expect("piped")).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("holding"))),
        "the holder ended before holding the lock"
    );
    holder
}

/// What follows `marker` on each line a child printed that holds it (libtest
/// may print its own text before the child's first line).
pub fn lines_with(out: &Output, marker: &str) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| after(l, marker))
        .collect()
}

/// What follows `marker` in `line`, if it holds it.
pub fn after(line: &str, marker: &str) -> Option<String> {
    line.find(marker)
        .map(|at| line[at + marker.len()..].to_string())
}

/// Makes writes of this process past `bytes` of any file fail, as on a full
/// disk (RLIMIT_FSIZE, with SIGXFSZ ignored so that they fail with EFBIG).
/// Call it before any thread starts.
pub fn limit_file_size(bytes: u64) {
    // SAFETY: plain libc calls on this process, before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let bytes = libc::rlim_t::try_from(bytes).expect("a file size limit");
        let limit = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

/// A minimal executor for async cached functions: the tests need no runtime
/// crate.
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Says why a test that needs root skips; fails it instead where CI requires
/// root tests to run (`PERMACACHE_REQUIRE_ROOT=1`, which `.ci/run` sets when
/// it runs as root).
pub fn skip_root_test(why: &str) {
    assert!(
        std::env::var_os("PERMACACHE_REQUIRE_ROOT").is_none(),
        "PERMACACHE_REQUIRE_ROOT is set, but this test would skip: {why}"
    );
    eprintln!("skipped: {why}");
}
