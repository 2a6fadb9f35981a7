//! `#[serde(with = "permacache::raw")]`: an array of plain numbers inside a
//! returned struct, stored as its raw little-endian bytes and read back with
//! one copy, every bit exact, like a returned array.
//!
//! ```
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Fit {
//!     name: String,
//!     #[serde(with = "permacache::raw")]
//!     weights: Vec<f64>,
//!     #[serde(with = "permacache::raw")]
//!     counts: Box<[u32]>,
//! }
//! ```
//!
//! The field is serialized as bytes (serde's `serialize_bytes`) by the
//! binary codecs (postcard, CBOR) and as a sequence of numbers by readable
//! ones (JSON), so a `codec = "json"` namespace stays readable. Reading
//! accepts either. Bytes that are not a whole number of elements are an
//! error, so the entry is a miss, never a wrong value.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

pub use crate::key::fingerprint::bulk::PlainNumber;

/// An array `#[serde(with = "permacache::raw")]` takes: `Vec<T>` or
/// `Box<[T]>` of `u8`..`u64`, `i8`..`i64`, `f32`, `f64`.
pub trait RawArray: Sized {
    /// The element type.
    type Elem: PlainNumber + for<'de> Deserialize<'de>;
    /// The elements.
    fn elements(&self) -> &[Self::Elem];
    /// The array of `elements`.
    fn from_elements(elements: Vec<Self::Elem>) -> Self;
}

impl<T: PlainNumber + for<'de> Deserialize<'de>> RawArray for Vec<T> {
    type Elem = T;
    fn elements(&self) -> &[T] {
        self
    }
    fn from_elements(elements: Vec<T>) -> Self {
        elements
    }
}

impl<T: PlainNumber + for<'de> Deserialize<'de>> RawArray for Box<[T]> {
    type Elem = T;
    fn elements(&self) -> &[T] {
        self
    }
    fn from_elements(elements: Vec<T>) -> Self {
        elements.into_boxed_slice()
    }
}

/// Serializes `value` as its raw bytes (binary formats) or its numbers
/// (readable ones).
///
/// # Errors
///
/// The serializer's.
pub fn serialize<A: RawArray, S: Serializer>(value: &A, serializer: S) -> Result<S::Ok, S::Error> {
    let elements = value.elements();
    if serializer.is_human_readable() {
        return elements.serialize(serializer);
    }
    if cfg!(target_endian = "little") {
        // SAFETY: plain numbers have no padding and every byte is
        // initialized; the slice covers exactly the elements.
        let bytes = unsafe {
            std::slice::from_raw_parts(elements.as_ptr().cast::<u8>(), size_of_val(elements))
        };
        serializer.serialize_bytes(bytes)
    } else {
        let mut bytes = Vec::with_capacity(size_of_val(elements));
        for x in elements {
            x.put_le(&mut bytes);
        }
        serializer.serialize_bytes(&bytes)
    }
}

/// Reads what [`serialize`] wrote (or a plain sequence of numbers).
///
/// # Errors
///
/// Bytes that are not a whole number of elements, or the deserializer's.
pub fn deserialize<'de, A: RawArray, D: Deserializer<'de>>(deserializer: D) -> Result<A, D::Error> {
    if deserializer.is_human_readable() {
        return Vec::<A::Elem>::deserialize(deserializer).map(A::from_elements);
    }
    // `byte_buf`: CBOR reads bytes longer than its scratch buffer only so.
    deserializer.deserialize_byte_buf(Raw(PhantomData))
}

struct Raw<A>(PhantomData<A>);

impl<'de, A: RawArray> Visitor<'de> for Raw<A> {
    type Value = A;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the raw bytes of an array of {}-byte numbers",
            size_of::<A::Elem>()
        )
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<A, E> {
        let size = size_of::<A::Elem>();
        if !bytes.len().is_multiple_of(size) {
            return Err(E::invalid_length(bytes.len(), &self));
        }
        let n = bytes.len() / size;
        let mut v: Vec<A::Elem> = Vec::with_capacity(n);
        if cfg!(target_endian = "little") {
            // SAFETY: the buffer holds `n` elements, `bytes.len()` bytes;
            // every bit pattern is a valid plain number.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    v.as_mut_ptr().cast::<u8>(),
                    bytes.len(),
                );
                v.set_len(n);
            }
        } else {
            for chunk in bytes.chunks_exact(size) {
                v.push(A::Elem::from_le(chunk));
            }
        }
        Ok(A::from_elements(v))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<A, S::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(A::from_elements(v))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Fit {
        name: String,
        #[serde(with = "crate::raw")]
        weights: Vec<f64>,
        #[serde(with = "crate::raw")]
        counts: Box<[i16]>,
    }

    fn sample() -> Fit {
        Fit {
            name: "a".into(),
            weights: vec![0.5, -0.0, f64::from_bits(0x7ff4_0000_0000_0001), 4e-320],
            counts: vec![-1, 2, i16::MIN].into(),
        }
    }

    fn bits(f: &Fit) -> Vec<u64> {
        f.weights.iter().map(|w| w.to_bits()).collect()
    }

    #[test]
    fn binary_codecs_hold_the_raw_bytes_and_read_them_back_exactly() {
        let fit = sample();
        let bytes = postcard::to_allocvec(&fit).unwrap();
        // name (1 + 1), weights (1 + 32), counts (1 + 6)
        assert_eq!(bytes.len(), 42);
        assert_eq!(&bytes[3..11], &0.5f64.to_le_bytes());
        let back: Fit = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(bits(&back), bits(&fit));
        assert_eq!(back.counts, fit.counts);

        let mut cbor = Vec::new();
        ciborium::into_writer(&fit, &mut cbor).unwrap();
        let back: Fit = ciborium::from_reader(&cbor[..]).unwrap();
        assert_eq!(bits(&back), bits(&fit));
    }

    #[test]
    fn readable_codecs_hold_numbers() {
        let fit = Fit {
            weights: vec![0.5, 2.0],
            ..sample()
        };
        let json = serde_json::to_string(&fit).unwrap();
        assert_eq!(
            json,
            r#"{"name":"a","weights":[0.5,2.0],"counts":[-1,2,-32768]}"#
        );
        assert_eq!(serde_json::from_str::<Fit>(&json).unwrap(), fit);
    }

    #[test]
    fn bytes_that_are_not_whole_elements_are_an_error() {
        let mut bytes = postcard::to_allocvec(&sample()).unwrap();
        bytes[2] = 31; // the weights' byte length, one short
        assert!(postcard::from_bytes::<Fit>(&bytes).is_err());
    }
}
