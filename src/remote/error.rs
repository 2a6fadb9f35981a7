//! The one error of the remote layer: an address that is not one, a build
//! without the `redis` or `s3` feature, or a failure of the Redis client (kept as the
//! source). Never shows a password: addresses are redacted.

use std::fmt;

/// Why the shared tier could not do what was asked.
#[derive(Debug)]
#[non_exhaustive]
pub enum RemoteError {
    /// An address that is not a Redis address; says what was expected.
    BadAddress {
        /// The address, password redacted.
        address: String,
        /// What is wrong, and what was expected.
        reason: String,
    },
    /// This build lacks the feature the remote needs (`redis` or `s3`).
    NoFeature(&'static str),
    /// The CA file given for a `rediss://` remote cannot be read.
    BadCa {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The object store failed or refused a request.
    #[cfg(feature = "s3")]
    Objects {
        /// The store's address, `s3://bucket/prefix/`.
        address: String,
        /// What went wrong, in words.
        reason: String,
    },
    /// The Redis client failed.
    #[cfg(feature = "redis")]
    Redis {
        /// The remote's address, password redacted.
        address: String,
        /// The client's error.
        source: redis::RedisError,
    },
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::BadAddress { address, reason } => {
                write!(f, "bad remote address {address:?}: {reason}")
            }
            RemoteError::NoFeature(feature) => write!(
                f,
                "this build of permacache has no `{feature}` feature; enable it in Cargo.toml (permacache = {{ features = [\"{feature}\"] }})"
            ),
            RemoteError::BadCa { path, reason } => write!(
                f,
                "cannot read the remote's CA file {} ({reason}); expected a PEM file of certificate authorities (remote_ca, PERMACACHE_REMOTE_CA)",
                path.display()
            ),
            #[cfg(feature = "s3")]
            RemoteError::Objects { address, reason } => {
                write!(f, "object store {address}: {reason}")
            }
            #[cfg(feature = "redis")]
            RemoteError::Redis { address, .. } => write!(f, "remote {address}"),
        }
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            #[cfg(feature = "redis")]
            RemoteError::Redis { source, .. } => Some(source),
            _ => None,
        }
    }
}
