//! The Redis client of the shared tier: a pool of connections to one server
//! or cluster, short timeouts, and fault handling. An operation that fails on
//! the network (refused, reset, timed out) logs one warning per remote and
//! rests the remote for a while (1 s, doubling to 30 s) so that calls do not
//! each wait for a dead server; the first operation after the rest tries
//! again. Deadlines follow progress: a value is read in pieces, each within
//! one timeout, and a store gets one timeout per piece it sends.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;

use super::health::Health;
use super::wait::{self, Reply};
use std::time::Duration;

use once_cell::sync::Lazy;
use redis::cluster::{ClusterClient, ClusterConnection, cluster_pipe};
use redis::{Cmd, ConnectionLike, RedisError, RedisResult, Value};

use super::{RemoteError, check_address, redacted};

/// Idle connection threads kept per remote.
const IDLE_MAX: usize = 16;
/// Connection threads per remote at most, idle or waiting on the remote.
const THREADS_MAX: usize = 64;

/// Work for a connection's thread, given its connection (`None` until one is
/// made) and a call that offers the thread for the next job: made before the
/// answer is sent, so that a caller's next operation finds it idle.
type Job = Box<dyn FnOnce(&mut Option<Conn>, &dyn Fn()) + Send>;
/// A value is read in pieces of at most this much, each within one
/// timeout: a big value over a live link completes, while a stalled one
/// costs one timeout. (256 KiB in 50 ms: a link of 5 MB/s or faster.)
const PIECE: usize = 256 * 1024;
/// Records per pipeline when pushing or pulling a namespace.
const BULK: usize = 500;

/// Deletes a lock only when it still holds the caller's token.
const UNLOCK_SCRIPT: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
/// Extends a lock only while it still holds the caller's token.
const RENEW_SCRIPT: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/// The largest value Redis takes by default (`proto-max-bulk-len`, 512 MB):
/// a bigger one is not sent, and says so.
pub const MAX_VALUE: usize = 512 * 1024 * 1024;

/// A cluster's masters to scan (address and client), and those skipped.
type Masters = (Vec<(String, redis::Client)>, Vec<String>);

/// Open remotes, by address, timeout and CA file.
type Opened = HashMap<(String, Duration, Option<PathBuf>), &'static Remote>;
static OPEN: Lazy<Mutex<Opened>> = Lazy::new(Default::default);

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
    /// Connection threads waiting for a job.
    idle: Mutex<Vec<mpsc::Sender<Job>>>,
    /// Connection threads alive.
    threads: AtomicUsize,
    /// Its rests after faults, and whether a fault was warned about.
    health: Health,
    /// The largest value the server takes (`proto-max-bulk-len`), asked at
    /// the first store; `0` until then.
    max_value: AtomicU64,
    /// The PEM of the CA file given for `rediss://` nodes.
    certs: Option<Vec<u8>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("address", &self.label)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A client error in words: a timeout says so.
fn describe(e: &RedisError, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("timed out (remote_timeout {} ms)", timeout.as_millis())
    } else {
        e.to_string()
    }
}

/// The error of an operation its caller stopped waiting for.
fn timed_out() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "timed out",
    ))
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
    pub fn open(
        spec: &str,
        timeout: Duration,
        ca: Option<&Path>,
    ) -> Result<&'static Remote, RemoteError> {
        let timeout = timeout.max(Duration::from_millis(1));
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        let id = (spec.to_string(), timeout, ca.map(Path::to_path_buf));
        if let Some(remote) = open.get(&id) {
            return Ok(remote);
        }
        check_address(spec).map_err(|reason| RemoteError::BadAddress {
            address: redacted(spec),
            reason: reason.to_string(),
        })?;
        let failed = |source| RemoteError::Redis {
            address: redacted(spec),
            source,
        };
        let nodes: Vec<&str> = crate::config::split_nodes(spec);
        // A CA file given and unreadable is a fault, never a quiet fall back
        // to the system's roots.
        let certs = match ca {
            Some(path) => Some(std::fs::read(path).map_err(|e| RemoteError::BadCa {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        let tls = |root_cert: Vec<u8>| redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_cert),
        };
        let client = if nodes.len() == 1 {
            Client::Single(match (&certs, nodes[0].starts_with("rediss://")) {
                (Some(pem), true) => {
                    redis::Client::build_with_tls(nodes[0], tls(pem.clone())).map_err(failed)?
                }
                _ => redis::Client::open(nodes[0]).map_err(failed)?,
            })
        } else {
            let mut builder = ClusterClient::builder(nodes.clone())
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(2)
                .min_retry_wait(1)
                .max_retry_wait(timeout.as_millis() as u64);
            if let Some(pem) = &certs {
                builder = builder.certs(tls(pem.clone()));
            }
            Client::Cluster(builder.build().map_err(failed)?)
        };
        let remote: &'static Remote = Box::leak(Box::new(Remote {
            label: redacted(spec),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            timeout,
            client,
            idle: Mutex::new(Vec::new()),
            threads: AtomicUsize::new(0),
            health: Health::default(),
            max_value: AtomicU64::new(0),
            certs,
        }));
        open.insert(id, remote);
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

    /// Runs `op` on a connection's thread and waits for it at most the
    /// timeout, whatever the link does: connecting, the handshake, the
    /// request and the whole reply are inside the one deadline. A thread
    /// still stuck on a slow link when the caller gives up finishes (or
    /// fails) on its own and is then reused. A pooled connection the server
    /// has closed meanwhile (a restart, an idle timeout) is replaced by a new
    /// one once; a timeout is not retried.
    fn run_strict<T: Send + 'static>(
        &'static self,
        op: impl FnMut(&mut Conn) -> RedisResult<T> + Send + 'static,
    ) -> RedisResult<T> {
        self.submit(op, self.timeout)?
            .wait()
            .unwrap_or_else(|| Err(timed_out()))
    }

    /// [`Remote::run_strict`] for `async` callers: the executor's thread
    /// is free while the connection thread works.
    async fn run_strict_async<T: Send + 'static>(
        &'static self,
        op: impl FnMut(&mut Conn) -> RedisResult<T> + Send + 'static,
    ) -> RedisResult<T> {
        self.submit(op, self.timeout)?
            .await
            .unwrap_or_else(|| Err(timed_out()))
    }

    /// Hands `op` to a connection thread; its reply is due within `due`.
    fn submit<T: Send + 'static>(
        &'static self,
        mut op: impl FnMut(&mut Conn) -> RedisResult<T> + Send + 'static,
        due: Duration,
    ) -> RedisResult<Reply<RedisResult<T>>> {
        let (reply, answer) = wait::reply(due);
        let job: Job = Box::new(move |slot: &mut Option<Conn>, ready: &dyn Fn()| {
            let out = self.on_connection(slot, &mut op);
            ready();
            answer.send(out);
        });
        self.dispatch(job)?;
        Ok(reply)
    }

    /// Runs `op` on the thread's connection (made when there is none).
    fn on_connection<T>(
        &self,
        slot: &mut Option<Conn>,
        op: &mut impl FnMut(&mut Conn) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let was_pooled = slot.is_some();
        let mut conn = match slot.take() {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let mut out = op(&mut conn);
        if was_pooled && matches!(&out, Err(e) if is_network(e) && !e.is_timeout()) {
            conn = self.connect()?;
            out = op(&mut conn);
        }
        // A connection that failed on the network may hold half an answer.
        if !matches!(&out, Err(e) if is_network(e)) {
            *slot = Some(conn);
        }
        out
    }

    /// Hands a job to an idle connection thread, or to a new one.
    fn dispatch(&'static self, job: Job) -> RedisResult<()> {
        let mut job = job;
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(thread) => match thread.send(job) {
                    Ok(()) => return Ok(()),
                    Err(mpsc::SendError(back)) => job = back,
                },
                None => break,
            }
        }
        if self.threads.fetch_add(1, Ordering::Relaxed) >= THREADS_MAX {
            self.threads.fetch_sub(1, Ordering::Relaxed);
            return Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out: every connection is waiting on the remote",
            )));
        }
        let (to_thread, jobs) = mpsc::channel::<Job>();
        let me = to_thread.clone();
        let spawned = std::thread::Builder::new()
            .name("permacache-remote".into())
            .spawn(move || {
                let mut conn = None;
                let offered = std::cell::Cell::new(false);
                let ready = || {
                    let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                    if idle.len() < IDLE_MAX {
                        idle.push(me.clone());
                        offered.set(true);
                    }
                };
                while let Ok(job) = jobs.recv() {
                    offered.set(false);
                    job(&mut conn, &ready);
                    if !offered.get() {
                        break;
                    }
                }
                self.threads.fetch_sub(1, Ordering::Relaxed);
            });
        if let Err(e) = spawned {
            self.threads.fetch_sub(1, Ordering::Relaxed);
            return Err(RedisError::from(e));
        }
        to_thread
            .send(job)
            .map_err(|_| RedisError::from((redis::ErrorKind::Io, "a connection thread ended")))
    }

    /// Runs `op` unless the remote is resting; a failure is logged (once)
    /// and gives `None`.
    fn run<T: Send + 'static>(
        &'static self,
        op: impl FnMut(&mut Conn) -> RedisResult<T> + Send + 'static,
    ) -> Option<T> {
        if self.is_resting() {
            return None;
        }
        self.settle(self.run_strict(op))
    }

    /// [`Remote::run`] for `async` callers.
    async fn run_async<T: Send + 'static>(
        &'static self,
        op: impl FnMut(&mut Conn) -> RedisResult<T> + Send + 'static,
    ) -> Option<T> {
        if self.is_resting() {
            return None;
        }
        self.settle(self.run_strict_async(op).await)
    }

    fn is_resting(&self) -> bool {
        self.health.is_resting()
    }

    /// What an operation's outcome means for the remote: a network failure
    /// rests it; any failure is logged (the first as a warning).
    fn settle<T>(&self, out: RedisResult<T>) -> Option<T> {
        match out {
            Ok(value) => {
                self.health.ok(&self.label);
                Some(value)
            }
            Err(e) => {
                self.health
                    .failed(&self.label, is_network(&e), &describe(&e, self.timeout));
                None
            }
        }
    }

    /// The values of `keys` (`None` for absent ones), or `None` when the
    /// remote cannot answer.
    pub(crate) fn get_many(&'static self, keys: &[String]) -> Option<Vec<Option<Vec<u8>>>> {
        wait::block_on(self.get_many_async(keys))
    }

    /// [`Remote::get_many`] for `async` callers. Each value's first piece
    /// comes in one round trip for all keys; the rest of a big value, piece
    /// by piece, each within one timeout.
    pub(crate) async fn get_many_async(
        &'static self,
        keys: &[String],
    ) -> Option<Vec<Option<Vec<u8>>>> {
        let owned = keys.to_vec();
        let heads = self.run_async(move |c| get_heads(c, &owned)).await?;
        let mut out = Vec::with_capacity(heads.len());
        for (key, head) in keys.iter().zip(heads) {
            out.push(match head {
                Some((value, total)) if value.len() < total => {
                    self.rest_of(key, value, total, |op| self.run_async(op))
                        .await
                }
                head => head.map(|(value, _)| value),
            });
        }
        Some(out)
    }

    /// A big value's remaining pieces after its first, `value`; `None` when
    /// one does not come within a timeout, or the value changed meanwhile.
    async fn rest_of<F, Fut>(
        &'static self,
        key: &str,
        mut value: Vec<u8>,
        total: usize,
        run: F,
    ) -> Option<Vec<u8>>
    where
        F: Fn(Box<dyn FnMut(&mut Conn) -> RedisResult<Vec<u8>> + Send>) -> Fut,
        Fut: std::future::Future<Output = Option<Vec<u8>>>,
    {
        value.reserve_exact(total - value.len());
        while value.len() < total {
            let (start, end) = (value.len(), (value.len() + PIECE).min(total));
            let mut cmd = redis::cmd("GETRANGE");
            cmd.arg(key).arg(start).arg(end - 1);
            let piece = run(Box::new(move |c| c.query::<Vec<u8>>(&cmd))).await?;
            if piece.len() != end - start {
                log::debug!("permacache: remote key {key} changed while it was read; a miss");
                return None;
            }
            value.extend_from_slice(&piece);
        }
        Some(value)
    }

    /// Stores values, each expiring after `ttl` when given. A value over
    /// Redis's size limit is not sent (a warning says so), and the others
    /// are.
    pub(crate) fn set_many(&'static self, entries: &[(String, &[u8])], ttl: Option<Duration>) {
        if self.is_resting() {
            return;
        }
        let fit = self.fitting(entries, self.max_value());
        let due = self.due_for(&fit);
        self.settle(
            self.submit(move |c| set_many(c, &fit, ttl), due)
                .and_then(|reply| reply.wait().unwrap_or_else(|| Err(timed_out()))),
        );
    }

    /// How long a store of these values may take: one timeout, and one more
    /// per piece it sends, so a big value over a live link completes.
    fn due_for(&self, entries: &[(String, Vec<u8>)]) -> Duration {
        let bytes: usize = entries.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.timeout * (1 + (bytes / PIECE) as u32)
    }

    /// [`Remote::set_many`] for `async` callers.
    pub(crate) async fn set_many_async(
        &'static self,
        entries: &[(String, &[u8])],
        ttl: Option<Duration>,
    ) {
        if self.is_resting() {
            return;
        }
        let limit = match self.max_value.load(Ordering::Relaxed) {
            0 => self.learn_max_value(self.run_strict_async(max_value_op()).await),
            known => known,
        };
        let fit = self.fitting(entries, limit);
        let due = self.due_for(&fit);
        let sent = match self.submit(move |c| set_many(c, &fit, ttl), due) {
            Ok(reply) => reply.await.unwrap_or_else(|| Err(timed_out())),
            Err(e) => Err(e),
        };
        self.settle(sent);
    }

    /// The entries under `limit` bytes, owned; a warning for each other.
    fn fitting(&self, entries: &[(String, &[u8])], limit: u64) -> Vec<(String, Vec<u8>)> {
        let mut fit = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            if value.len() as u64 <= limit {
                fit.push((key.clone(), value.to_vec()));
            } else {
                warning!(
                    "permacache: remote {}: a value of {} bytes is over the server's limit for one value (proto-max-bulk-len, {limit} bytes); {key} is kept in the local store only",
                    self.label,
                    value.len()
                );
            }
        }
        fit
    }

    /// The largest value the server takes: its `proto-max-bulk-len`, asked
    /// once (Redis's default where `CONFIG` is not allowed).
    fn max_value(&'static self) -> u64 {
        match self.max_value.load(Ordering::Relaxed) {
            0 => self.learn_max_value(self.run_strict(max_value_op())),
            known => known,
        }
    }

    fn learn_max_value(&self, asked: RedisResult<Vec<String>>) -> u64 {
        let asked = asked
            .ok()
            .and_then(|pair| pair.get(1).and_then(|v| v.parse::<u64>().ok()))
            .filter(|&n| n > 0);
        // A value a little under the limit still carries its key and the
        // command around it.
        let limit = asked
            .unwrap_or(MAX_VALUE as u64)
            .saturating_sub(1024)
            .max(1);
        self.max_value.store(limit, Ordering::Relaxed);
        limit
    }

    /// Deletes a key.
    pub(crate) fn delete(&'static self, key: &str) {
        let key = key.to_string();
        self.run(move |c| c.query::<()>(redis::cmd("DEL").arg(&key)));
    }

    /// Removes keys for the CLI, reporting a failure.
    ///
    /// # Errors
    ///
    /// The failure.
    pub fn remove(&'static self, keys: &[String]) -> Result<(), RemoteError> {
        for key in keys {
            let key = key.clone();
            self.run_strict(move |c| c.query::<()>(redis::cmd("DEL").arg(&key)))
                .map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    /// Takes the lock `key` with `token` for `lease`, for `async` callers
    /// (plain calls wait on it too): `Some(true)` when taken, `Some(false)`
    /// when another holds it, `None` when the remote cannot answer.
    pub(crate) async fn try_lock_async(
        &'static self,
        key: &str,
        token: &str,
        lease: Duration,
    ) -> Option<bool> {
        self.run_async(try_lock_op(key, token, lease)).await
    }

    /// Releases the lock `key` if it still holds `token`, without waiting:
    /// sent even while the remote rests (after a failed store, say), so that
    /// waiters never wait out a lease for a holder that is done. A release
    /// that fails leaves the lock to expire within [`HOLD`](super::tier::HOLD).
    pub(crate) fn unlock(&'static self, key: &str, token: &str) {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(UNLOCK_SCRIPT).arg(1).arg(key).arg(token);
        if let Err(e) = self.submit(move |c| c.query::<i64>(&cmd), self.timeout) {
            log::debug!(
                "permacache: remote {}: cannot release {key}: {}",
                self.label,
                describe(&e, self.timeout),
            );
        }
    }

    /// Extends the lock `key` by `hold` if it still holds `token`; whether it
    /// does.
    pub(crate) fn renew(&'static self, key: &str, token: &str, hold: Duration) -> bool {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RENEW_SCRIPT)
            .arg(1)
            .arg(key)
            .arg(token)
            .arg(hold.as_millis().max(1) as u64);
        self.run_strict(move |c| c.query::<i64>(&cmd))
            .is_ok_and(|n| n == 1)
    }

    /// The value of `key` and whether the lock `lock` is held, in one round
    /// trip.
    pub(crate) async fn poll_async(
        &'static self,
        key: &str,
        lock: &str,
    ) -> Option<(Option<Vec<u8>>, bool)> {
        self.run_async(poll_op(key, lock)).await
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
    pub fn push(&'static self, entries: &[(String, Vec<u8>)]) -> Result<(), RemoteError> {
        for chunk in entries.chunks(BULK) {
            let chunk = chunk.to_vec();
            self.run_strict(move |c| set_many(c, &chunk, None))
                .map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    /// Every key starting with `prefix` (which holds no glob characters),
    /// on every node; and the cluster masters that could not be scanned
    /// (down or failing), as their addresses.
    ///
    /// # Errors
    ///
    /// The first failure of a single server, or no master answering.
    pub fn keys_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<(Vec<String>, Vec<String>), RemoteError> {
        let fail = |e: RedisError| self.failed(e);
        let (nodes, mut skipped): Masters = match &self.client {
            Client::Single(client) => (vec![(self.label.clone(), client.clone())], Vec::new()),
            Client::Cluster(_) => self.masters().map_err(fail)?,
        };
        let cluster = matches!(self.client, Client::Cluster(_));
        let mut keys = Vec::new();
        for (address, node) in nodes {
            match self.scan(&node, prefix) {
                Ok(found) => keys.extend(found),
                Err(e) if cluster => {
                    skipped.push(format!("{address} ({})", describe(&e, self.timeout)))
                }
                Err(e) => return Err(fail(e)),
            }
        }
        keys.sort();
        keys.dedup();
        Ok((keys, skipped))
    }

    /// The keys starting with `prefix` on one node.
    fn scan(&self, node: &redis::Client, prefix: &str) -> RedisResult<Vec<String>> {
        let mut conn = node.get_connection_with_timeout(self.timeout)?;
        conn.set_read_timeout(Some(self.timeout.max(Duration::from_secs(5))))?;
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// Fetches values for the CLI, in pipelines.
    ///
    /// # Errors
    ///
    /// The first failure.
    pub fn fetch(&'static self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, RemoteError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BULK) {
            let heads = self
                .run_strict({
                    let chunk = chunk.to_vec();
                    move |c| get_heads(c, &chunk)
                })
                .map_err(|e| self.failed(e))?;
            for (key, head) in chunk.iter().zip(heads) {
                out.push(match head {
                    Some((value, total)) if value.len() < total => {
                        let strict = |op| async move { self.run_strict(op).ok() };
                        wait::block_on(self.rest_of(key, value, total, strict))
                    }
                    head => head.map(|(value, _)| value),
                });
            }
        }
        Ok(out)
    }

    /// A client for each master of the cluster, from `CLUSTER NODES` of the
    /// first node that answers, with the credentials of the address; and the
    /// masters marked failing, as skipped.
    fn masters(&self) -> RedisResult<Masters> {
        let mut last = None;
        for node in &self.nodes {
            let seed = match &self.certs {
                Some(pem) if node.starts_with("rediss://") => redis::Client::build_with_tls(
                    node.as_str(),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem.clone()),
                    },
                ),
                _ => redis::Client::open(node.as_str()),
            };
            let nodes = seed
                .and_then(|c| c.get_connection_with_timeout(self.timeout))
                .and_then(|mut c| redis::cmd("CLUSTER").arg("NODES").query::<String>(&mut c));
            let text = match nodes {
                Ok(text) => text,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            // `redis[s]://[user[:password]@]`: what every master is reached
            // with.
            let scheme_end = node.find("://").map_or(0, |i| i + 3);
            let (scheme, rest) = node.split_at(scheme_end);
            let userinfo = rest.rfind('@').map_or("", |at| &rest[..=at]);
            let (mut ok, mut skipped) = (Vec::new(), Vec::new());
            for line in text.lines() {
                let fields: Vec<&str> = line.split(' ').collect();
                let (Some(flags), Some(addr)) = (fields.get(2), fields.get(1)) else {
                    continue;
                };
                let addr = addr.split('@').next().unwrap_or(addr);
                if !flags.contains("master") {
                    continue;
                }
                if flags.contains("fail") {
                    skipped.push(format!("{addr} (marked failing)"));
                    continue;
                }
                let url = format!("{scheme}{userinfo}{addr}");
                let client = match &self.certs {
                    Some(pem) if scheme == "rediss://" => redis::Client::build_with_tls(
                        url,
                        redis::TlsCertificates {
                            client_tls: None,
                            root_cert: Some(pem.clone()),
                        },
                    )?,
                    _ => redis::Client::open(url)?,
                };
                ok.push((addr.to_string(), client));
            }
            return Ok((ok, skipped));
        }
        Err(last.unwrap_or_else(|| RedisError::from((redis::ErrorKind::Io, "no cluster node"))))
    }
}

/// Asks the server's limit for one value.
fn max_value_op() -> impl FnMut(&mut Conn) -> RedisResult<Vec<String>> + Send + 'static {
    |c| c.query::<Vec<String>>(redis::cmd("CONFIG").arg("GET").arg("proto-max-bulk-len"))
}

/// Takes a lock if free: whether it was.
fn try_lock_op(
    key: &str,
    token: &str,
    lease: Duration,
) -> impl FnMut(&mut Conn) -> RedisResult<bool> + Send + 'static {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key)
        .arg(token)
        .arg("NX")
        .arg("PX")
        .arg(lease.as_millis().max(1) as u64);
    move |c| Ok(c.query::<Option<String>>(&cmd)?.is_some())
}

/// A value and whether a lock is held, in one round trip.
type Polled = (Option<Vec<u8>>, bool);

fn poll_op(key: &str, lock: &str) -> impl FnMut(&mut Conn) -> RedisResult<Polled> + Send + 'static {
    let mut get = redis::cmd("GET");
    get.arg(key);
    let mut exists = redis::cmd("EXISTS");
    exists.arg(lock);
    move |c| {
        let values = c.pipeline(vec![get.clone(), exists.clone()])?;
        let mut values = values.into_iter();
        let value: Option<Vec<u8>> = redis::from_redis_value(values.next().unwrap_or(Value::Nil))?;
        let held: i64 = redis::from_redis_value(values.next().unwrap_or(Value::Int(0)))?;
        Ok((value, held > 0))
    }
}

/// A value's first piece and its whole length, `None` when absent.
type Head = Option<(Vec<u8>, usize)>;

/// The first piece ([`PIECE`] bytes at most) and the length of each key's
/// value, in one round trip (per node, on a cluster).
fn get_heads(c: &mut Conn, keys: &[String]) -> RedisResult<Vec<Head>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let head_cmds = |k: &String| {
        let mut range = redis::cmd("GETRANGE");
        range.arg(k).arg(0).arg(PIECE - 1);
        let mut len = redis::cmd("STRLEN");
        len.arg(k);
        [range, len]
    };
    let cmds = keys.iter().flat_map(head_cmds).collect();
    let values = match c.pipeline(cmds) {
        Ok(values) => values,
        // One key the server refuses (WRONGTYPE, say) fails the pipeline:
        // ask again key by key, and only that key is a miss.
        Err(e) if !is_network(&e) => {
            return Ok(keys
                .iter()
                .map(|k| match c.pipeline(head_cmds(k).to_vec()) {
                    Ok(pair) => head(pair, k),
                    Err(e) => {
                        log::debug!("permacache: remote key {k}: {e}; a miss");
                        None
                    }
                })
                .collect());
        }
        Err(e) => return Err(e),
    };
    let mut values = values.into_iter();
    Ok(keys
        .iter()
        .map(|k| head(values.by_ref().take(2).collect(), k))
        .collect())
}

/// A key's head from the replies to its `GETRANGE` and `STRLEN`.
fn head(pair: Vec<Value>, key: &str) -> Head {
    let mut pair = pair.into_iter();
    let (Some(range), Some(len)) = (pair.next(), pair.next()) else {
        return None;
    };
    match (
        redis::from_redis_value::<Vec<u8>>(range),
        redis::from_redis_value::<usize>(len),
    ) {
        // Absent (a sealed value is never empty).
        (Ok(_), Ok(0)) => None,
        (Ok(value), Ok(total)) if value.len() <= total && !value.is_empty() => Some((value, total)),
        (range, len) => {
            log::debug!(
                "permacache: remote key {key}: unexpected replies ({:?}, {:?}); a miss",
                range.err(),
                len.err()
            );
            None
        }
    }
}

fn set_many(c: &mut Conn, entries: &[(String, Vec<u8>)], ttl: Option<Duration>) -> RedisResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let cmds = entries
        .iter()
        .map(|(k, v)| {
            let mut cmd = redis::cmd("SET");
            cmd.arg(k).arg(v.as_slice());
            if let Some(ttl) = ttl {
                cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
            }
            cmd
        })
        .collect();
    c.pipeline(cmds).map(drop)
}
