//! The one error of the key layer: why a value could not be turned into a
//! canonical key (or into a JSON-codec value).

use std::fmt;

/// A value could not be encoded as a canonical key.
///
/// Keys are produced by [`stringify`](crate::stringify); the same encoder
/// writes values for namespaces whose codec is JSON, which is stricter (plain
/// JSON has no spelling for NaN or for a map key that is not a string).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The value's own `Serialize` implementation reported an error.
    Custom(String),
    /// A NaN or infinite float where plain JSON is required (JSON-codec values).
    NonFiniteFloat,
    /// A map key that is not a string, number, bool or char where plain JSON is
    /// required (JSON-codec values).
    MapKeyNotString,
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
            KeyError::NonFiniteFloat => f.write_str(
                "plain JSON cannot hold NaN or an infinite float (use the postcard codec)",
            ),
            KeyError::MapKeyNotString => f.write_str(
                "plain JSON map keys must be strings, numbers, bools or chars (use the postcard codec)",
            ),
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
