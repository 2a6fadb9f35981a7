//! The export file: one portable file holding a namespace's records, to share
//! a cache or move it between machines. Every byte is checked on import, and
//! nothing is written unless the whole file is sound.
//!
//! # Export format, version 2
//!
//! | part | bytes |
//! |---|---|
//! | magic | `PERMACACHE-EXPORT` then a NUL (18) |
//! | format version | 1 (`2`) |
//! | namespace path | u32 length (little-endian), then UTF-8 |
//! | record count | u64 (little-endian) |
//! | each record | 16-byte LMDB key, u32 length, record bytes (see [`Record`]) |
//! | checksum | 16 bytes: xxh3-128 (big-endian) of everything before it |
//!
//! Version 2 holds records of format 2 (version 1 held format 1). Records
//! that are damaged in the store are left out of an export; each record of a
//! file is checked as a hit would check it (checksum, codec, key, its LMDB
//! key, the namespace it names) and no LMDB key may come twice.

use std::io::Write;

use super::{AdminError, Codec, Namespace, Record, StoreError, key_hash, name_fingerprint};

const MAGIC: &[u8; 18] = b"PERMACACHE-EXPORT\0";

/// Version of the export format above.
pub const EXPORT_FORMAT_VERSION: u8 = 2;

/// A parsed export file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The namespace it was exported from.
    pub namespace: String,
    /// `(LMDB key, record bytes)`, each checked.
    pub records: Vec<([u8; 16], Vec<u8>)>,
}

/// Writes every record of `ns` to `out` in the export format, calling
/// `on_record` after each; returns how many. Reads in one transaction, so
/// the copy is consistent.
///
/// # Errors
///
/// A store error, or [`StoreError::Io`] when `out` cannot be written.
pub fn write_export(
    ns: &'static Namespace,
    out: &mut impl Write,
    on_record: &mut dyn FnMut(),
) -> Result<u64, StoreError> {
    let mut body = Vec::new();
    body.extend_from_slice(MAGIC);
    body.push(EXPORT_FORMAT_VERSION);
    body.extend_from_slice(&(ns.name().len() as u32).to_le_bytes());
    body.extend_from_slice(ns.name().as_bytes());
    let count_at = body.len();
    body.extend_from_slice(&0u64.to_le_bytes());
    let mut count = 0u64;
    ns.for_each_raw(|k, v| {
        if Record::parse(v).is_err() {
            return true; // damaged: not worth carrying elsewhere
        }
        body.extend_from_slice(k);
        body.extend_from_slice(&(v.len() as u32).to_le_bytes());
        body.extend_from_slice(v);
        count += 1;
        on_record();
        true
    })?;
    body[count_at..count_at + 8].copy_from_slice(&count.to_le_bytes());
    let checksum = xxhash_rust::xxh3::xxh3_128(&body).to_be_bytes();
    let io = |source| StoreError::Io {
        path: ns.dir().to_path_buf(),
        source,
    };
    out.write_all(&body).map_err(io)?;
    out.write_all(&checksum).map_err(io)?;
    out.flush().map_err(io)?;
    Ok(count)
}

/// Reads and checks an export file: magic, version, checksum, and that each
/// record parses and sits under the hash of its own key.
///
/// # Errors
///
/// [`AdminError::BadExport`] saying what is wrong.
pub fn read_export(bytes: &[u8]) -> Result<Export, AdminError> {
    let bad = |why: &str| AdminError::BadExport(why.to_string());
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("it does not start like one (wrong file?)"));
    }
    if bytes.len() < MAGIC.len() + 1 + 4 + 8 + 16 {
        return Err(bad("it is truncated"));
    }
    let (body, checksum) = bytes.split_at(bytes.len() - 16);
    if xxhash_rust::xxh3::xxh3_128(body).to_be_bytes() != checksum {
        return Err(bad("its checksum does not match (damaged or truncated)"));
    }
    let version = body[MAGIC.len()];
    if version != EXPORT_FORMAT_VERSION {
        return Err(AdminError::BadExport(format!(
            "export format {version}, but this build reads format {EXPORT_FORMAT_VERSION}"
        )));
    }
    let mut at = MAGIC.len() + 1;
    let mut take = |n: usize| -> Result<&[u8], AdminError> {
        let slice = body.get(at..at + n).ok_or_else(|| bad("it is truncated"))?;
        at += n;
        Ok(slice)
    };
    let name_len = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
    let namespace = std::str::from_utf8(take(name_len)?)
        .map_err(|_| bad("its namespace path is not UTF-8"))?
        .to_string();
    let count = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
    let mut records = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..count {
        let hash: [u8; 16] = take(16)?.try_into().expect("16 bytes");
        let len = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let record = take(len)?.to_vec();
        let parsed = Record::parse(&record)
            .map_err(|e| AdminError::BadExport(format!("record {i}: {e}")))?;
        let problem = if Codec::from_tag(parsed.header.codec).is_none()
            && !super::is_bulk(parsed.header.codec)
        {
            Some(format!("an unknown codec {}", parsed.header.codec))
        } else if std::str::from_utf8(parsed.key).is_err() {
            Some("a key that is not UTF-8".to_string())
        } else if key_hash(parsed.header.owner, parsed.key) != hash {
            Some("an LMDB key that is not its key's hash".to_string())
        } else if parsed.header.namespace != name_fingerprint(&namespace) {
            Some(format!("a record of another namespace than {namespace}"))
        } else if !seen.insert(hash) {
            Some("an LMDB key that an earlier record has".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(AdminError::BadExport(format!("record {i} has {problem}")));
        }
        records.push((hash, record));
    }
    if take(1).is_ok() {
        return Err(bad("it has bytes after its last record"));
    }
    Ok(Export { namespace, records })
}
