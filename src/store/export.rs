//! The export file: one portable file holding a namespace's records, to share
//! a cache or move it between machines. Every byte is checked on import, and
//! nothing is written unless the whole file is sound.
//!
//! # Export format, version 3
//!
//! | part | bytes |
//! |---|---|
//! | magic | `PERMACACHE-EXPORT` then a NUL (18) |
//! | format version | 1 (`3`) |
//! | namespace path | u32 length (little-endian), then UTF-8 |
//! | identity count | u32 (little-endian) |
//! | each identity | its 48 bytes (see [`Identity`]) |
//! | record count | u64 (little-endian) |
//! | each record | 16-byte LMDB key, u32 length, record bytes (see [`Record`]) |
//! | checksum | 16 bytes: xxh3-128 (big-endian) of everything before it |
//!
//! Version 3 holds records of format 3 and the identities they name, each
//! once (version 2 held records of format 2, whose headers held their
//! identities). Records that are damaged in the store, or whose identity
//! the store does not hold, are left out of an export; each record of a
//! file is checked as a hit would check it (checksum, codec, key, its LMDB
//! key, an identity of the file that names the file's namespace), and no
//! LMDB key or identity may come twice.

use std::collections::HashMap;
use std::io::Write;

use super::{
    AdminError, Codec, IDENTITY_LEN, Identity, Namespace, Record, StoreError, key_hash,
    name_fingerprint, refile,
};

const MAGIC: &[u8; 18] = b"PERMACACHE-EXPORT\0";

/// Version of the export format above.
pub const EXPORT_FORMAT_VERSION: u8 = 3;

/// A parsed export file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The namespace it was exported from.
    pub namespace: String,
    /// The identities its records name.
    pub identities: Vec<Identity>,
    /// `(LMDB key, record bytes)`, each checked.
    pub records: Vec<([u8; 16], Vec<u8>)>,
}

impl Export {
    /// Stores the export's records in `ns` in one durable transaction, with
    /// their identities; records exported from another namespace are
    /// re-filed under `ns` (their identities name it). Returns how many.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be written; nothing is
    /// stored then.
    pub fn store_into(&self, ns: &Namespace) -> Result<usize, StoreError> {
        let target = name_fingerprint(ns.name());
        let mut moved = std::collections::HashMap::new();
        for identity in &self.identities {
            let filed = Identity {
                namespace: target,
                ..*identity
            };
            ns.know(&filed);
            moved.insert(identity.fingerprint(), filed.fingerprint());
        }
        let records: Vec<([u8; 16], std::borrow::Cow<'_, [u8]>)> = self
            .records
            .iter()
            .map(|(hash, record)| {
                let named = Record::read_unverified(record).map(|r| r.header.identity);
                match named.ok().and_then(|fp| moved.get(&fp).map(|to| (fp, *to))) {
                    Some((from, to)) if from != to => (*hash, refile(record, to).into()),
                    _ => (*hash, record.as_slice().into()),
                }
            })
            .collect();
        ns.put_many_raw(records.iter().map(|(h, r)| (h, &r[..])))?;
        Ok(records.len())
    }
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
    let mut identities = ns.identities()?;
    let mut named: Vec<u64> = Vec::new();
    let mut records = Vec::new();
    let mut count = 0u64;
    // Records whose identity came after the table was read (with a record
    // written meanwhile): looked for once more after the walk.
    let mut late: Vec<[u8; 16]> = Vec::new();
    let mut add = |k: &[u8], v: &[u8], identities: &HashMap<u64, Identity>| {
        let Ok(record) = Record::parse(v) else {
            return Ok(()); // damaged: not worth carrying elsewhere
        };
        let fp = record.header.identity;
        if !identities.contains_key(&fp) {
            return Err(<[u8; 16]>::try_from(k).expect("a record's key"));
        }
        if !named.contains(&fp) {
            named.push(fp);
        }
        records.extend_from_slice(k);
        records.extend_from_slice(&(v.len() as u32).to_le_bytes());
        records.extend_from_slice(v);
        count += 1;
        on_record();
        Ok(())
    };
    ns.for_each_raw(|k, v| {
        if let Err(hash) = add(k, v, &identities) {
            late.push(hash);
        }
        true
    })?;
    if !late.is_empty() {
        identities = ns.identities()?;
        for hash in &late {
            // Still without one: a record the store cannot name, left out
            // (an import would refuse it).
            if let Some(v) = ns.get_raw(hash)? {
                let _ = add(hash, &v, &identities);
            }
        }
    }
    // The file, its checksum computed as it is written.
    let mut head = Vec::with_capacity(64 + named.len() * IDENTITY_LEN);
    head.extend_from_slice(MAGIC);
    head.push(EXPORT_FORMAT_VERSION);
    head.extend_from_slice(&(ns.name().len() as u32).to_le_bytes());
    head.extend_from_slice(ns.name().as_bytes());
    head.extend_from_slice(&(named.len() as u32).to_le_bytes());
    for fp in &named {
        head.extend_from_slice(&identities[fp].to_bytes());
    }
    head.extend_from_slice(&count.to_le_bytes());
    let mut sum = xxhash_rust::xxh3::Xxh3::new();
    sum.update(&head);
    sum.update(&records);
    let io = |source| StoreError::Io {
        path: ns.dir().to_path_buf(),
        source,
    };
    out.write_all(&head).map_err(io)?;
    out.write_all(&records).map_err(io)?;
    out.write_all(&sum.digest128().to_be_bytes()).map_err(io)?;
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
    let identity_count = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes"));
    let mut identities = std::collections::HashMap::new();
    for i in 0..identity_count {
        let bytes: &[u8; IDENTITY_LEN] = take(IDENTITY_LEN)?.try_into().expect("48 bytes");
        let identity = Identity::from_bytes(bytes)
            .ok_or_else(|| AdminError::BadExport(format!("identity {i} is not one")))?;
        if identity.namespace != name_fingerprint(&namespace) {
            return Err(AdminError::BadExport(format!(
                "identity {i} is of another namespace than {namespace}"
            )));
        }
        if identities
            .insert(identity.fingerprint(), identity)
            .is_some()
        {
            return Err(AdminError::BadExport(format!("identity {i} comes twice")));
        }
    }
    let count = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
    let mut records = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..count {
        let hash: [u8; 16] = take(16)?.try_into().expect("16 bytes");
        let len = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let record = take(len)?.to_vec();
        let parsed = Record::parse(&record)
            .map_err(|e| AdminError::BadExport(format!("record {i}: {e}")))?;
        let identity = identities.get(&parsed.header.identity);
        let problem = if Codec::from_tag(parsed.header.codec).is_none()
            && !super::is_bulk(parsed.header.codec)
        {
            Some(format!("an unknown codec {}", parsed.header.codec))
        } else if std::str::from_utf8(parsed.key).is_err() {
            Some("a key that is not UTF-8".to_string())
        } else if identity.is_none() {
            Some("an identity that the file does not hold".to_string())
        } else if identity.is_some_and(|id| key_hash(id.owner, parsed.key) != hash) {
            Some("an LMDB key that is not its key's hash".to_string())
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
    let mut identities: Vec<Identity> = identities.into_values().collect();
    identities.sort_by_key(Identity::fingerprint);
    Ok(Export {
        namespace,
        identities,
        records,
    })
}
