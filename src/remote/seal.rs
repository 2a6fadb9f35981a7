//! Sealed remote values: what a machine writes to a remote (Redis, or the
//! object store) around a record, and checks before it decodes or keeps one.
//! With a team secret (`PERMACACHE_REMOTE_SECRET`), every value carries a
//! keyed BLAKE3 MAC over its record name (the Redis key, in every remote) and
//! the whole record: whoever can write to a remote but does not hold the
//! secret cannot plant a value that another machine serves.
//!
//! Layout (remote format 4): one byte, the format (4); one byte, `0`
//! unsigned or `1` signed; the record in its portable form (its identity's
//! 48 bytes, then the record byte for byte as in LMDB: see `store/record.rs`);
//! and for a signed value, 32 bytes of MAC over the record name and the
//! portable record. Format 3 held the record alone (its header then held the
//! identity whole).
//!
//! A machine with a secret serves only values signed with it; a machine
//! without one serves signed and unsigned values alike, on the record's
//! checksum and header checks alone.

#[cfg(any(feature = "redis", feature = "s3"))]
use once_cell::sync::Lazy;

/// The format byte of a sealed value.
pub const SEALED_FORMAT: u8 = 4;
const UNSIGNED: u8 = 0;
const SIGNED: u8 = 1;
const MAC_LEN: usize = 32;
/// BLAKE3's key derivation context for the MAC key.
#[cfg_attr(not(any(feature = "redis", feature = "s3")), allow(dead_code))]
const CONTEXT: &str = "permacache 2026-12 remote record MAC v4";

/// A team secret, as the MAC key derived from it.
#[derive(Clone)]
#[cfg_attr(not(any(feature = "redis", feature = "s3")), allow(dead_code))]
pub struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

// Without the `redis` feature no secret is ever made (`env_secret` is
// `None`), and BLAKE3 is not compiled.
impl Secret {
    /// The MAC key of a secret phrase.
    #[cfg(any(feature = "redis", feature = "s3"))]
    pub fn new(secret: &[u8]) -> Secret {
        Secret(blake3::derive_key(CONTEXT, secret))
    }

    /// The MAC of a record under `redis_key`, given in `parts` (the
    /// portable record's identity, then the record): the MAC of their
    /// concatenation.
    #[cfg(any(feature = "redis", feature = "s3"))]
    fn mac(&self, redis_key: &str, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(&(redis_key.len() as u64).to_le_bytes());
        h.update(redis_key.as_bytes());
        for part in parts {
            h.update(part);
        }
        *h.finalize().as_bytes()
    }

    /// Whether `mac` is this secret's MAC of the record under `redis_key`,
    /// compared in constant time.
    #[cfg(any(feature = "redis", feature = "s3"))]
    fn verifies(&self, redis_key: &str, record: &[u8], mac: [u8; MAC_LEN]) -> bool {
        blake3::Hash::from(self.mac(redis_key, &[record])) == blake3::Hash::from(mac)
    }

    #[cfg(not(any(feature = "redis", feature = "s3")))]
    fn mac(&self, _redis_key: &str, _parts: &[&[u8]]) -> [u8; MAC_LEN] {
        unreachable!("no secret without the redis feature")
    }

    #[cfg(not(any(feature = "redis", feature = "s3")))]
    fn verifies(&self, _redis_key: &str, _record: &[u8], _mac: [u8; MAC_LEN]) -> bool {
        unreachable!("no secret without the redis feature")
    }
}

/// `PERMACACHE_REMOTE_SECRET`, read once; an empty value is none.
pub fn env_secret() -> Option<&'static Secret> {
    #[cfg(not(any(feature = "redis", feature = "s3")))]
    return None;
    #[cfg(any(feature = "redis", feature = "s3"))]
    static SECRET: Lazy<Option<Secret>> = Lazy::new(|| {
        let text = std::env::var_os("PERMACACHE_REMOTE_SECRET")?;
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(text.as_os_str()).to_vec();
        (!bytes.is_empty()).then(|| Secret::new(&bytes))
    });
    #[cfg(any(feature = "redis", feature = "s3"))]
    SECRET.as_ref()
}

/// Why a remote value is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Not a sealed value of this format (another permacache version, or
    /// not written by permacache).
    OtherFormat,
    /// Unsigned, where this machine has a secret.
    Unsigned,
    /// Signed, but not with this machine's secret, or changed since.
    BadSignature,
}

impl std::error::Error for Rejected {}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rejected::OtherFormat => "not a value of remote format 4",
            Rejected::Unsigned => {
                "unsigned, and this machine has PERMACACHE_REMOTE_SECRET: written by a machine without the secret, or planted"
            }
            Rejected::BadSignature => {
                "its signature does not verify: written with another PERMACACHE_REMOTE_SECRET, or changed in the remote"
            }
        })
    }
}

/// The value stored in a remote under `redis_key` for a portable record,
/// given in `parts` (its identity's bytes, then the record), which are
/// copied once, into the value.
pub fn seal(redis_key: &str, parts: &[&[u8]], secret: Option<&Secret>) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(2 + len + MAC_LEN);
    out.push(SEALED_FORMAT);
    out.push(if secret.is_some() { SIGNED } else { UNSIGNED });
    for part in parts {
        out.extend_from_slice(part);
    }
    if let Some(secret) = secret {
        out.extend_from_slice(&secret.mac(redis_key, parts));
    }
    out
}

/// The portable record inside the value stored under `redis_key`, when this
/// machine may serve it.
///
/// # Errors
///
/// Why it may not.
pub fn unseal<'v>(
    redis_key: &str,
    value: &'v [u8],
    secret: Option<&Secret>,
) -> Result<&'v [u8], Rejected> {
    let Some((&[format, kind], rest)) = value.split_first_chunk::<2>() else {
        return Err(Rejected::OtherFormat);
    };
    if format != SEALED_FORMAT {
        return Err(Rejected::OtherFormat);
    }
    match (kind, secret) {
        (UNSIGNED, None) => Ok(rest),
        (UNSIGNED, Some(_)) => Err(Rejected::Unsigned),
        (SIGNED, _) if rest.len() < MAC_LEN => Err(Rejected::BadSignature),
        (SIGNED, None) => Ok(&rest[..rest.len() - MAC_LEN]),
        (SIGNED, Some(secret)) => {
            let (record, mac) = rest.split_at(rest.len() - MAC_LEN);
            // Constant-time comparison (blake3's Hash equality).
            let mac: [u8; MAC_LEN] = mac.try_into().expect("32 bytes");
            if secret.verifies(redis_key, record, mac) {
                Ok(record)
            } else {
                Err(Rejected::BadSignature)
            }
        }
        _ => Err(Rejected::OtherFormat),
    }
}

#[cfg(all(test, any(feature = "redis", feature = "s3")))]
mod tests {
    use super::*;

    #[test]
    fn a_signed_value_opens_only_with_its_secret_and_key() {
        let a = Secret::new(b"team a");
        let b = Secret::new(b"team b");
        let sealed = seal("k1", &[b"rec", b"ord"], Some(&a));
        assert_eq!(unseal("k1", &sealed, Some(&a)), Ok(&b"record"[..]));
        assert_eq!(unseal("k1", &sealed, Some(&b)), Err(Rejected::BadSignature));
        assert_eq!(unseal("k2", &sealed, Some(&a)), Err(Rejected::BadSignature));
        assert_eq!(unseal("k1", &sealed, None), Ok(&b"record"[..]));
        let mut changed = sealed.clone();
        changed[3] ^= 1;
        assert_eq!(
            unseal("k1", &changed, Some(&a)),
            Err(Rejected::BadSignature)
        );
        let plain = seal("k1", &[b"record"], None);
        assert_eq!(unseal("k1", &plain, Some(&a)), Err(Rejected::Unsigned));
        assert_eq!(unseal("k1", &plain, None), Ok(&b"record"[..]));
        for bad in [
            &b""[..],
            b"\x03",
            b"\x03\x00rec",
            b"\x04\x07rec",
            b"\x04\x01short",
        ] {
            assert!(unseal("k1", bad, Some(&a)).is_err(), "{bad:?}");
        }
        assert_eq!(format!("{a:?}"), "Secret(***)");
    }

    #[test]
    fn the_layout_is_as_documented() {
        let secret = Secret::new(b"s");
        let sealed = seal(
            "permacache:a:0-0000000000000000:00",
            &[b"ID", b"REC"],
            Some(&secret),
        );
        assert_eq!(&sealed[..7], b"\x04\x01IDREC");
        assert_eq!(sealed.len(), 7 + 32);
        let mut h = blake3::Hasher::new_keyed(&blake3::derive_key(CONTEXT, b"s"));
        h.update(&34u64.to_le_bytes());
        h.update(b"permacache:a:0-0000000000000000:00");
        h.update(b"IDREC");
        assert_eq!(&sealed[7..], h.finalize().as_bytes());
        assert_eq!(seal("k", &[b"ID", b"REC"], None), b"\x04\x00IDREC");
    }
}
