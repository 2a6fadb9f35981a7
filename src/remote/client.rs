//! The Redis client of the shared tier: a pool of connections to one server
//! or cluster, short timeouts, and fault handling. An operation that fails on
//! the network (refused, reset, timed out) logs one warning per remote and
//! rests the remote for a while (1 s, doubling to 30 s) so that calls do not
//! each wait for a dead server; the first operation after the rest tries
//! again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use redis::cluster::{ClusterClient, ClusterConnection, cluster_pipe};
use redis::{Cmd, ConnectionLike, RedisError, RedisResult, Value};

use super::{RemoteError, check_address, redacted};

/// Idle connections kept per remote.
const IDLE_MAX: usize = 16;
/// The first rest after a fault; it doubles up to [`REST_MAX_MS`].
const REST_MIN_MS: u64 = 1_000;
const REST_MAX_MS: u64 = 30_000;
/// Records per pipeline when pushing or pulling a namespace.
const BULK: usize = 500;

/// Deletes a lock only when it still holds the caller's token.
const UNLOCK_SCRIPT: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

static OPEN: Lazy<Mutex<HashMap<(String, Duration), &'static Remote>>> =
    Lazy::new(Default::default);
static EPOCH: Lazy<Instant> = Lazy::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

enum Client {
    Single(redis::Client),
    Cluster(ClusterClient),
}

enum Conn {
    Single(redis::Connection),
    Cluster(Box<ClusterConnection>),
}

impl Conn {
    fn like(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => &mut **c,
        }
    }

    fn query<T: redis::FromRedisValue>(&mut self, cmd: &Cmd) -> RedisResult<T> {
        cmd.query(self.like())
    }

    /// Runs commands in one round trip (per node, on a cluster).
    fn pipeline(&mut self, cmds: Vec<Cmd>) -> RedisResult<Vec<Value>> {
        match self {
            Conn::Single(c) => {
                let mut p = redis::pipe();
                for cmd in cmds {
                    p.add_command(cmd);
                }
                p.query(c)
            }
            Conn::Cluster(c) => {
                let mut p = cluster_pipe();
                for cmd in cmds {
                    p.add_command(cmd);
                }
                p.query(c)
            }
        }
    }
}

/// One remote: a Redis server, or a Redis Cluster named by a comma-separated
/// list of its nodes. Opened once per process and address.
pub struct Remote {
    label: String,
    nodes: Vec<String>,
    timeout: Duration,
    client: Client,
    idle: Mutex<Vec<Conn>>,
    /// Until when (ms since [`EPOCH`]) the remote rests after a fault.
    resting_until: AtomicU64,
    /// The length of the last rest, `0` when healthy.
    rest_ms: AtomicU64,
    warned: AtomicBool,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("address", &self.label)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn is_network(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}

impl Remote {
    /// The remote at `spec`, opened once per process (no connection is made
    /// until the first operation).
    ///
    /// # Errors
    ///
    /// What is wrong with the address.
    pub fn open(spec: &str, timeout: Duration) -> Result<&'static Remote, RemoteError> {
        let timeout = timeout.max(Duration::from_millis(1));
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(remote) = open.get(&(spec.to_string(), timeout)) {
            return Ok(remote);
        }
        check_address(spec).map_err(|reason| RemoteError::BadAddress {
            address: redacted(spec),
            reason,
        })?;
        let failed = |source| RemoteError::Redis {
            address: redacted(spec),
            source,
        };
        let nodes: Vec<&str> = spec.split(',').map(str::trim).collect();
        let client = if nodes.len() == 1 {
            Client::Single(redis::Client::open(nodes[0]).map_err(failed)?)
        } else {
            Client::Cluster(
                ClusterClient::builder(nodes.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(2)
                    .min_retry_wait(1)
                    .max_retry_wait(timeout.as_millis() as u64)
                    .build()
                    .map_err(failed)?,
            )
        };
        let remote: &'static Remote = Box::leak(Box::new(Remote {
            label: redacted(spec),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            timeout,
            client,
            idle: Mutex::new(Vec::new()),
            resting_until: AtomicU64::new(0),
            rest_ms: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }));
        open.insert((spec.to_string(), timeout), remote);
        Ok(remote)
    }

    /// The address, without password.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn connect(&self) -> RedisResult<Conn> {
        match &self.client {
            Client::Single(client) => {
                let conn = client.get_connection_with_timeout(self.timeout)?;
                conn.set_read_timeout(Some(self.timeout))?;
                conn.set_write_timeout(Some(self.timeout))?;
                Ok(Conn::Single(conn))
            }
            Client::Cluster(client) => {
                let conn = client.get_connection()?;
                conn.set_write_timeout(Some(self.timeout))?;
                Ok(Conn::Cluster(Box::new(conn)))
            }
        }
    }

    /// Runs `op` on a pooled connection, returning the error as it is. A
    /// pooled connection the server has closed meanwhile (a restart, an idle
    /// timeout) is replaced by a new one once; a timeout is not retried.
    fn run_strict<T>(&self, mut op: impl FnMut(&mut Conn) -> RedisResult<T>) -> RedisResult<T> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let (mut conn, was_pooled) = match pooled {
            Some(conn) => (conn, true),
            None => (self.connect()?, false),
        };
        let mut out = op(&mut conn);
        if was_pooled && matches!(&out, Err(e) if is_network(e) && !e.is_timeout()) {
            conn = self.connect()?;
            out = op(&mut conn);
        }
        // A connection that failed on the network may hold half an answer.
        if !matches!(&out, Err(e) if is_network(e)) {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_MAX {
                idle.push(conn);
            }
        }
        out
    }

    /// Runs `op` unless the remote is resting; a failure is logged (once)
    /// and gives `None`.
    fn run<T>(&self, op: impl FnMut(&mut Conn) -> RedisResult<T>) -> Option<T> {
        if now_ms() < self.resting_until.load(Ordering::Relaxed) {
            return None;
        }
        match self.run_strict(op) {
            Ok(value) => {
                if self.rest_ms.swap(0, Ordering::Relaxed) != 0 {
                    log::info!("permacache: remote {} is reachable again", self.label);
                }
                Some(value)
            }
            Err(e) => {
                if is_network(&e) {
                    let rest =
                        (self.rest_ms.load(Ordering::Relaxed) * 2).clamp(REST_MIN_MS, REST_MAX_MS);
                    self.rest_ms.store(rest, Ordering::Relaxed);
                    self.resting_until.store(now_ms() + rest, Ordering::Relaxed);
                }
                if !self.warned.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "permacache: remote {}: {e}; going on with the local store alone and trying the remote again later",
                        self.label
                    );
                } else {
                    log::debug!("permacache: remote {}: {e}", self.label);
                }
                None
            }
        }
    }

    /// The values of `keys` (`None` for absent ones), or `None` when the
    /// remote cannot answer.
    pub(crate) fn get_many(&self, keys: &[String]) -> Option<Vec<Option<Vec<u8>>>> {
        self.run(|c| get_many(c, keys))
    }

    /// Stores values, each expiring after `ttl` when given.
    pub(crate) fn set_many(&self, entries: &[(String, &[u8])], ttl: Option<Duration>) {
        self.run(|c| set_many(c, entries, ttl));
    }

    /// Deletes a key.
    pub(crate) fn delete(&self, key: &str) {
        self.run(|c| c.query::<()>(redis::cmd("DEL").arg(key)));
    }

    /// Takes the lock `key` with `token` for `lease`: `Some(true)` when taken,
    /// `Some(false)` when another holds it, `None` when the remote cannot
    /// answer.
    pub(crate) fn try_lock(&self, key: &str, token: &str, lease: Duration) -> Option<bool> {
        self.run(|c| {
            let set: Option<String> = c.query(
                redis::cmd("SET")
                    .arg(key)
                    .arg(token)
                    .arg("NX")
                    .arg("PX")
                    .arg(lease.as_millis().max(1) as u64),
            )?;
            Ok(set.is_some())
        })
    }

    /// Releases the lock `key` if it still holds `token`.
    pub(crate) fn unlock(&self, key: &str, token: &str) {
        self.run(|c| {
            c.query::<i64>(
                redis::cmd("EVAL")
                    .arg(UNLOCK_SCRIPT)
                    .arg(1)
                    .arg(key)
                    .arg(token),
            )
        });
    }

    /// The value of `key` and whether the lock `lock` is held, in one round
    /// trip.
    pub(crate) fn poll(&self, key: &str, lock: &str) -> Option<(Option<Vec<u8>>, bool)> {
        self.run(|c| {
            let mut get = redis::cmd("GET");
            get.arg(key);
            let mut exists = redis::cmd("EXISTS");
            exists.arg(lock);
            let values = c.pipeline(vec![get, exists])?;
            let mut values = values.into_iter();
            let value: Option<Vec<u8>> =
                redis::from_redis_value(values.next().unwrap_or(Value::Nil))?;
            let held: i64 = redis::from_redis_value(values.next().unwrap_or(Value::Int(0)))?;
            Ok((value, held > 0))
        })
    }

    /// A client failure of this remote, as the layer's error.
    fn failed(&self, source: RedisError) -> RemoteError {
        RemoteError::Redis {
            address: self.label.clone(),
            source,
        }
    }

    /// Stores records for the CLI, in pipelines, reporting any failure.
    ///
    /// # Errors
    ///
    /// The first failure.
    pub fn push(&self, entries: &[(String, Vec<u8>)]) -> Result<(), RemoteError> {
        for chunk in entries.chunks(BULK) {
            let refs: Vec<(String, &[u8])> = chunk
                .iter()
                .map(|(k, v)| (k.clone(), v.as_slice()))
                .collect();
            self.run_strict(|c| set_many(c, &refs, None))
                .map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    /// Every key starting with `prefix` (which holds no glob characters),
    /// on every node.
    ///
    /// # Errors
    ///
    /// The first failure.
    pub fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, RemoteError> {
        let fail = |e: RedisError| self.failed(e);
        let nodes: Vec<redis::Client> = match &self.client {
            Client::Single(client) => vec![client.clone()],
            Client::Cluster(_) => self.masters().map_err(fail)?,
        };
        let mut keys = Vec::new();
        for node in nodes {
            let mut conn = node
                .get_connection_with_timeout(self.timeout)
                .map_err(fail)?;
            conn.set_read_timeout(Some(self.timeout.max(Duration::from_secs(5))))
                .map_err(fail)?;
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{prefix}*"))
                    .arg("COUNT")
                    .arg(1000)
                    .query(&mut conn)
                    .map_err(fail)?;
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Fetches values for the CLI, in pipelines.
    ///
    /// # Errors
    ///
    /// The first failure.
    pub fn fetch(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, RemoteError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BULK) {
            out.extend(
                self.run_strict(|c| get_many(c, chunk))
                    .map_err(|e| self.failed(e))?,
            );
        }
        Ok(out)
    }

    /// A client for each master of the cluster, from `CLUSTER NODES` of the
    /// first node that answers.
    fn masters(&self) -> RedisResult<Vec<redis::Client>> {
        let mut last = None;
        for node in &self.nodes {
            let nodes = redis::Client::open(node.as_str())
                .and_then(|c| c.get_connection_with_timeout(self.timeout))
                .and_then(|mut c| redis::cmd("CLUSTER").arg("NODES").query::<String>(&mut c));
            match nodes {
                Ok(text) => {
                    return text
                        .lines()
                        .filter_map(|line| {
                            let fields: Vec<&str> = line.split(' ').collect();
                            let flags = fields.get(2)?;
                            let addr = fields.get(1)?.split('@').next()?;
                            (flags.contains("master") && !flags.contains("fail"))
                                .then(|| redis::Client::open(format!("redis://{addr}")))
                        })
                        .collect();
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| RedisError::from((redis::ErrorKind::Io, "no cluster node"))))
    }
}

fn get_many(c: &mut Conn, keys: &[String]) -> RedisResult<Vec<Option<Vec<u8>>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let cmds = keys
        .iter()
        .map(|k| {
            let mut cmd = redis::cmd("GET");
            cmd.arg(k);
            cmd
        })
        .collect();
    c.pipeline(cmds)?
        .into_iter()
        .map(|v| redis::from_redis_value(v).map_err(RedisError::from))
        .collect()
}

fn set_many(c: &mut Conn, entries: &[(String, &[u8])], ttl: Option<Duration>) -> RedisResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let cmds = entries
        .iter()
        .map(|(k, v)| {
            let mut cmd = redis::cmd("SET");
            cmd.arg(k).arg(*v);
            if let Some(ttl) = ttl {
                cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
            }
            cmd
        })
        .collect();
    c.pipeline(cmds).map(drop)
}
