//! Value codecs. Postcard (compact, fast, exact) by default; JSON for
//! namespaces whose values people want to read. Both round-trip every f64
//! exactly; JSON refuses NaN and infinities rather than writing a lossy `null`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use crate::key::{self, Flavor};

/// How a namespace encodes its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Codec {
    /// postcard: compact binary, the default.
    #[default]
    Postcard,
    /// JSON (sorted keys), readable with any JSON tool. Values holding NaN or
    /// an infinite float, or maps keyed by composite types, are not stored.
    Json,
}

impl Codec {
    /// The tag stored in each record.
    pub fn tag(self) -> u8 {
        match self {
            Codec::Postcard => 0,
            Codec::Json => 1,
        }
    }

    /// The codec of a record's tag.
    pub fn from_tag(tag: u8) -> Option<Codec> {
        match tag {
            0 => Some(Codec::Postcard),
            1 => Some(Codec::Json),
            _ => None,
        }
    }

    /// The codec's name in permacache.toml.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Postcard => "postcard",
            Codec::Json => "json",
        }
    }

    /// Appends the encoding of `value` to `out`.
    pub(crate) fn encode<R: Serialize + ?Sized>(
        self,
        value: &R,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        match self {
            Codec::Postcard => {
                let taken = std::mem::take(out);
                *out = postcard::to_extend(value, taken)
                    .map_err(|e| StoreError::Encode(e.to_string()))?;
                Ok(())
            }
            Codec::Json => Ok(key::write_canonical(value, out, Flavor::Value)?),
        }
    }

    /// Decodes a value; the error says why the bytes are not an `R`.
    pub(crate) fn decode<R: DeserializeOwned>(self, bytes: &[u8]) -> Result<R, String> {
        match self {
            Codec::Postcard => match postcard::take_from_bytes(bytes) {
                Ok((value, [])) => Ok(value),
                Ok((_, rest)) => Err(format!("{} bytes left over after the value", rest.len())),
                Err(e) => Err(e.to_string()),
            },
            Codec::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        }
    }
}
