//! The settings string: how a crate's build check hands one namespace's
//! settings from permacache.toml to its cached functions. The build writes it
//! into the `PERMACACHE_NS:<path>` environment variable of the crate's
//! compilation; the function's companion module reads it back in a `const`,
//! so the settings are baked into the binary. Writer and reader live here,
//! driven by one table of fields; anything the reader does not know is a
//! compile error, never a default.
//!
//! The string is `field=value;` pairs in table order, such as
//! `v=1;c=json;t=60;b=<16 hex>;o=team;w=50;l=600000;u=redis://host:6379`;
//! `u=` (the remote, empty for `"off"`) comes last and runs to the end, as
//! an address may hold `;`.

use std::fmt::Write as _;

use crate::config::{
    CodecName, NamespaceConfig, StoreSection, SyncName, parse_duration, parse_millis, parse_size,
};

/// The fields, by the letter that names each in the string.
pub const FIELDS: [(u8, &str); 17] = [
    (b'v', "version"),
    (b'c', "codec"),
    (b's', "sync"),
    (b't', "ttl in seconds"),
    (b'b', "body fingerprint, 16 hex digits"),
    (b'd', "0 when the body is not tracked"),
    (b'e', "environment variables, comma-separated"),
    (b'k', "lock wait in milliseconds"),
    (b'o', "owner"),
    (b'w', "remote timeout in milliseconds"),
    (b'l', "remote lock in milliseconds"),
    (b'm', "namespace max size in bytes"),
    (b'n', "store max size in bytes"),
    (b'a', "remote CA file, absolute"),
    (b'j', "object store address, empty for off"),
    (b'z', "objects min size in bytes"),
    (b'u', "remote address, last"),
];

/// A namespace's settings, fixed at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub struct Settings {
    pub codec: CodecName,
    pub sync: SyncName,
    pub version: u32,
    pub body_fingerprint: u64,
    /// Whether the function's own body is in its entries' identity
    /// (`track_body`, on unless permacache.toml says `false`).
    pub track_body: bool,
    /// The environment variables whose values are in the entries' identity,
    /// comma-separated (`env` in permacache.toml).
    pub env: Option<&'static str>,
    /// Milliseconds a call waits for another process computing the same
    /// key (`lock_wait`); `0` means the default.
    pub lock_wait_ms: u64,
    /// Entries older than this many seconds are misses; `0` means never.
    pub ttl_secs: u64,
    /// `[store] dir` of the crate's permacache.toml.
    pub config_root: Option<&'static str>,
    /// Who the entries belong to: the crate's package name, or the
    /// namespace's `owner` in permacache.toml.
    pub owner: &'static str,
    /// The shared tier from permacache.toml: `None` when not set, `Some("")`
    /// for `"off"`.
    pub remote: Option<&'static str>,
    /// Milliseconds a remote operation may take; `0` means the default.
    pub remote_timeout_ms: u64,
    /// Milliseconds of the cross-machine compute-once lock; `0` means none.
    pub remote_lock_ms: u64,
    /// The namespace's `max_size` in bytes; `0` means none.
    pub max_size: u64,
    /// `[store] max_size` in bytes; `0` means none.
    pub store_max_size: u64,
    /// `remote_ca`: the PEM file of a `rediss://` remote's certificate
    /// authorities, made absolute by the build.
    pub remote_ca: Option<&'static str>,
    /// The object store from permacache.toml: `None` when not set,
    /// `Some("")` for `"off"`.
    pub objects: Option<&'static str>,
    /// `objects_min_size` in bytes; `0` means the default.
    pub objects_min_size: u64,
}

/// Writes the settings string of namespace `ns` (`store` for the keys it
/// inherits; `body_fingerprint` when the check tracks the function's code
/// or dependencies).
pub fn write(ns: &NamespaceConfig, store: &StoreSection, body_fingerprint: Option<u64>) -> String {
    let remote = ns.remote_in_force(store);
    let mut s = String::new();
    for (field, _) in FIELDS {
        let value = match field {
            b'v' => Some(ns.version.to_string()),
            b'c' => Some(ns.codec.as_str().to_string()),
            b's' => (ns.sync != SyncName::default()).then(|| ns.sync.as_str().to_string()),
            b't' => ns
                .ttl
                .as_ref()
                .and_then(|t| parse_duration(t.get_ref()).ok())
                .map(|secs| secs.to_string()),
            b'b' => body_fingerprint.map(|b| format!("{b:016x}")),
            b'd' => (!ns.track_body).then(|| "0".to_string()),
            b'e' => ns
                .env
                .as_ref()
                .filter(|e| !e.get_ref().is_empty())
                .map(|e| e.get_ref().join(",")),
            b'k' => ns
                .lock_wait
                .as_ref()
                .and_then(|w| parse_millis(w.get_ref()).ok())
                .map(|ms| ms.to_string()),
            b'o' => ns.owner.as_ref().map(|o| o.get_ref().clone()),
            b'w' => remote
                .remote_timeout
                .as_deref()
                .and_then(|t| parse_millis(t).ok())
                .map(|ms| ms.to_string()),
            b'l' => remote
                .remote_lock
                .as_deref()
                .and_then(|t| parse_millis(t).ok())
                .map(|ms| ms.to_string()),
            b'm' => ns
                .max_size
                .as_ref()
                .and_then(|m| parse_size(m.get_ref()).ok())
                .map(|b| b.to_string()),
            b'n' => store
                .max_size
                .as_ref()
                .and_then(|m| parse_size(m.get_ref()).ok())
                .map(|b| b.to_string()),
            b'a' => remote.remote_ca.as_deref().map(|ca| {
                // Relative to the crate root, whose build writes this.
                let root = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
                std::path::Path::new(&root).join(ca).display().to_string()
            }),
            b'j' => remote
                .objects
                .as_deref()
                .map(|o| if o == "off" { "" } else { o }.to_string()),
            b'z' => remote
                .objects_min_size
                .as_deref()
                .and_then(|m| parse_size(m).ok())
                .map(|b| b.to_string()),
            b'u' => remote
                .remote
                .as_deref()
                .map(|r| if r == "off" { "" } else { r }.to_string()),
            _ => unreachable!("every field of the table is written"),
        };
        if let Some(value) = value {
            let _ = write!(s, "{}={value}", field as char);
            if field != b'u' {
                s.push(';');
            }
        }
    }
    s
}

impl Settings {
    /// What a namespace without settings from a build check gets.
    pub const DEFAULT: Settings = Settings {
        codec: CodecName::Postcard,
        sync: SyncName::NoMetaSync,
        version: 0,
        body_fingerprint: 0,
        track_body: true,
        env: None,
        lock_wait_ms: 0,
        ttl_secs: 0,
        config_root: None,
        owner: "",
        remote: None,
        remote_timeout_ms: 0,
        remote_lock_ms: 0,
        max_size: 0,
        store_max_size: 0,
        remote_ca: None,
        objects: None,
        objects_min_size: 0,
    };

    /// Reads the settings string a crate's build check wrote for one
    /// namespace, with its store root and the crate's package name, at
    /// compile time.
    ///
    /// # Panics
    ///
    /// At compile time, on a field or value this version does not know
    /// (a settings string another permacache version wrote).
    pub const fn read(
        settings: Option<&'static str>,
        config_root: Option<&'static str>,
        crate_name: &'static str,
    ) -> Settings {
        let mut out = Settings::DEFAULT;
        out.config_root = config_root;
        out.owner = crate_name;
        let Some(text) = settings else {
            return out;
        };
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let field = b[i];
            if i + 1 >= b.len() || b[i + 1] != b'=' || !known(field) {
                panic!(
                    "permacache: a settings string this version did not write; build with one permacache version (cargo update -p permacache)"
                );
            }
            if field == b'u' {
                out.remote = Some(sub(text, i + 2, b.len()));
                break;
            }
            let mut end = i + 2;
            while end < b.len() && b[end] != b';' {
                end += 1;
            }
            let (start, stop) = (i + 2, end);
            match field {
                b'v' => out.version = number(b, start, stop, 10) as u32,
                b't' => out.ttl_secs = number(b, start, stop, 10),
                b'b' => out.body_fingerprint = number(b, start, stop, 16),
                b'd' => out.track_body = number(b, start, stop, 10) != 0,
                b'e' => out.env = Some(sub(text, start, stop)),
                b'k' => out.lock_wait_ms = number(b, start, stop, 10),
                b'w' => out.remote_timeout_ms = number(b, start, stop, 10),
                b'l' => out.remote_lock_ms = number(b, start, stop, 10),
                b'm' => out.max_size = number(b, start, stop, 10),
                b'n' => out.store_max_size = number(b, start, stop, 10),
                b'a' => out.remote_ca = Some(sub(text, start, stop)),
                b'j' => out.objects = Some(sub(text, start, stop)),
                b'z' => out.objects_min_size = number(b, start, stop, 10),
                b'o' => out.owner = sub(text, start, stop),
                b's' => {
                    out.sync = match SyncName::from_name(sub(text, start, stop)) {
                        Some(sync) => sync,
                        None => panic!(
                            "permacache: an unknown sync value in the settings string; build with one permacache version (cargo update -p permacache)"
                        ),
                    }
                }
                b'c' => {
                    out.codec = match CodecName::from_name(sub(text, start, stop)) {
                        Some(codec) => codec,
                        None => panic!(
                            "permacache: an unknown codec in the settings string; build with one permacache version (cargo update -p permacache)"
                        ),
                    }
                }
                _ => {}
            }
            i = end + 1;
        }
        out
    }
}

impl Settings {
    /// These settings with the function's own body, fingerprinted by the
    /// DSL at compile time, in the entries' identity (unless `track_body =
    /// false`): beside what the build check followed, or alone without it.
    pub const fn with_own_body(mut self, own: u64) -> Settings {
        if self.track_body {
            self.body_fingerprint = if self.body_fingerprint == 0 {
                own
            } else {
                (self.body_fingerprint ^ own.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            };
        }
        self
    }
}

const fn known(field: u8) -> bool {
    let mut i = 0;
    while i < FIELDS.len() {
        if FIELDS[i].0 == field {
            return true;
        }
        i += 1;
    }
    false
}

/// `text[start..stop]`, in a const fn.
const fn sub(text: &'static str, start: usize, stop: usize) -> &'static str {
    let (_, rest) = text.as_bytes().split_at(start);
    let (mid, _) = rest.split_at(stop - start);
    match core::str::from_utf8(mid) {
        Ok(s) => s,
        Err(_) => panic!("permacache: the settings string is not UTF-8"),
    }
}

const fn number(b: &[u8], start: usize, stop: usize, radix: u64) -> u64 {
    let mut n: u64 = 0;
    let mut i = start;
    if i == stop {
        panic!("permacache: an empty number in the settings string");
    }
    while i < stop {
        let d = match b[i] {
            c @ b'0'..=b'9' => (c - b'0') as u64,
            c @ b'a'..=b'f' if radix == 16 => (c - b'a' + 10) as u64,
            _ => panic!("permacache: a malformed number in the settings string"),
        };
        n = n.wrapping_mul(radix).wrapping_add(d);
        i += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn what_the_build_writes_the_macro_reads() {
        let config = Config::parse(
            "[store]\nremote = \"redis://h:1/2;x\"\nremote_lock = \"2s\"\nmax_size = \"1GB\"\nobjects = \"s3://team-cache/ml\"\nobjects_min_size = \"4MB\"\n[namespace.\"a\"]\nversion = 7\ncodec = \"json\"\nsync = \"off\"\nttl = \"2h\"\ntrack_body = true\nowner = \"team\"\nremote_timeout = \"75ms\"\nmax_size = \"8MB\"\n",
        )
        .unwrap();
        let ns = config.namespace.values().next().unwrap();
        let written = write(ns, &config.store, Some(0x0123_4567_89ab_cdef));
        assert_eq!(
            written,
            "v=7;c=json;s=off;t=7200;b=0123456789abcdef;o=team;w=75;l=2000;m=8000000;n=1000000000;j=s3://team-cache/ml;z=4000000;u=redis://h:1/2;x"
        );
        let s = Settings::read(Some(written.leak()), Some("/cache"), "mine");
        assert_eq!(
            s,
            Settings {
                codec: CodecName::Json,
                sync: SyncName::Off,
                version: 7,
                body_fingerprint: 0x0123_4567_89ab_cdef,
                track_body: true,
                env: None,
                lock_wait_ms: 0,
                ttl_secs: 7200,
                config_root: Some("/cache"),
                owner: "team",
                remote: Some("redis://h:1/2;x"),
                remote_timeout_ms: 75,
                remote_lock_ms: 2000,
                max_size: 8_000_000,
                store_max_size: 1_000_000_000,
                remote_ca: None,
                objects: Some("s3://team-cache/ml"),
                objects_min_size: 4_000_000,
            }
        );
        let plain = Settings::read(Some("v=0;c=postcard;"), None, "mine");
        assert_eq!(plain.owner, "mine", "the crate owns its namespaces");
        assert_eq!(
            Settings::read(None, None, "mine"),
            Settings {
                owner: "mine",
                ..Settings::DEFAULT
            }
        );
    }

    #[test]
    fn env_and_an_untracked_body_are_written_and_read_back() {
        let config = Config::parse(
            "[namespace.\"a\"]\ntrack_body = false\nenv = [\"MODEL_DIR\", \"SEED\"]\nlock_wait = \"30m\"\n",
        )
        .unwrap();
        let ns = config.namespace.values().next().unwrap();
        let written = write(ns, &config.store, None);
        assert_eq!(written, "v=0;c=postcard;d=0;e=MODEL_DIR,SEED;k=1800000;");
        let s = Settings::read(Some(written.leak()), None, "mine");
        assert!(!s.track_body);
        assert_eq!(s.env, Some("MODEL_DIR,SEED"));
        assert_eq!(s.lock_wait_ms, 1_800_000);
        assert_eq!(s.with_own_body(7).body_fingerprint, 0, "untracked");
        assert_eq!(Settings::DEFAULT.with_own_body(7).body_fingerprint, 7);
        let bad = Config::parse("[namespace.\"a\"]\nenv = [\"A-B\"]\n").unwrap_err();
        assert!(format!("{bad:?}").contains("bad env"), "{bad:?}");
    }

    #[test]
    fn an_unknown_field_or_codec_is_refused_not_defaulted() {
        for bad in ["v=1;q=3;", "c=xml;", "v=;", "v=1x;", "s=sometimes;"] {
            let caught = std::panic::catch_unwind(|| Settings::read(Some(bad), None, "x"));
            assert!(caught.is_err(), "{bad:?} was read");
        }
    }
}
