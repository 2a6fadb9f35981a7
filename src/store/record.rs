//! The record: what one LMDB value (and one Redis value) holds. A fixed
//! little-endian header naming everything a hit must match, the full
//! canonical key (compared on every hit, so a hash collision is a miss), the
//! value in its codec, and a checksum over all of it (so bit rot is a miss).
//!
//! # Record format, version 2
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | record format version, `2` |
//! | 1 | 1 | codec: `0` postcard, `1` JSON, `2` CBOR |
//! | 2 | 1 | key format version ([`KEY_FORMAT_VERSION`](crate::KEY_FORMAT_VERSION)) |
//! | 3 | 1 | reserved, `0` |
//! | 4 | 4 | namespace version (u32) |
//! | 8 | 8 | value shape fingerprint (u64, see [`crate::shape`]) |
//! | 16 | 8 | parameter shape fingerprint (u64, `0` when not tracked) |
//! | 24 | 8 | body fingerprint (u64, `0` when the body is not tracked) |
//! | 32 | 8 | owner fingerprint (u64, xxh3-64 of the owning crate's name; `0` for none) |
//! | 40 | 8 | namespace fingerprint (u64, xxh3-64 of the namespace path) |
//! | 48 | 8 | written at, milliseconds since the Unix epoch (u64) |
//! | 56 | 4 | key length in bytes (u32) |
//! | 60 | key length | canonical key, UTF-8 |
//! | ... | rest - 8 | value |
//! | end - 8 | 8 | checksum: xxh3-64 of every byte before it |
//!
//! The LMDB key of a record is the 16 big-endian bytes of the xxh3-128 hash
//! of the canonical key, seeded with the owner fingerprint: two crates that
//! use one namespace path keep their entries side by side.
//!
//! Version 1 (no shapes, owner, namespace or checksum; the value type's name
//! in place of its shape) is no longer read: its records are misses.

use crate::key::KEY_FORMAT_VERSION;

/// Version of the record layout above.
pub const RECORD_FORMAT_VERSION: u8 = 2;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 60;

/// Length of the checksum that ends every record.
pub const CHECKSUM_LEN: usize = 8;

/// The LMDB key of the entry whose canonical key is `key`, for the crate
/// whose owner fingerprint is `owner`.
pub fn key_hash(owner: u64, key: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128_with_seed(key, owner).to_be_bytes()
}

/// The fingerprint of a name stored in headers (owner, namespace path).
pub fn name_fingerprint(name: &str) -> u64 {
    if name.is_empty() {
        0
    } else {
        xxhash_rust::xxh3::xxh3_64(name.as_bytes())
    }
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
    /// Fingerprint of the value type's serde shape.
    pub value_shape: u64,
    /// Fingerprint of the parameters' types, `0` when not tracked.
    pub params_shape: u64,
    /// Fingerprint of the function body, `0` when untracked.
    pub body_fingerprint: u64,
    /// Fingerprint of the owning crate's name, `0` for none.
    pub owner: u64,
    /// Fingerprint of the namespace path.
    pub namespace: u64,
    /// When the record was written, in milliseconds since the Unix epoch.
    pub written_at_ms: u64,
}

/// A record read in place from the store, its checksum verified.
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
    /// Shorter than a header and checksum, or than its key length says.
    Truncated,
    /// A record format this build does not know.
    UnknownFormat(u8),
    /// The checksum does not match: the bytes were damaged.
    Checksum,
}

impl std::error::Error for Malformed {}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Truncated => f.write_str("truncated record"),
            Malformed::UnknownFormat(v) => write!(f, "unknown record format {v}"),
            Malformed::Checksum => f.write_str("checksum mismatch (damaged record)"),
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A record's write time, read from its header alone (no checksum: for
/// eviction order, where a damaged record only goes first). `None` for
/// bytes too short or of another format.
pub(crate) fn written_at_ms(bytes: &[u8]) -> Option<u64> {
    (bytes.len() >= HEADER_LEN && bytes[0] == RECORD_FORMAT_VERSION).then(|| u64_at(bytes, 48))
}

impl<'a> Record<'a> {
    /// Reads a record without copying, verifying its checksum.
    ///
    /// # Errors
    ///
    /// Why the bytes are not an intact record of this version.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Malformed> {
        let record = Self::read_unverified(bytes)?;
        if !checksum_ok(bytes) {
            return Err(Malformed::Checksum);
        }
        Ok(record)
    }

    /// Reads a record's fields without verifying its checksum: the caller
    /// verifies it before it trusts anything read, with [`checksum_ok`] or,
    /// while copying the value out, a [`Verifier`].
    pub(crate) fn read_unverified(bytes: &'a [u8]) -> Result<Self, Malformed> {
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
            return Err(Malformed::Truncated);
        }
        if bytes[0] != RECORD_FORMAT_VERSION {
            return Err(Malformed::UnknownFormat(bytes[0]));
        }
        let body = &bytes[..bytes.len() - CHECKSUM_LEN];
        let header = Header {
            format: body[0],
            codec: body[1],
            key_format: body[2],
            namespace_version: u32_at(body, 4),
            value_shape: u64_at(body, 8),
            params_shape: u64_at(body, 16),
            body_fingerprint: u64_at(body, 24),
            owner: u64_at(body, 32),
            namespace: u64_at(body, 40),
            written_at_ms: u64_at(body, 48),
        };
        let key_len = u32_at(body, 56) as usize;
        let rest = &body[HEADER_LEN..];
        if rest.len() < key_len {
            return Err(Malformed::Truncated);
        }
        let (key, value) = rest.split_at(key_len);
        Ok(Record { header, key, value })
    }
}

/// Whether a record's checksum matches its bytes (which are at least a
/// header and checksum long).
pub(crate) fn checksum_ok(bytes: &[u8]) -> bool {
    let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    xxhash_rust::xxh3::xxh3_64(body) == u64_at(sum, 0)
}

/// The checksum of a record whose value is copied out: computed as the
/// value is copied, so a big value is read from memory once, not twice.
pub(crate) struct Verifier<'a> {
    /// The record without its checksum.
    body: &'a [u8],
    want: u64,
}

impl<'a> Verifier<'a> {
    /// The check of the record `bytes` (at least a header and checksum long).
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        Verifier {
            body,
            want: u64_at(sum, 0),
        }
    }

    /// Copies `tail`, the end of the record's value, to `dest`, and says
    /// whether the record's checksum matches.
    ///
    /// # Safety
    ///
    /// `dest` is valid for `tail.len()` bytes of writes, apart from the
    /// record.
    ///
    /// # Panics
    ///
    /// When `tail` does not end the record.
    pub(crate) unsafe fn copy_checked(&self, tail: &[u8], dest: *mut u8) -> bool {
        let from = (tail.as_ptr() as usize).wrapping_sub(self.body.as_ptr() as usize);
        assert!(
            from.checked_add(tail.len()) == Some(self.body.len()),
            "the tail of the record"
        );
        // SAFETY: the caller vouches for `dest`.
        unsafe { crate::xxh3::xxh3_64_copying(self.body, from, dest) == self.want }
    }

    /// Whether the record's checksum matches (no copy).
    pub(crate) fn check(&self) -> bool {
        xxhash_rust::xxh3::xxh3_64(self.body) == self.want
    }
}

/// Sets the codec of a record begun by [`begin`]: a value's codec is known
/// only once it is encoded.
pub fn set_codec(out: &mut [u8], codec: u8) {
    out[1] = codec;
}

/// Starts a record in `out`: the header and the key. The caller appends the
/// value, sets its codec ([`set_codec`]), then calls [`seal`].
pub fn begin(out: &mut Vec<u8>, header: &Header, key: &[u8]) {
    out.reserve(HEADER_LEN + key.len() + CHECKSUM_LEN);
    out.push(header.format);
    out.push(header.codec);
    out.push(header.key_format);
    out.push(0);
    out.extend_from_slice(&header.namespace_version.to_le_bytes());
    for field in [
        header.value_shape,
        header.params_shape,
        header.body_fingerprint,
        header.owner,
        header.namespace,
        header.written_at_ms,
    ] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    let key_len = u32::try_from(key.len()).expect("a canonical key under 4 GiB");
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key);
}

/// Ends a record begun with [`begin`] (and its value appended): appends the
/// checksum.
pub fn seal(out: &mut Vec<u8>) {
    let sum = xxhash_rust::xxh3::xxh3_64(out);
    out.extend_from_slice(&sum.to_le_bytes());
}

/// Replaces a record's codec-independent identity fields (the namespace
/// fingerprint) and seals it again: how an import into another namespace,
/// asked for explicitly, re-files a record.
pub fn refile(bytes: &[u8], namespace: u64) -> Vec<u8> {
    let mut out = bytes[..bytes.len() - CHECKSUM_LEN].to_vec();
    out[40..48].copy_from_slice(&namespace.to_le_bytes());
    seal(&mut out);
    out
}

impl Header {
    /// A header of the current formats.
    #[allow(clippy::too_many_arguments)] // one argument per header field
    pub fn new(
        codec: u8,
        namespace_version: u32,
        value_shape: u64,
        params_shape: u64,
        body_fingerprint: u64,
        owner: u64,
        namespace: u64,
        written_at_ms: u64,
    ) -> Self {
        Header {
            format: RECORD_FORMAT_VERSION,
            codec,
            key_format: KEY_FORMAT_VERSION,
            namespace_version,
            value_shape,
            params_shape,
            body_fingerprint,
            owner,
            namespace,
            written_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Header, Vec<u8>) {
        let header = Header::new(1, 7, 0xdead_beef, 5, 42, 9, 11, 1_700_000_000_000);
        let mut out = Vec::new();
        begin(&mut out, &header, br#"{"x":1}"#);
        out.extend_from_slice(b"value");
        seal(&mut out);
        (header, out)
    }

    #[test]
    fn a_record_reads_back_what_was_written() {
        let (header, out) = sample();
        let r = Record::parse(&out).unwrap();
        assert_eq!(r.header, header);
        assert_eq!(r.key, br#"{"x":1}"#);
        assert_eq!(r.value, b"value");
        assert_eq!(Record::parse(&out[..10]).unwrap_err(), Malformed::Truncated);
        let mut other = out.clone();
        other[0] = 9;
        assert_eq!(
            Record::parse(&other).unwrap_err(),
            Malformed::UnknownFormat(9)
        );
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let (_, out) = sample();
        for bit in 8..out.len() * 8 {
            let mut damaged = out.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(Record::parse(&damaged).is_err(), "bit {bit} not caught");
        }
    }

    /// The layout, byte for byte: a change here is a new format version.
    #[test]
    fn the_layout_is_as_documented() {
        let (_, out) = sample();
        let mut want = vec![2u8, 1, KEY_FORMAT_VERSION, 0, 7, 0, 0, 0];
        for field in [0xdead_beef_u64, 5, 42, 9, 11, 1_700_000_000_000] {
            want.extend_from_slice(&field.to_le_bytes());
        }
        want.extend_from_slice(&7u32.to_le_bytes());
        want.extend_from_slice(br#"{"x":1}value"#);
        let sum = xxhash_rust::xxh3::xxh3_64(&want);
        want.extend_from_slice(&sum.to_le_bytes());
        assert_eq!(out, want);
    }

    #[test]
    fn a_value_checked_while_copied_checks_as_the_whole() {
        let (_, mut out) = sample();
        for damage in [None, Some(HEADER_LEN + 7 + 2), Some(3)] {
            if let Some(at) = damage {
                out[at] ^= 4;
            }
            let r = Record::read_unverified(&out).unwrap();
            let v = Verifier::new(&out);
            let mut dest = vec![0u8; r.value.len()];
            // SAFETY: `dest` holds the value.
            let ok = unsafe { v.copy_checked(r.value, dest.as_mut_ptr()) };
            assert_eq!(ok, checksum_ok(&out));
            assert_eq!(ok, damage.is_none());
            assert_eq!(v.check(), ok);
            assert_eq!(dest, r.value);
        }
    }

    #[test]
    fn a_refiled_record_names_its_new_namespace() {
        let (_, out) = sample();
        let moved = refile(&out, 77);
        assert_eq!(Record::parse(&moved).unwrap().header.namespace, 77);
    }
}
