//! The record: what one LMDB value holds. A short header (the codec, the
//! fingerprint of the record's identity, when it was written), the full
//! canonical key (compared on every hit, so a hash collision is a miss), the
//! value in its codec, and a checksum over all of it (so bit rot is a miss).
//!
//! A record's *identity* is everything a hit must match besides the key:
//! the key format, the namespace and its version, the owning crate, the
//! body, and the shapes of the parameters and of the value. It is the same
//! for every record one build of one function writes, so a record holds only
//! its 8-byte fingerprint, and each namespace keeps a table of the
//! identities its records name (`namespace/identities.rs`): a miss still
//! says which field differs. Where a record leaves its store (a remote, an
//! export file), it travels in its *portable* form, the identity whole
//! before the record.
//!
//! # Record format, version 3
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | record format version, `3` |
//! | 1 | 1 | codec: `0` postcard, `1` JSON, `2` CBOR, or a raw array's tag |
//! | 2 | 8 | identity fingerprint (u64): xxh3-64 of the identity's 48 bytes |
//! | 10 | 6 | written at, milliseconds since the Unix epoch (u48) |
//! | 16 | 1–5 | key length in bytes (LEB128, at most 2³² − 1) |
//! | … | key length | canonical key, UTF-8 |
//! | … | rest − 8 | value |
//! | end − 8 | 8 | checksum: xxh3-64 of every byte before it |
//!
//! # Identity, 48 bytes
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | key format version ([`KEY_FORMAT_VERSION`](crate::KEY_FORMAT_VERSION)) |
//! | 1 | 3 | reserved, `0` |
//! | 4 | 4 | namespace version (u32) |
//! | 8 | 8 | value shape fingerprint (u64, see `shape.rs`) |
//! | 16 | 8 | parameter shape fingerprint (u64, `0` when not tracked) |
//! | 24 | 8 | body fingerprint (u64, `0` when the body is not tracked) |
//! | 32 | 8 | owner fingerprint (u64, xxh3-64 of the owning crate's name; `0` for none) |
//! | 40 | 8 | namespace fingerprint (u64, xxh3-64 of the namespace path) |
//!
//! Every integer is little-endian. The portable form of a record is its
//! identity's 48 bytes, then the record; the identity's fingerprint must be
//! the one the record names.
//!
//! The LMDB key of a record is the 16 big-endian bytes of the xxh3-128 hash
//! of the canonical key, seeded with the owner fingerprint: two crates that
//! use one namespace path keep their entries side by side.
//!
//! Versions 1 and 2 (version 2: a 60-byte header holding the identity's
//! fields whole) are no longer read: their records are misses.

use crate::key::KEY_FORMAT_VERSION;

/// Version of the record layout above.
pub const RECORD_FORMAT_VERSION: u8 = 3;

/// Length of the header's fixed part, before the key length.
pub const HEADER_LEN: usize = 16;

/// Length of the checksum that ends every record.
pub const CHECKSUM_LEN: usize = 8;

/// Length of an identity's bytes.
pub const IDENTITY_LEN: usize = 48;

/// The latest write time a header holds (u48 milliseconds: the year 10889).
const WRITTEN_AT_MAX: u64 = (1 << 48) - 1;

/// The LMDB key of the entry whose canonical key is `key`, for the crate
/// whose owner fingerprint is `owner`.
pub fn key_hash(owner: u64, key: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128_with_seed(key, owner).to_be_bytes()
}

/// The fingerprint of a name stored in identities (owner, namespace path).
pub fn name_fingerprint(name: &str) -> u64 {
    if name.is_empty() {
        0
    } else {
        xxhash_rust::xxh3::xxh3_64(name.as_bytes())
    }
}

/// Everything a hit must match besides the key: the same for every record
/// one build of one cached function writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Canonical key format version.
    pub key_format: u8,
    /// The namespace's `version`.
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
}

impl Identity {
    /// An identity of the current key format.
    pub fn new(
        namespace_version: u32,
        value_shape: u64,
        params_shape: u64,
        body_fingerprint: u64,
        owner: u64,
        namespace: u64,
    ) -> Self {
        Identity {
            key_format: KEY_FORMAT_VERSION,
            namespace_version,
            value_shape,
            params_shape,
            body_fingerprint,
            owner,
            namespace,
        }
    }

    /// The identity's bytes, as tables, remotes and exports hold them.
    pub fn to_bytes(&self) -> [u8; IDENTITY_LEN] {
        let mut out = [0u8; IDENTITY_LEN];
        out[0] = self.key_format;
        out[4..8].copy_from_slice(&self.namespace_version.to_le_bytes());
        for (at, field) in [
            self.value_shape,
            self.params_shape,
            self.body_fingerprint,
            self.owner,
            self.namespace,
        ]
        .into_iter()
        .enumerate()
        {
            out[8 + 8 * at..16 + 8 * at].copy_from_slice(&field.to_le_bytes());
        }
        out
    }

    /// The identity held in `bytes`; `None` when they are not one (a
    /// reserved byte set: damage, or a later layout).
    pub fn from_bytes(bytes: &[u8; IDENTITY_LEN]) -> Option<Self> {
        (bytes[1..4] == [0, 0, 0]).then(|| Identity {
            key_format: bytes[0],
            namespace_version: u32_at(bytes, 4),
            value_shape: u64_at(bytes, 8),
            params_shape: u64_at(bytes, 16),
            body_fingerprint: u64_at(bytes, 24),
            owner: u64_at(bytes, 32),
            namespace: u64_at(bytes, 40),
        })
    }

    /// The fingerprint records name the identity by.
    pub fn fingerprint(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&self.to_bytes())
    }
}

/// The fixed fields of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Record layout version.
    pub format: u8,
    /// Codec tag of the value.
    pub codec: u8,
    /// The fingerprint of the record's [`Identity`].
    pub identity: u64,
    /// When the record was written, in milliseconds since the Unix epoch.
    pub written_at_ms: u64,
}

impl Header {
    /// A header of the current format.
    pub fn new(codec: u8, identity: u64, written_at_ms: u64) -> Self {
        Header {
            format: RECORD_FORMAT_VERSION,
            codec,
            identity,
            written_at_ms: written_at_ms.min(WRITTEN_AT_MAX),
        }
    }
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
    /// A portable record whose identity is not the one the record names, or
    /// is no identity at all: damaged.
    Identity,
}

impl std::error::Error for Malformed {}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Truncated => f.write_str("truncated record"),
            Malformed::UnknownFormat(v) => write!(f, "unknown record format {v}"),
            Malformed::Checksum => f.write_str("checksum mismatch (damaged record)"),
            Malformed::Identity => {
                f.write_str("its identity is not the one the record names (damaged record)")
            }
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u48_at(b: &[u8], at: usize) -> u64 {
    let mut le = [0u8; 8];
    le[..6].copy_from_slice(&b[at..at + 6]);
    u64::from_le_bytes(le)
}

/// The key length after the fixed header, and where the key starts; `None`
/// when the bytes end inside it or it says more than 32 bits.
fn key_length(body: &[u8]) -> Option<(usize, usize)> {
    let mut len: u64 = 0;
    for (i, &byte) in body.get(HEADER_LEN..)?.iter().take(5).enumerate() {
        len |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (len <= u64::from(u32::MAX)).then(|| (len as usize, HEADER_LEN + i + 1));
        }
    }
    None
}

/// A record's write time, read from its header alone (no checksum: for
/// eviction order, where a damaged record only goes first). `None` for
/// bytes too short or of another format.
pub(crate) fn written_at_ms(bytes: &[u8]) -> Option<u64> {
    (bytes.len() >= HEADER_LEN && bytes[0] == RECORD_FORMAT_VERSION).then(|| u48_at(bytes, 10))
}

/// A record's identity fingerprint, read from its header alone (no
/// checksum: for the table its store keeps). `None` for bytes too short or
/// of another format.
pub(crate) fn identity_of(bytes: &[u8]) -> Option<u64> {
    (bytes.len() >= HEADER_LEN && bytes[0] == RECORD_FORMAT_VERSION).then(|| u64_at(bytes, 2))
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
        if bytes.len() < HEADER_LEN + 1 + CHECKSUM_LEN {
            return Err(Malformed::Truncated);
        }
        if bytes[0] != RECORD_FORMAT_VERSION {
            return Err(Malformed::UnknownFormat(bytes[0]));
        }
        let body = &bytes[..bytes.len() - CHECKSUM_LEN];
        let header = Header {
            format: body[0],
            codec: body[1],
            identity: u64_at(body, 2),
            written_at_ms: u48_at(body, 10),
        };
        let (key_len, key_at) = key_length(body).ok_or(Malformed::Truncated)?;
        let rest = &body[key_at..];
        if rest.len() < key_len {
            return Err(Malformed::Truncated);
        }
        let (key, value) = rest.split_at(key_len);
        Ok(Record { header, key, value })
    }
}

/// Where a record's value starts (after its header and key); `None` for
/// bytes that are not a record of this version.
pub fn value_at(bytes: &[u8]) -> Option<usize> {
    let record = Record::read_unverified(bytes).ok()?;
    Some(record.value.as_ptr() as usize - bytes.as_ptr() as usize)
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
    let key_len = u32::try_from(key.len()).expect("a canonical key under 4 GiB");
    out.reserve(HEADER_LEN + 5 + key.len() + CHECKSUM_LEN);
    out.push(header.format);
    out.push(header.codec);
    out.extend_from_slice(&header.identity.to_le_bytes());
    out.extend_from_slice(&header.written_at_ms.min(WRITTEN_AT_MAX).to_le_bytes()[..6]);
    let mut rest = key_len;
    loop {
        let byte = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(key);
}

/// Ends a record begun with [`begin`] (and its value appended): appends the
/// checksum.
pub fn seal(out: &mut Vec<u8>) {
    let sum = xxhash_rust::xxh3::xxh3_64(out);
    out.extend_from_slice(&sum.to_le_bytes());
}

/// The record with another identity, sealed again: how an import into
/// another namespace, asked for explicitly, re-files a record.
pub fn refile(bytes: &[u8], identity: u64) -> Vec<u8> {
    let mut out = bytes[..bytes.len() - CHECKSUM_LEN].to_vec();
    out[2..10].copy_from_slice(&identity.to_le_bytes());
    seal(&mut out);
    out
}

/// The identity and the record of a portable record, when the identity is
/// the one the record names (the record's own checksum is not verified
/// here: judging it does that).
///
/// # Errors
///
/// [`Malformed::Truncated`] for bytes shorter than an identity and a record,
/// [`Malformed::UnknownFormat`] for a record of another format,
/// [`Malformed::Identity`] for an identity that is not the record's.
pub fn split_portable(bytes: &[u8]) -> Result<(Identity, &[u8]), Malformed> {
    let Some((identity, record)) = bytes.split_first_chunk::<IDENTITY_LEN>() else {
        return Err(Malformed::Truncated);
    };
    let named = Record::read_unverified(record)?.header.identity;
    match Identity::from_bytes(identity) {
        Some(identity) if identity.fingerprint() == named => Ok((identity, record)),
        _ => Err(Malformed::Identity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity::new(7, 0xdead_beef, 5, 42, 9, 11)
    }

    fn sample() -> (Header, Vec<u8>) {
        let header = Header::new(1, identity().fingerprint(), 1_700_000_000_000);
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
        assert_eq!(value_at(&out), Some(HEADER_LEN + 1 + 7));
        assert_eq!(Record::parse(&out[..10]).unwrap_err(), Malformed::Truncated);
        let mut other = out.clone();
        other[0] = 2;
        assert_eq!(
            Record::parse(&other).unwrap_err(),
            Malformed::UnknownFormat(2)
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
        let mut want = vec![3u8, 1];
        want.extend_from_slice(&identity().fingerprint().to_le_bytes());
        want.extend_from_slice(&1_700_000_000_000u64.to_le_bytes()[..6]);
        want.push(7);
        want.extend_from_slice(br#"{"x":1}value"#);
        let sum = xxhash_rust::xxh3::xxh3_64(&want);
        want.extend_from_slice(&sum.to_le_bytes());
        assert_eq!(out, want);
        assert_eq!(out.len(), 16 + 1 + 7 + 5 + 8);
    }

    /// The identity's bytes and its fingerprint's digits: a change to
    /// either is a new record format (every stored record names its
    /// identity by them).
    #[test]
    fn the_identity_layout_and_fingerprint_are_as_documented() {
        let id = identity();
        let mut want = vec![KEY_FORMAT_VERSION, 0, 0, 0, 7, 0, 0, 0];
        for field in [0xdead_beef_u64, 5, 42, 9, 11] {
            want.extend_from_slice(&field.to_le_bytes());
        }
        assert_eq!(id.to_bytes().to_vec(), want);
        assert_eq!(Identity::from_bytes(&id.to_bytes()), Some(id));
        assert_eq!(id.fingerprint(), xxhash_rust::xxh3::xxh3_64(&want));
        assert_eq!(KEY_FORMAT_VERSION, 2, "the digit below is of key format 2");
        // Checked against Python's xxhash (xxh3_64_intdigest) of the same bytes.
        assert_eq!(id.fingerprint(), 0x4d21_99e3_5241_257a);
        let mut reserved = id.to_bytes();
        reserved[2] = 1;
        assert_eq!(Identity::from_bytes(&reserved), None);
    }

    #[test]
    fn key_lengths_of_every_width_read_back() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let key = vec![b'k'; len];
            let mut out = Vec::new();
            begin(&mut out, &Header::new(0, 1, 2), &key);
            out.extend_from_slice(b"v");
            seal(&mut out);
            let r = Record::parse(&out).unwrap();
            assert_eq!((r.key.len(), r.value), (len, &b"v"[..]), "{len}");
        }
        // A length that runs past the bytes, or past 32 bits.
        let mut long = vec![3u8, 0];
        long.extend_from_slice(&[0; 14]);
        long.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x7f]);
        long.extend_from_slice(&[0; 8]);
        assert_eq!(
            Record::read_unverified(&long).unwrap_err(),
            Malformed::Truncated
        );
        let mut endless = vec![3u8, 0];
        endless.extend_from_slice(&[0; 14]);
        endless.extend_from_slice(&[0x80; 12]);
        assert_eq!(
            Record::read_unverified(&endless).unwrap_err(),
            Malformed::Truncated
        );
    }

    #[test]
    fn a_write_time_past_the_year_10889_is_held_at_the_last_it_can_say() {
        let mut out = Vec::new();
        begin(&mut out, &Header::new(0, 1, u64::MAX), b"k");
        seal(&mut out);
        assert_eq!(
            Record::parse(&out).unwrap().header.written_at_ms,
            WRITTEN_AT_MAX
        );
        assert_eq!(written_at_ms(&out), Some(WRITTEN_AT_MAX));
    }

    #[test]
    fn a_value_checked_while_copied_checks_as_the_whole() {
        let (_, mut out) = sample();
        for damage in [None, Some(HEADER_LEN + 1 + 7 + 2), Some(3)] {
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
    fn a_refiled_record_names_its_new_identity() {
        let (_, out) = sample();
        let moved = refile(&out, 77);
        assert_eq!(Record::parse(&moved).unwrap().header.identity, 77);
    }

    #[test]
    fn a_portable_record_carries_the_identity_its_record_names() {
        let (_, record) = sample();
        let mut portable = identity().to_bytes().to_vec();
        portable.extend_from_slice(&record);
        let (id, inner) = split_portable(&portable).unwrap();
        assert_eq!((id, inner), (identity(), &record[..]));
        let mut other = portable.clone();
        other[4] ^= 1; // another namespace version
        assert_eq!(split_portable(&other).unwrap_err(), Malformed::Identity);
        assert_eq!(
            split_portable(&portable[..40]).unwrap_err(),
            Malformed::Truncated
        );
    }
}
