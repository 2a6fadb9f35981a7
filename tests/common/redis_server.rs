//! Real Redis servers for the shared-tier tests: `redis-server` processes on
//! free loopback ports, each in its own temporary directory, and a Redis
//! Cluster of them made by `redis-cli --cluster create`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` process, killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Sends one inline command and returns the first reply line.
fn ask(port: u16, command: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("{command}\r\n").as_bytes()).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Whether `redis-server` and `redis-cli` can be run here. Without them the
/// shared-tier tests are skipped, saying so, unless `PERMACACHE_REQUIRE_REDIS`
/// is set (as CI sets it): then they fail.
pub fn available() -> bool {
    let runs = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let found = runs("redis-server") && runs("redis-cli");
    if !found {
        assert!(
            std::env::var_os("PERMACACHE_REQUIRE_REDIS").is_none(),
            "PERMACACHE_REQUIRE_REDIS is set but redis-server or redis-cli cannot be run: apt-get install -y redis-server"
        );
        eprintln!(
            "skipped: redis-server and redis-cli are not on the PATH (apt-get install -y redis-server)"
        );
    }
    found
}

impl RedisServer {
    /// A single server, or `None` (the test is skipped) without Redis here.
    pub fn try_start() -> Option<RedisServer> {
        available().then(|| RedisServer::start_with(&[]))
    }

    /// A server with extra `redis-server` arguments.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            args: extra.iter().map(|s| s.to_string()).collect(),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}); the shared-tier tests need it: apt-get install -y redis-server"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        // A server with a password answers NOAUTH: up all the same.
        while ask(self.port, "PING")
            .is_none_or(|r| !(r.starts_with("+PONG") || r.starts_with("-NOAUTH")))
        {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Kills the server with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Runs one command and returns the reply's first line, as text.
    pub fn ask(&self, command: &str) -> String {
        ask(self.port, command).unwrap_or_default()
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: a server that takes
    /// connections and never answers.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {signal}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = Command::new("kill")
                .args(["-CONT", &self.pid().to_string()])
                .status();
        }
        self.kill();
    }
}

/// A Redis Cluster of `n` masters, or `None` (the test is skipped) without
/// Redis here.
pub fn try_cluster(n: usize) -> Option<Vec<RedisServer>> {
    available().then(|| start_cluster(n))
}

/// A Redis Cluster of `n` masters and no replicas.
pub fn start_cluster(n: usize) -> Vec<RedisServer> {
    start_cluster_with(n, None)
}

/// A Redis Cluster of `n` masters whose nodes ask for `password`, when
/// given.
pub fn start_cluster_with(n: usize, password: Option<&str>) -> Vec<RedisServer> {
    let mut args = vec![
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        "2000",
    ];
    if let Some(pw) = password {
        args.extend(["--requirepass", pw, "--masterauth", pw]);
    }
    let auth: Vec<&str> = match password {
        Some(pw) => vec!["-a", pw, "--no-auth-warning"],
        None => vec![],
    };
    let nodes: Vec<RedisServer> = (0..n).map(|_| RedisServer::start_with(&args)).collect();
    let addresses: Vec<String> = nodes
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let out = Command::new("redis-cli")
        .args(&auth)
        .arg("--cluster")
        .arg("create")
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli (apt-get install -y redis-server)");
    assert!(
        out.status.success(),
        "redis-cli --cluster create: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let state = |node: &RedisServer| {
        let out = Command::new("redis-cli")
            .args(&auth)
            .args(["-p", &node.port.to_string(), "CLUSTER", "INFO"])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for node in &nodes {
        while !state(node).contains("cluster_state:ok") {
            assert!(Instant::now() < deadline, "the cluster did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    nodes
}

/// The address of a cluster: its nodes' addresses, comma-separated.
pub fn cluster_address(nodes: &[RedisServer]) -> String {
    nodes
        .iter()
        .map(RedisServer::url)
        .collect::<Vec<_>>()
        .join(",")
}

/// The Redis key of a typed cache's entry for `key` in namespace `ns` (no
/// owner, version 0, untracked body).
pub fn redis_key(ns: &str, key: &str) -> String {
    format!(
        "{}{:032x}",
        permacache::remote::key_prefix(ns, 0, 0),
        xxhash_rust::xxh3::xxh3_128(key.as_bytes())
    )
}

/// A plain connection to a test server.
pub fn connect(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}
