//! The errors of the key layer: why a value could not be turned into a
//! canonical key ([`KeyError`]), and why the canonical JSON writer, which
//! keys and JSON-codec values share, refused a value ([`Refusal`], named
//! by each user as its own error).

use std::fmt;

/// A value could not be encoded as a canonical key.
///
/// Keys are produced by [`stringify`](crate::stringify). Values are encoded
/// by the namespace's codec, whose errors are
/// [`ValueError`](crate::ValueError)s.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The value's own `Serialize` implementation reported an error.
    Custom(String),
    /// An `#[in_file]` path that exists but cannot be read.
    InputFile {
        /// The path as given.
        path: std::path::PathBuf,
        /// What the OS said.
        kind: std::io::ErrorKind,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Custom(msg) => write!(f, "the value's Serialize impl failed: {msg}"),
            KeyError::InputFile { path, kind } => write!(
                f,
                "cannot read the #[in_file] input {}: {kind}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for KeyError {}

impl serde::ser::Error for KeyError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        KeyError::Custom(msg.to_string())
    }
}

/// Why the canonical JSON writer refused a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The value's own `Serialize` implementation reported an error.
    Custom(String),
    /// A NaN or infinite float where plain JSON is required (values only:
    /// keys spell them).
    NonFiniteFloat,
    /// A map key that is not a string, number, bool or char where plain JSON
    /// is required (values only: keys write any map key).
    MapKeyNotString,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Custom(msg) => write!(f, "the value's Serialize impl failed: {msg}"),
            Refusal::NonFiniteFloat => {
                f.write_str("plain JSON cannot hold NaN or an infinite float")
            }
            Refusal::MapKeyNotString => {
                f.write_str("plain JSON map keys must be strings, numbers, bools or chars")
            }
        }
    }
}

impl std::error::Error for Refusal {}

impl serde::ser::Error for Refusal {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Refusal::Custom(msg.to_string())
    }
}

impl From<Refusal> for KeyError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Custom(msg) => KeyError::Custom(msg),
            // A key spells non-finite floats and writes any map key: the
            // writer refuses these only for values.
            other => KeyError::Custom(other.to_string()),
        }
    }
}
