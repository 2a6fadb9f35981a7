//! The permacache.toml model, shared by the build check and the runtime: the
//! schema, its validation with `file:line:column` errors, the settings string
//! a build passes to the `permacached!` functions, and the namespace path
//! rule. Depends on std, serde and toml only, so a build script can include
//! it by path.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// permacache.toml, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Undeclared and unused namespaces are errors, not warnings.
    #[serde(default)]
    pub strict: bool,
    /// Where the store lives.
    #[serde(default)]
    pub store: StoreSection,
    /// The namespaces, by path.
    #[serde(default)]
    pub namespace: BTreeMap<Spanned<String>, NamespaceConfig>,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// The store root, relative to the crate root.
    pub dir: Option<Spanned<String>>,
    /// `"redis://host:port/db"`, a comma-separated list of cluster nodes, or
    /// `"off"`: the shared tier.
    pub remote: Option<Spanned<String>>,
    /// How long a remote operation may take before the call goes on without
    /// it, such as `"50ms"`.
    pub remote_timeout: Option<Spanned<String>>,
    /// Cross-machine compute-once: how long a worker holds the lock on a key
    /// it computes (and others wait at most), such as `"10m"`; or `"off"`.
    pub remote_lock: Option<Spanned<String>>,
    /// A PEM file of the certificate authorities a `rediss://` remote's
    /// certificate is verified against, instead of the system's; relative
    /// to the crate root.
    pub remote_ca: Option<Spanned<String>>,
    /// `"s3://bucket/prefix"` or `"off"`: the object-store tier (feature
    /// `s3`), for records too big for Redis or instead of it.
    pub objects: Option<Spanned<String>>,
    /// With both Redis and an object store, records this big or bigger go
    /// to the object store, such as `"1MB"` (the default 1 MiB).
    pub objects_min_size: Option<Spanned<String>>,
    /// The most the whole store may take on disk, such as `"20GB"`: the
    /// least recently used entries are evicted to keep it.
    pub max_size: Option<Spanned<String>>,
}

/// Whether `name` can be listed in `env`: letters, digits and `_`, not
/// starting with a digit (so that the settings string can list them).
pub fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// serde's default of `track_body`: on.
fn yes() -> bool {
    true
}

/// `[namespace."path"]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceConfig {
    /// Entries written under another version are not served.
    #[serde(default)]
    pub version: u32,
    /// How values are encoded.
    #[serde(default)]
    pub codec: CodecName,
    /// How durable a commit is: `"no-meta-sync"` (the default), `"full"` or
    /// `"off"`.
    #[serde(default)]
    pub sync: SyncName,
    /// What the namespace holds, for people.
    pub description: Option<String>,
    /// Entries written by another body of the function, or of anything of
    /// the crate it reaches by name, are not served.
    #[serde(default = "yes")]
    pub track_body: bool,
    /// Entries written when a dependency (in Cargo.lock) had another version
    /// are not served.
    #[serde(default)]
    pub track_deps: bool,
    /// Entries older than this are misses, such as `"30d"`.
    pub ttl: Option<Spanned<String>>,
    /// Who the namespace's entries belong to: the crate's package name by
    /// default. Crates that name the same owner share entries on purpose.
    pub owner: Option<Spanned<String>>,
    /// The most the namespace may take on disk, such as `"2GB"`: the least
    /// recently used entries are evicted to keep it.
    pub max_size: Option<Spanned<String>>,
    /// How long a call waits for another process computing the same key
    /// before it computes the key itself, such as `"30m"` (default one hour).
    pub lock_wait: Option<Spanned<String>>,
    /// Environment variables whose values are part of the entries' identity
    /// (`env = ["MODEL_DIR"]`): a changed value is a miss.
    pub env: Option<Spanned<Vec<String>>>,
    /// `"redis://host:port/db"`, a comma-separated list of cluster nodes, or
    /// `"off"`: the shared tier.
    pub remote: Option<Spanned<String>>,
    /// How long a remote operation may take before the call goes on without
    /// it, such as `"50ms"`.
    pub remote_timeout: Option<Spanned<String>>,
    /// Cross-machine compute-once: how long a worker holds the lock on a key
    /// it computes (and others wait at most), such as `"10m"`; or `"off"`.
    pub remote_lock: Option<Spanned<String>>,
    /// A PEM file of the certificate authorities a `rediss://` remote's
    /// certificate is verified against, instead of the system's; relative
    /// to the crate root.
    pub remote_ca: Option<Spanned<String>>,
    /// `"s3://bucket/prefix"` or `"off"`: the object-store tier (feature
    /// `s3`), for records too big for Redis or instead of it.
    pub objects: Option<Spanned<String>>,
    /// With both Redis and an object store, records this big or bigger go
    /// to the object store, such as `"1MB"` (the default 1 MiB).
    pub objects_min_size: Option<Spanned<String>>,
}

/// A setting's value that is not what was expected: what it is, and what
/// is expected, in words (a permacache.toml error adds where it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue(pub(crate) String);

impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadValue {}

/// Checks an `owner` value: letters, digits, `_`, `-` and `.`, like a
/// package name.
///
/// # Errors
///
/// What was expected.
pub fn check_owner(owner: &str) -> Result<(), BadValue> {
    if owner.is_empty()
        || !owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    {
        return Err(BadValue(format!(
            "bad owner {owner:?}: expected a name of letters, digits, `_`, `-` and `.`, like a package name"
        )));
    }
    Ok(())
}

/// The shared-tier keys of `[store]` or of a namespace.
struct RemoteKeys<'a> {
    remote: &'a Option<Spanned<String>>,
    remote_timeout: &'a Option<Spanned<String>>,
    remote_lock: &'a Option<Spanned<String>>,
    remote_ca: &'a Option<Spanned<String>>,
    objects: &'a Option<Spanned<String>>,
    objects_min_size: &'a Option<Spanned<String>>,
}

macro_rules! remote_keys {
    ($section:expr) => {
        RemoteKeys {
            remote: &$section.remote,
            remote_timeout: &$section.remote_timeout,
            remote_lock: &$section.remote_lock,
            remote_ca: &$section.remote_ca,
            objects: &$section.objects,
            objects_min_size: &$section.objects_min_size,
        }
    };
}

/// The shared-tier keys in force for a namespace: its own, else `[store]`'s,
/// trimmed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RemoteInForce {
    pub remote: Option<String>,
    pub remote_timeout: Option<String>,
    pub remote_lock: Option<String>,
    pub remote_ca: Option<String>,
    pub objects: Option<String>,
    pub objects_min_size: Option<String>,
}

impl NamespaceConfig {
    /// The shared-tier keys in force for this namespace under `store`.
    pub fn remote_in_force(&self, store: &StoreSection) -> RemoteInForce {
        let (ns, store) = (remote_keys!(self), remote_keys!(store));
        let pick = |key: for<'k> fn(&RemoteKeys<'k>) -> &'k Option<Spanned<String>>| {
            key(&ns)
                .as_ref()
                .or(key(&store).as_ref())
                .map(|v| v.get_ref().trim().to_string())
        };
        RemoteInForce {
            remote: pick(|r| r.remote),
            remote_timeout: pick(|r| r.remote_timeout),
            remote_lock: pick(|r| r.remote_lock),
            remote_ca: pick(|r| r.remote_ca),
            objects: pick(|r| r.objects),
            objects_min_size: pick(|r| r.objects_min_size),
        }
    }
}

/// The default of `remote_timeout`, in milliseconds.
pub const DEFAULT_REMOTE_TIMEOUT_MS: u64 = 50;

impl RemoteKeys<'_> {
    /// The problems of these keys, each with the span of its value.
    fn problems(&self) -> Vec<(std::ops::Range<usize>, String)> {
        let mut out = Vec::new();
        if let Some(remote) = &self.remote
            && let Err(e) = check_remote(remote.get_ref())
        {
            out.push((remote.span(), format!("bad remote: {e}")));
        }
        if let Some(t) = &self.remote_timeout
            && let Err(e) = parse_millis(t.get_ref())
        {
            out.push((t.span(), format!("bad remote_timeout: {e}")));
        }
        if let Some(l) = &self.remote_lock
            && l.get_ref() != "off"
            && let Err(e) = parse_millis(l.get_ref())
        {
            out.push((l.span(), format!("bad remote_lock: {e}, or \"off\"")));
        }
        if let Some(ca) = &self.remote_ca
            && (ca.get_ref().trim().is_empty() || ca.get_ref().contains(';'))
        {
            out.push((
                ca.span(),
                "bad remote_ca: expected the path of a PEM file of certificate authorities, without `;`".into(),
            ));
        }
        if let Some(objects) = &self.objects
            && let Err(e) = check_objects(objects.get_ref())
        {
            out.push((objects.span(), format!("bad objects: {e}")));
        }
        if let Some(size) = &self.objects_min_size
            && let Err(e) = parse_size(size.get_ref())
        {
            out.push((size.span(), format!("bad objects_min_size: {e}")));
        }
        out
    }
}

/// Checks a `remote` value: `"off"`, or one or more comma-separated
/// `redis://host[:port][/db]` addresses (several make a Redis Cluster).
///
/// # Errors
///
/// What was expected.
pub fn check_remote(text: &str) -> Result<(), BadValue> {
    if text.trim() == "off" {
        return Ok(());
    }
    for node in split_nodes(text) {
        let Some(rest) = node
            .strip_prefix("redis://")
            .or_else(|| node.strip_prefix("rediss://"))
        else {
            return Err(BadValue(format!(
                "{:?} is not a Redis address; expected \"redis://host:port/db\" (\"rediss://\" for TLS), a comma-separated list of cluster nodes, or \"off\"",
                redact_node(node)
            )));
        };
        let host = rest.rsplit('@').next().unwrap_or("");
        if host.is_empty() || host.starts_with(':') || host.starts_with('/') {
            return Err(BadValue(format!(
                "{:?} has no host; expected redis://host:port",
                redact_node(node)
            )));
        }
    }
    Ok(())
}

/// Checks an `objects` value: `"off"`, `"s3://bucket"` or
/// `"s3://bucket/prefix"`.
///
/// # Errors
///
/// What was expected.
pub fn check_objects(spec: &str) -> Result<(), BadValue> {
    if spec.trim() == "off" {
        return Ok(());
    }
    split_objects(spec).map(|_| ())
}

/// The bucket and the key prefix (empty, or ending in `/`) of an
/// object-store address.
///
/// # Errors
///
/// What was expected.
pub fn split_objects(spec: &str) -> Result<(String, String), BadValue> {
    let spec = spec.trim();
    let expected = "expected \"s3://bucket\" or \"s3://bucket/prefix\" (or \"off\")";
    let Some(rest) = spec.strip_prefix("s3://") else {
        return Err(BadValue(format!(
            "{spec:?} is not an object-store address; {expected}"
        )));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !bucket.starts_with(['.', '-'])
        && !bucket.ends_with(['.', '-']);
    if !bucket_ok {
        return Err(BadValue(format!(
            "{bucket:?} is not a bucket name (3 to 63 lowercase letters, digits, `.` and `-`); {expected}"
        )));
    }
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty()
        && (prefix.contains(';')
            || prefix
                .split('/')
                .any(|part| part.is_empty() || part == ".."))
    {
        return Err(BadValue(format!(
            "{prefix:?} is not a key prefix (no `;`, `..` or empty parts); {expected}"
        )));
    }
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    Ok((bucket.to_string(), prefix))
}

/// The nodes of a remote address: split at the commas that start another
/// `redis://` or `rediss://` address (a password may hold a comma), trimmed.
pub fn split_nodes(spec: &str) -> Vec<&str> {
    let mut nodes = Vec::new();
    let mut start = 0;
    for (at, _) in spec.match_indices(',') {
        let rest = spec[at + 1..].trim_start();
        if rest.starts_with("redis://") || rest.starts_with("rediss://") {
            nodes.push(spec[start..at].trim());
            start = at + 1;
        }
    }
    nodes.push(spec[start..].trim());
    nodes
}

/// One node's address with its password (whatever lies between the user
/// name's `:` and the last `@`) replaced by `***`.
pub fn redact_node(node: &str) -> String {
    let Some(scheme) = node.find("://") else {
        return node.to_string();
    };
    match node.rfind('@') {
        Some(at) if at > scheme => {
            let user_end = node[scheme + 3..at]
                .find(':')
                .map_or(at, |c| scheme + 3 + c);
            if user_end == at {
                // A name alone: `redis://secret@host` is a password to Redis.
                format!("{}***{}", &node[..scheme + 3], &node[at..])
            } else {
                format!("{}:***{}", &node[..user_end], &node[at..])
            }
        }
        _ => node.to_string(),
    }
}
/// A codec's name in permacache.toml.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodecName {
    /// postcard, the default.
    #[default]
    Postcard,
    /// JSON.
    Json,
    /// CBOR.
    Cbor,
}

/// A `sync` value in permacache.toml: what a commit waits for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncName {
    /// Data and meta pages flushed to disk at every commit.
    Full,
    /// Data flushed, the meta page left to the OS (the default).
    #[default]
    NoMetaSync,
    /// Nothing flushed at commit: the OS writes when it will.
    Off,
}

impl SyncName {
    /// Every `sync` value by its name in permacache.toml and the settings
    /// string: the one table of durability names.
    pub const NAMES: [(SyncName, &'static str); 3] = [
        (SyncName::Full, "full"),
        (SyncName::NoMetaSync, "no-meta-sync"),
        (SyncName::Off, "off"),
    ];

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        name_in(&Self::NAMES, self)
    }

    /// The value named `name` (at compile time too).
    pub const fn from_name(name: &str) -> Option<SyncName> {
        value_in(&Self::NAMES, name)
    }
}

impl CodecName {
    /// Every codec by its name in permacache.toml and the settings string:
    /// the one table of codec names (their record tags are
    /// `store::Codec`'s).
    pub const NAMES: [(CodecName, &'static str); 3] = [
        (CodecName::Postcard, "postcard"),
        (CodecName::Json, "json"),
        (CodecName::Cbor, "cbor"),
    ];

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        name_in(&Self::NAMES, self)
    }

    /// The codec named `name` (at compile time too).
    pub const fn from_name(name: &str) -> Option<CodecName> {
        value_in(&Self::NAMES, name)
    }
}

fn name_in<T: PartialEq + Copy>(table: &[(T, &'static str)], value: T) -> &'static str {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, name)| *name)
        .expect("every value is in its table")
}

const fn value_in<T: Copy>(table: &[(T, &'static str)], name: &str) -> Option<T> {
    let mut i = 0;
    while i < table.len() {
        let (value, n) = table[i];
        if n.len() == name.len() {
            let (a, b) = (n.as_bytes(), name.as_bytes());
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return Some(value);
            }
        }
        i += 1;
    }
    None
}

/// A problem in permacache.toml, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong and what is expected.
    pub message: String,
}

/// The 1-based line and column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Config {
    /// Parses and validates permacache.toml.
    ///
    /// # Errors
    ///
    /// Every problem found, each with its line and column.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        let at = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            ConfigError {
                line,
                column,
                message,
            }
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().replace('\n', " ");
            vec![at(e.span().unwrap_or(0..0), message)]
        })?;
        let mut errors = Vec::new();
        for (path, ns) in &config.namespace {
            if let Some(problem) = namespace_path_problem(path.get_ref()) {
                errors.push(at(
                    path.span(),
                    format!(
                        "bad namespace path {:?}: {}; expected a relative path like \"unique/path/f\"",
                        path.get_ref(),
                        problem.reason()
                    ),
                ));
            }
            if let Some(ttl) = &ns.ttl
                && let Err(e) = parse_duration(ttl.get_ref())
            {
                errors.push(at(ttl.span(), format!("bad ttl: {e}")));
            }
            if let Some(owner) = &ns.owner
                && let Err(e) = check_owner(owner.get_ref())
            {
                errors.push(at(owner.span(), e.to_string()));
            }
            if let Some(size) = &ns.max_size
                && let Err(e) = parse_size(size.get_ref())
            {
                errors.push(at(size.span(), format!("bad max_size: {e}")));
            }
            if let Some(wait) = &ns.lock_wait
                && let Err(e) = parse_millis(wait.get_ref())
            {
                errors.push(at(wait.span(), format!("bad lock_wait: {e}")));
            }
            if let Some(env) = &ns.env
                && let Some(bad) = env.get_ref().iter().find(|v| !is_env_name(v))
            {
                errors.push(at(
                    env.span(),
                    format!(
                        "bad env: {bad:?} is not an environment variable name (expected letters, digits and '_', not starting with a digit)"
                    ),
                ));
            }
            for (span, message) in remote_keys!(ns).problems() {
                errors.push(at(span, message));
            }
        }
        for (span, message) in remote_keys!(config.store).problems() {
            errors.push(at(span, message));
        }
        if let Some(size) = &config.store.max_size
            && let Err(e) = parse_size(size.get_ref())
        {
            errors.push(at(size.span(), format!("bad max_size: {e}")));
        }
        if let Some(dir) = &config.store.dir
            && dir.get_ref().trim().is_empty()
        {
            errors.push(at(
                dir.span(),
                "[store] dir is empty; expected a directory path".into(),
            ));
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }
}

/// Parses a duration such as `45s`, `15m`, `12h`, `30d` or `2w` into seconds.
///
/// # Errors
///
/// What was expected, when `text` is not such a duration.
pub fn parse_duration(text: &str) -> Result<u64, BadValue> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(n) if unit_secs > 0 && n > 0 => n
            .checked_mul(unit_secs)
            .ok_or_else(|| BadValue(format!("{text:?} is too long"))),
        _ => Err(BadValue(format!(
            "{text:?} is not a duration; expected a positive number and a unit, like \"45s\", \"15m\", \"12h\", \"30d\" or \"2w\""
        ))),
    }
}

/// Parses a size such as `20GB`, `512MiB` or `1.5GB` into bytes: `B`, `KB`,
/// `MB`, `GB`, `TB` (powers of 1000) or `KiB`, `MiB`, `GiB`, `TiB` (powers of
/// 1024), upper or lower case.
///
/// # Errors
///
/// What was expected, when `text` is not such a size.
pub fn parse_size(text: &str) -> Result<u64, BadValue> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit_bytes: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => 0,
    };
    match number.parse::<f64>() {
        Ok(n) if unit_bytes > 0 && n > 0.0 && n.is_finite() && !number.starts_with('.') => {
            let bytes = n * unit_bytes as f64;
            if bytes >= u64::MAX as f64 {
                Err(BadValue(format!("{text:?} is too big")))
            } else if bytes < 1.0 {
                Err(BadValue(format!("{text:?} is less than a byte")))
            } else {
                Ok(bytes as u64)
            }
        }
        _ => Err(BadValue(format!(
            "{text:?} is not a size; expected a positive number and a unit, like \"20GB\", \"512MB\", \"1.5GiB\" or \"800KB\""
        ))),
    }
}

/// Parses a duration such as `50ms`, `2s` or `10m` into milliseconds: the
/// units of [`parse_duration`] and `ms`.
///
/// # Errors
///
/// What was expected, when `text` is not such a duration.
pub fn parse_millis(text: &str) -> Result<u64, BadValue> {
    let t = text.trim();
    if let Some(ms) = t.strip_suffix("ms")
        && !ms.is_empty()
        && ms.bytes().all(|b| b.is_ascii_digit())
    {
        return match ms.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(BadValue(format!("{text:?} is not a positive duration"))),
        };
    }
    parse_duration(t)
        .map(|secs| secs.saturating_mul(1000))
        .map_err(|_| {
            BadValue(format!(
                "{text:?} is not a duration; expected a positive number and a unit, like \"50ms\", \"2s\" or \"10m\""
            ))
        })
}

/// Why a namespace path is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// `""`.
    Empty,
    /// Starts with `/`.
    Absolute,
    /// `a//b` or a trailing `/`.
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// A segment named `data.mdb` or `lock.mdb`.
    StoreFile,
    /// Another character than letters, digits, `_`, `-`, `.` and `/`.
    BadCharacter,
}

impl PathProblem {
    /// What is wrong, in a few words.
    pub const fn reason(self) -> &'static str {
        match self {
            PathProblem::Empty => "it is empty",
            PathProblem::Absolute => "it is absolute",
            PathProblem::EmptySegment => "it has an empty segment",
            PathProblem::DotSegment => "'.' and '..' segments are not allowed",
            PathProblem::StoreFile => "data.mdb and lock.mdb are the store's own files",
            PathProblem::BadCharacter => {
                "it has a character other than letters, digits, '_', '-', '.' and '/'"
            }
        }
    }

    /// The whole compile error of `permacached!` (const panics take no
    /// formatting).
    pub const fn compile_error(self) -> &'static str {
        match self {
            PathProblem::Empty => {
                "permacached!: bad namespace path: it is empty; expected a relative path like \"unique/path/f\""
            }
            PathProblem::Absolute => {
                "permacached!: bad namespace path: it is absolute; expected a relative path like \"unique/path/f\""
            }
            PathProblem::EmptySegment => {
                "permacached!: bad namespace path: it has an empty segment; expected a relative path like \"unique/path/f\""
            }
            PathProblem::DotSegment => {
                "permacached!: bad namespace path: '.' and '..' segments are not allowed; expected a relative path like \"unique/path/f\""
            }
            PathProblem::StoreFile => {
                "permacached!: bad namespace path: data.mdb and lock.mdb are the store's own files"
            }
            PathProblem::BadCharacter => {
                "permacached!: bad namespace path: it has a character other than letters, digits, '_', '-', '.' and '/'"
            }
        }
    }
}

/// What is wrong with a namespace path, if anything: a relative path of
/// segments of letters, digits, `_`, `-` and `.`, none empty, `.` or `..`, and
/// none named as the store's own files. Usable in const context, so the
/// `permacached!` macro checks its literal at compile time with it.
pub const fn namespace_path_problem(path: &str) -> Option<PathProblem> {
    let b = path.as_bytes();
    if b.is_empty() {
        return Some(PathProblem::Empty);
    }
    if b[0] == b'/' {
        return Some(PathProblem::Absolute);
    }
    let mut start = 0;
    let mut i = 0;
    while i <= b.len() {
        if i == b.len() || b[i] == b'/' {
            let len = i - start;
            if len == 0 {
                return Some(PathProblem::EmptySegment);
            }
            if (len == 1 && b[start] == b'.')
                || (len == 2 && b[start] == b'.' && b[start + 1] == b'.')
            {
                return Some(PathProblem::DotSegment);
            }
            if segment_is(b, start, len, b"data.mdb") || segment_is(b, start, len, b"lock.mdb") {
                return Some(PathProblem::StoreFile);
            }
            start = i + 1;
        } else {
            let c = b[i];
            if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.') {
                return Some(PathProblem::BadCharacter);
            }
        }
        i += 1;
    }
    None
}

const fn segment_is(b: &[u8], start: usize, len: usize, name: &[u8]) -> bool {
    if len != name.len() {
        return false;
    }
    let mut i = 0;
    while i < len {
        if b[start + i] != name[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_parses() {
        let c = Config::parse(
            r#"
strict = true
[store]
dir = "target/permacache"
[namespace."unique/path/f"]
version = 1
codec = "json"
description = "squares"
track_body = true
ttl = "30d"
"#,
        )
        .unwrap();
        assert!(c.strict);
        let (path, ns) = c.namespace.iter().next().unwrap();
        assert_eq!(path.get_ref(), "unique/path/f");
        assert_eq!(
            crate::settings::write(ns, &c.store, Some(0xab)),
            "v=1;c=json;t=2592000;b=00000000000000ab;"
        );
    }

    #[test]
    fn mistakes_are_reported_at_their_line_and_column() {
        let errs = Config::parse("[namespace.\"a/b\"]\nversoin = 1\n").unwrap_err();
        assert_eq!((errs[0].line, errs[0].column), (2, 1));
        assert!(
            errs[0].message.contains("unknown field `versoin`"),
            "{}",
            errs[0].message
        );

        let errs = Config::parse("[namespace.\"a/b\"]\nversion = \"one\"\n").unwrap_err();
        assert_eq!(errs[0].line, 2);
        assert!(
            errs[0].message.contains("invalid type"),
            "{}",
            errs[0].message
        );

        let errs = Config::parse("[namespace.\"a/b\"]\ncodec = \"xml\"\n").unwrap_err();
        assert!(
            errs[0].message.contains("`postcard`"),
            "{}",
            errs[0].message
        );

        let errs = Config::parse("[namespace.\"../up\"]\n[namespace.\"ok\"]\nttl = \"soon\"\n")
            .unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!((errs[0].line, errs[0].column), (1, 12));
        assert!(errs[0].message.contains("bad namespace path"));
        assert_eq!((errs[1].line, errs[1].column), (3, 7));
        assert!(errs[1].message.contains("\"45s\""));
    }

    #[test]
    fn remote_keys_are_checked_and_a_namespace_overrides_the_store() {
        let errs = Config::parse(
            "[store]\nremote = \"http://h:1\"\nremote_timeout = \"fast\"\n[namespace.\"a\"]\nremote = \"rediss://\"\nremote_lock = \"soon\"\n",
        )
        .unwrap_err();
        let found: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(
            found.iter().any(|(l, m)| *l == 5 && m.contains("no host")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|(l, m)| *l == 6 && m.contains("remote_lock")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|(l, m)| *l == 2 && m.contains("expected \"redis://")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|(l, m)| *l == 3 && m.contains("\"50ms\"")),
            "{found:?}"
        );

        let c = Config::parse(
            "[store]\nremote = \"redis://h:1, redis://k:2\"\nremote_lock = \"1m\"\n[namespace.\"local\"]\nremote = \"off\"\nremote_lock = \"off\"\n[namespace.\"shared\"]\nremote_timeout = \"2s\"\n",
        )
        .unwrap();
        let settings: Vec<String> = c
            .namespace
            .values()
            .map(|ns| crate::settings::write(ns, &c.store, None))
            .collect();
        assert_eq!(settings[0], "v=0;c=postcard;u=");
        assert_eq!(
            settings[1],
            "v=0;c=postcard;w=2000;l=60000;u=redis://h:1, redis://k:2"
        );
        assert!(check_remote("redis://:pw@h:1/0").is_ok());
        assert!(check_remote("redis://").is_err());
    }

    #[test]
    fn sizes_take_one_unit() {
        assert_eq!(parse_size("20GB"), Ok(20_000_000_000));
        assert_eq!(parse_size("8MB"), Ok(8_000_000));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(parse_size("512kib"), Ok(512 << 10));
        assert_eq!(parse_size("100B"), Ok(100));
        for bad in [
            "",
            "20",
            "GB",
            "-1GB",
            "0MB",
            "1.2.3MB",
            "5 parsecs",
            ".5GB",
            "nanGB",
            "0.1B",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        let errs =
            Config::parse("[store]\nmax_size = \"lots\"\n[namespace.\"a\"]\nmax_size = \"20\"\n")
                .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs.iter().all(|e| e.message.contains("bad max_size")),
            "{errs:?}"
        );
    }

    #[test]
    fn durations_take_one_unit() {
        assert_eq!(parse_duration("45s"), Ok(45));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        for bad in ["", "30", "d", "0d", "1y", "-1d", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_millis("50ms"), Ok(50));
        assert_eq!(parse_millis("2s"), Ok(2000));
        for bad in ["0ms", "ms", "5", "1.5ms"] {
            assert!(parse_millis(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_are_checked() {
        assert_eq!(
            split_objects("s3://team-cache").unwrap(),
            ("team-cache".to_string(), String::new())
        );
        assert_eq!(
            split_objects("s3://team-cache/ml/features/").unwrap(),
            ("team-cache".to_string(), "ml/features/".to_string())
        );
        for bad in [
            "redis://h:1",
            "s3://",
            "s3://Team",
            "s3://ab",
            "s3://-team",
            "s3://team/a//b",
            "s3://team/a/../b",
            "s3://team/a;b",
        ] {
            let e = split_objects(bad).unwrap_err();
            assert!(e.to_string().contains("expected"), "{bad}: {e}");
        }
    }
}
