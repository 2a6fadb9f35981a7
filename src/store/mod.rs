//! Storage: one LMDB environment per namespace under a store root, holding
//! records (header, canonical key, value) keyed by the hash of the key, and
//! the table of the identities they name.
//!
//! Layers, from the bottom: [`root`](self) picks the directory,
//! [`Namespace`] owns an environment, [`Record`] is the byte layout, and
//! [`Codec`] encodes values. The typed [`Cache`](crate::Cache) sits on top.

mod budget;
mod codec;
mod compact;
mod error;
pub mod export;
mod ffi;
mod group_commit;
mod guard;
mod key_lock;
pub use guard::{Damage, check_files};
mod namespace;
mod presence;
mod record;
mod root;

pub use budget::Budget;
pub use codec::{
    BULK_TAG, Codec, SHAPED_TAG, ValueError, bulk_is_well_formed, bulk_to_json, is_bulk, raw,
};
pub(crate) use codec::{
    Plan, Undecodable, VERIFY_WHILE_COPYING, bulk_elem_of, decode, decode_bulk_verified,
};
pub use compact::{Compacted, bytes_on_disk, compact, drop_namespace};
pub(crate) use error::Chain;
pub use error::{AdminError, LmdbError, StoreError};
pub use key_lock::KeyLock;
pub(crate) use key_lock::Locking;
pub use namespace::{Durability, Namespace, NamespaceStats, list_namespaces};
pub use record::{
    CHECKSUM_LEN, HEADER_LEN, Header, IDENTITY_LEN, Identity, Malformed, RECORD_FORMAT_VERSION,
    Record, key_hash, name_fingerprint, refile, split_portable, value_at,
};
pub(crate) use record::{
    begin as begin_record, checksum_ok, seal as seal_record, set_codec as set_record_codec,
};
pub(crate) use root::resolve as resolve_root;
pub use root::{check_namespace, default_dir, set_store_dir, store_dir};
