//! Value codecs. The default stores postcard (compact, fast, exact) where the
//! value's traced shape proves postcard can hold it, and CBOR (self-describing,
//! fields and variants by name) otherwise, so every serde type is cached. JSON
//! is for namespaces whose values people want to read; it keeps map order and
//! refuses what JSON cannot hold rather than writing a lossy `null`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::record::{Record, Verifier};
use crate::config::CodecName;
use crate::key::{self, Flavor, Refusal};
use crate::shape::ValueShape;

mod bulk;
mod probe;
pub mod raw;
mod shaped;

pub use bulk::BULK_TAG;
pub(crate) use bulk::elem_of as bulk_elem_of;
pub use shaped::SHAPED_TAG;

/// Whether a codec tag is one of the raw-array codecs (bulk or shaped).
pub fn is_bulk(tag: u8) -> bool {
    tag == BULK_TAG || tag == SHAPED_TAG
}

/// Whether a stored raw array (codec `tag`) is well formed: whole elements,
/// and for a shaped one as many as its shape says.
pub fn bulk_is_well_formed(tag: u8, bytes: &[u8]) -> bool {
    match tag {
        BULK_TAG => bulk::is_well_formed(bytes),
        SHAPED_TAG => shaped::is_well_formed(bytes),
        _ => false,
    }
}

/// A stored raw array (codec `tag`) as JSON text (for tools), `None` when
/// damaged.
pub fn bulk_to_json(tag: u8, bytes: &[u8]) -> Option<String> {
    match tag {
        BULK_TAG => bulk::to_json(bytes),
        SHAPED_TAG => shaped::to_json(bytes),
        _ => None,
    }
}

/// How a namespace encodes its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Codec {
    /// The default: postcard where the value type's traced shape proves it
    /// plain, CBOR otherwise (types postcard cannot hold: `serde_json::Value`,
    /// untagged, internally tagged and flattened types, skipped fields).
    #[default]
    Postcard,
    /// JSON, readable with any JSON tool. Values holding NaN or an infinite
    /// float, or maps keyed by composite types, are not stored; value shapes
    /// JSON cannot hold (`Option<Option<_>>`, `Option<()>`) are refused when
    /// the namespace is opened.
    Json,
    /// CBOR for every value: self-describing, fields matched by name.
    Cbor,
}

impl Codec {
    /// Every codec with its record tag and its name in permacache.toml: the
    /// one table of codecs (the names are spelled in [`CodecName::NAMES`]).
    const ALL: [(Codec, u8, CodecName); 3] = [
        (Codec::Postcard, 0, CodecName::Postcard),
        (Codec::Json, 1, CodecName::Json),
        (Codec::Cbor, 2, CodecName::Cbor),
    ];

    /// The tag stored in each record.
    pub fn tag(self) -> u8 {
        Self::ALL
            .iter()
            .find(|(c, _, _)| *c == self)
            .map_or(0, |(_, tag, _)| *tag)
    }

    /// The codec of a record's tag.
    pub fn from_tag(tag: u8) -> Option<Codec> {
        Self::ALL
            .iter()
            .find(|(_, t, _)| *t == tag)
            .map(|(c, _, _)| *c)
    }

    /// The codec's name in permacache.toml.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(c, _, _)| *c == self)
            .map_or("postcard", |(_, _, name)| name.as_str())
    }

    /// The codec named `name` in permacache.toml.
    pub fn from_name(name: &str) -> Option<Codec> {
        CodecName::from_name(name).map(Codec::from)
    }

    /// How values of `shape` are written by a namespace of this codec.
    ///
    /// # Errors
    ///
    /// [`ValueError::Unsupported`] when the codec is JSON and the shape
    /// holds what JSON cannot.
    pub(crate) fn plan(self, shape: &ValueShape) -> Result<Plan, StoreError> {
        Ok(match (self, &shape.traced) {
            (Codec::Json, Some(traced)) => match &traced.json_problem {
                Some(problem) => return Err(ValueError::Unsupported(problem.clone()).into()),
                None => Plan::Json,
            },
            (Codec::Json, None) => Plan::Json,
            // postcard decodes without a depth limit: a forged record of a
            // recursive type nested deep enough would overflow the stack.
            // CBOR's decoder stops at a depth of 256.
            (Codec::Cbor, _) | (Codec::Postcard, None) => Plan::Cbor,
            (Codec::Postcard, Some(traced)) if traced.recursive => Plan::Cbor,
            (Codec::Postcard, Some(traced)) => Plan::Postcard {
                probe_skips: traced.has_fields,
            },
        })
    }
}

/// How one namespace writes its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// postcard; values whose serialization skips a field (which postcard,
    /// being positional, cannot hold) go to CBOR when `probe_skips`.
    Postcard {
        probe_skips: bool,
    },
    Json,
    Cbor,
    /// Raw little-endian numbers, for a value type that is a bulk array
    /// (the default codec picks it); arrays shorter than
    /// [`bulk::MIN_ELEMENTS`] stay postcard.
    Bulk,
}

impl Plan {
    /// Whether records of codec `tag` are read: only the codecs this plan
    /// writes, so a record claiming postcard is never decoded for a type
    /// that needs CBOR's depth limit.
    pub(crate) fn reads(self, tag: u8) -> bool {
        match self {
            Plan::Postcard { .. } => tag == Codec::Postcard.tag() || tag == Codec::Cbor.tag(),
            Plan::Json => tag == Codec::Json.tag(),
            Plan::Cbor => tag == Codec::Cbor.tag(),
            // Records written as postcard before (a plain array is plain).
            Plan::Bulk => is_bulk(tag) || tag == Codec::Postcard.tag(),
        }
    }

    /// Appends the encoding of `value` to `out`; returns the codec tag used.
    pub(crate) fn encode<R: Serialize + 'static>(
        self,
        value: &R,
        out: &mut Vec<u8>,
    ) -> Result<u8, StoreError> {
        match self {
            Plan::Bulk if bulk::encode(value, bulk::MIN_ELEMENTS, out) => Ok(BULK_TAG),
            #[cfg(feature = "ndarray")]
            Plan::Bulk if shaped::encode(value, bulk::MIN_ELEMENTS, out) => Ok(SHAPED_TAG),
            Plan::Bulk => Plan::Postcard { probe_skips: false }.encode(value, out),
            Plan::Postcard { probe_skips } => {
                if !(probe_skips && probe::skips_fields(value)) {
                    let start = out.len();
                    if postcard::to_extend(value, Tail(&mut *out)).is_ok() {
                        return Ok(Codec::Postcard.tag());
                    }
                    // postcard needs lengths up front; a value that cannot
                    // give them goes to CBOR.
                    out.truncate(start);
                }
                Plan::Cbor.encode(value, out)
            }
            Plan::Json => {
                key::write_canonical(value, out, Flavor::Value).map_err(ValueError::from)?;
                Ok(Codec::Json.tag())
            }
            Plan::Cbor => {
                ciborium::into_writer(value, &mut *out)
                    .map_err(|e| ValueError::Custom(e.to_string()))?;
                Ok(Codec::Cbor.tag())
            }
        }
    }
}

impl From<CodecName> for Codec {
    fn from(name: CodecName) -> Codec {
        Codec::ALL
            .iter()
            .find(|(_, _, n)| *n == name)
            .map_or(Codec::Postcard, |(c, _, _)| *c)
    }
}

/// A value could not be encoded with its namespace's codec.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueError {
    /// The value's own `Serialize` implementation reported an error (or the
    /// codec refused what it was given); the message.
    Custom(String),
    /// A NaN or infinite float in a namespace whose codec is JSON.
    NonFiniteFloat,
    /// A map key that is not a string, number, bool or char in a namespace
    /// whose codec is JSON.
    MapKeyNotString,
    /// The JSON codec cannot hold every value of the cached type
    /// (`Option<Option<_>>`, say): which part. Found when the cache opens.
    Unsupported(String),
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueError::Custom(msg) => write!(f, "the value's Serialize impl failed: {msg}"),
            ValueError::NonFiniteFloat => f.write_str(
                "plain JSON cannot hold NaN or an infinite float (use the postcard codec)",
            ),
            ValueError::MapKeyNotString => f.write_str(
                "plain JSON map keys must be strings, numbers, bools or chars (use the postcard codec)",
            ),
            ValueError::Unsupported(what) => write!(
                f,
                "the JSON codec cannot hold this value type: it has {what}; use the default codec"
            ),
        }
    }
}

impl std::error::Error for ValueError {}

impl From<Refusal> for ValueError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Custom(msg) => ValueError::Custom(msg),
            Refusal::NonFiniteFloat => ValueError::NonFiniteFloat,
            Refusal::MapKeyNotString => ValueError::MapKeyNotString,
        }
    }
}

/// Why a stored value was not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Undecodable {
    /// The record's checksum failed as the value was copied out.
    Damaged,
    /// The value is not one of the cached type; why.
    Unreadable(String),
}

impl std::fmt::Display for Undecodable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecodable::Damaged => f.write_str("the record's checksum does not match"),
            Undecodable::Unreadable(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Undecodable {}

/// Decodes a value stored under codec `tag` (its record's checksum already
/// checked); the error says why the bytes are not an `R`.
pub(crate) fn decode<R: DeserializeOwned + 'static>(
    tag: u8,
    bytes: &[u8],
) -> Result<R, Undecodable> {
    if is_bulk(tag) {
        return decode_bulk(tag, bytes, None);
    }
    let unreadable = |why: String| Undecodable::Unreadable(why);
    match Codec::from_tag(tag) {
        Some(Codec::Postcard) => match postcard::take_from_bytes(bytes) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(unreadable(format!(
                "{} bytes left over after the value",
                rest.len()
            ))),
            Err(e) => Err(unreadable(e.to_string())),
        },
        Some(Codec::Json) => serde_json::from_slice(bytes).map_err(|e| unreadable(e.to_string())),
        Some(Codec::Cbor) => ciborium::from_reader(bytes).map_err(|e| unreadable(e.to_string())),
        None => Err(unreadable(format!("unknown codec {tag}"))),
    }
}

/// Values at least this long are checked as they are copied out.
pub(crate) const VERIFY_WHILE_COPYING: usize = 4 << 10;

/// Decodes a bulk value of `record`, read unverified from `bytes`, checking
/// the record's checksum as the value is copied: `Err(Undecodable::Damaged)` when the
/// checksum does not match, `Err(Undecodable::Unreadable(why))` when the value is not an `R`.
pub(crate) fn decode_bulk_verified<R: 'static>(
    bytes: &[u8],
    record: &Record<'_>,
) -> Result<R, Undecodable> {
    decode_bulk(
        record.header.codec,
        record.value,
        Some(&Verifier::new(bytes)),
    )
}

/// Decodes a raw array of codec `tag` (`Err(Undecodable::Damaged)`: the checksum failed).
fn decode_bulk<R: 'static>(
    tag: u8,
    bytes: &[u8],
    verifier: Option<&Verifier<'_>>,
) -> Result<R, Undecodable> {
    match tag {
        #[cfg(feature = "ndarray")]
        SHAPED_TAG => shaped::decode(bytes, verifier),
        #[cfg(not(feature = "ndarray"))]
        SHAPED_TAG => {
            let _ = (bytes, verifier);
            Err(Undecodable::Unreadable(
                "an ndarray array, and this build lacks the `ndarray` feature".into(),
            ))
        }
        _ => bulk::decode(bytes, verifier),
    }
}

/// Appends to a buffer the caller keeps, so a failed encoding leaves what
/// was written before it.
struct Tail<'a>(&'a mut Vec<u8>);

impl Extend<u8> for Tail<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        self.0.extend(bytes);
    }
}
