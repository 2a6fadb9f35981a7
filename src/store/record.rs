//! The record: what one LMDB value holds. A fixed little-endian header, the
//! full canonical key (compared on every hit, so a hash collision is a miss),
//! then the value in the namespace's codec.
//!
//! # Record format, version 1
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | record format version, `1` |
//! | 1 | 1 | codec: `0` postcard, `1` JSON |
//! | 2 | 1 | key format version ([`KEY_FORMAT_VERSION`](crate::KEY_FORMAT_VERSION)) |
//! | 3 | 1 | reserved, `0` |
//! | 4 | 4 | namespace version (u32) |
//! | 8 | 8 | value type fingerprint (u64, xxh3-64 of the type's name) |
//! | 16 | 8 | body fingerprint (u64, `0` when the body is not tracked) |
//! | 24 | 8 | written at, milliseconds since the Unix epoch (u64) |
//! | 32 | 4 | key length in bytes (u32) |
//! | 36 | key length | canonical key, UTF-8 |
//! | ... | rest | value |
//!
//! The LMDB key of a record is the 16 big-endian bytes of the xxh3-128 hash
//! of the canonical key.

use crate::key::KEY_FORMAT_VERSION;

/// Version of the record layout above.
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 36;

/// The LMDB key of the entry whose canonical key is `key`.
pub fn key_hash(key: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(key).to_be_bytes()
}

/// The fixed fields of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Record layout version.
    pub format: u8,
    /// Codec tag of the value.
    pub codec: u8,
    /// Canonical key format version.
    pub key_format: u8,
    /// The namespace's `version` when the record was written.
    pub namespace_version: u32,
    /// Fingerprint of the value's Rust type.
    pub type_fingerprint: u64,
    /// Fingerprint of the function body, `0` when untracked.
    pub body_fingerprint: u64,
    /// When the record was written, in milliseconds since the Unix epoch.
    pub written_at_ms: u64,
}

impl Header {
    /// A header of the current formats.
    pub fn new(
        codec: u8,
        namespace_version: u32,
        type_fingerprint: u64,
        body_fingerprint: u64,
        written_at_ms: u64,
    ) -> Self {
        Header {
            format: RECORD_FORMAT_VERSION,
            codec,
            key_format: KEY_FORMAT_VERSION,
            namespace_version,
            type_fingerprint,
            body_fingerprint,
            written_at_ms,
        }
    }
}

/// A record read in place from the store.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The fixed fields.
    pub header: Header,
    /// The canonical key, as bytes.
    pub key: &'a [u8],
    /// The encoded value.
    pub value: &'a [u8],
}

/// Why bytes are not a record of this version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than a header, or than its key length says.
    Truncated,
    /// A record format this build does not know.
    UnknownFormat(u8),
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Truncated => f.write_str("truncated record"),
            Malformed::UnknownFormat(v) => write!(f, "unknown record format {v}"),
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl<'a> Record<'a> {
    /// Reads a record without copying.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Malformed> {
        if bytes.len() < HEADER_LEN {
            return Err(Malformed::Truncated);
        }
        if bytes[0] != RECORD_FORMAT_VERSION {
            return Err(Malformed::UnknownFormat(bytes[0]));
        }
        let header = Header {
            format: bytes[0],
            codec: bytes[1],
            key_format: bytes[2],
            namespace_version: u32_at(bytes, 4),
            type_fingerprint: u64_at(bytes, 8),
            body_fingerprint: u64_at(bytes, 16),
            written_at_ms: u64_at(bytes, 24),
        };
        let key_len = u32_at(bytes, 32) as usize;
        let rest = &bytes[HEADER_LEN..];
        if rest.len() < key_len {
            return Err(Malformed::Truncated);
        }
        let (key, value) = rest.split_at(key_len);
        Ok(Record { header, key, value })
    }
}

/// Starts a record in `out`: the header and the key. The value is appended
/// by the caller.
pub fn begin(out: &mut Vec<u8>, header: &Header, key: &[u8]) {
    out.reserve(HEADER_LEN + key.len());
    out.push(header.format);
    out.push(header.codec);
    out.push(header.key_format);
    out.push(0);
    out.extend_from_slice(&header.namespace_version.to_le_bytes());
    out.extend_from_slice(&header.type_fingerprint.to_le_bytes());
    out.extend_from_slice(&header.body_fingerprint.to_le_bytes());
    out.extend_from_slice(&header.written_at_ms.to_le_bytes());
    let key_len = u32::try_from(key.len()).expect("a canonical key under 4 GiB");
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_what_was_written() {
        let header = Header::new(1, 7, 0xdead_beef, 42, 1_700_000_000_000);
        let mut out = Vec::new();
        begin(&mut out, &header, br#"{"x":1}"#);
        out.extend_from_slice(b"value");
        let r = Record::parse(&out).unwrap();
        assert_eq!(r.header, header);
        assert_eq!(r.key, br#"{"x":1}"#);
        assert_eq!(r.value, b"value");
        assert_eq!(Record::parse(&out[..40]).unwrap_err(), Malformed::Truncated);
        assert_eq!(Record::parse(&out[..10]).unwrap_err(), Malformed::Truncated);
        out[0] = 9;
        assert_eq!(
            Record::parse(&out).unwrap_err(),
            Malformed::UnknownFormat(9)
        );
    }
}
