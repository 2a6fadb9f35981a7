//! Bulk arrays: a value that is a contiguous array of plain numbers
//! (`Vec<T>` or `Box<[T]>` of `u8`..`u64`, `i8`..`i64`, `f32`, `f64`) is
//! stored as its raw little-endian bytes and read back with one copy, every
//! bit exact (NaN payloads, -0.0, subnormals).
//!
//! Codec tag 3 (record format 2): one byte naming the element type (see
//! [`Elem`]), then the elements, little-endian. A namespace of the default
//! codec picks it when the value type is such an array (known by `TypeId`).

use std::any::{Any, TypeId};

pub(super) use crate::key::fingerprint::bulk::PlainNumber as Plain;
use crate::store::codec::Undecodable;
use crate::store::record::Verifier;

/// The codec tag of bulk values.
pub const BULK_TAG: u8 = 3;

/// Arrays shorter than this stay postcard: its variable-length integers
/// are smaller for a few small numbers, and a short copy saves nothing.
pub(crate) const MIN_ELEMENTS: usize = 64;

/// An element type, by the code stored in the value's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elem {
    pub(crate) code: u8,
    pub(crate) size: usize,
    pub(crate) name: &'static str,
}

/// What stored arrays do with each element type of the table
/// (`element_codes!`).
macro_rules! elems {
    ($($code:literal $t:ty),* $(,)?) => {
        /// The element type of `R` when `R` is a bulk array (or, with the
        /// `ndarray` feature, a shaped one).
        pub(crate) fn elem_of<R: 'static>() -> Option<Elem> {
            let id = TypeId::of::<R>();
            $(
                if id == TypeId::of::<Vec<$t>>() || id == TypeId::of::<Box<[$t]>>() {
                    return Some(Elem { code: $code, size: size_of::<$t>(), name: stringify!($t) });
                }
            )*
            #[cfg(feature = "ndarray")]
            if let Some(elem) = super::shaped::elem_of::<R>() {
                return Some(elem);
            }
            None
        }

        /// The element type of a stored code.
        pub(super) fn elem_of_code(code: u8) -> Option<Elem> {
            match code {
                $($code => Some(Elem { code: $code, size: size_of::<$t>(), name: stringify!($t) }),)*
                _ => None,
            }
        }

        /// Appends `value`'s elements as little-endian bytes; false when it
        /// is not a bulk array of at least `min` elements.
        pub(crate) fn encode<R: 'static>(value: &R, min: usize, out: &mut Vec<u8>) -> bool {
            let any = value as &dyn Any;
            $(
                let elements: Option<&[$t]> = any
                    .downcast_ref::<Vec<$t>>()
                    .map(Vec::as_slice)
                    .or_else(|| any.downcast_ref::<Box<[$t]>>().map(|b| &b[..]));
                if let Some(v) = elements {
                    if v.len() < min {
                        return false;
                    }
                    out.push($code);
                    put::<$t>(v, out);
                    return true;
                }
            )*
            false
        }

        /// Reads a bulk value of type `R`. With a `verifier`, the record's
        /// checksum is checked as the value is copied: a mismatch is
        /// `Err(Undecodable::Damaged)`, another fault `Err(Undecodable::Unreadable(why))`.
        pub(crate) fn decode<R: 'static>(
            bytes: &[u8],
            verifier: Option<&Verifier<'_>>,
        ) -> Result<R, Undecodable> {
            let Some((&code, body)) = bytes.split_first() else {
                return Err(Undecodable::Unreadable("an empty bulk value".into()));
            };
            let want = elem_of::<R>().ok_or(Undecodable::Unreadable("the value type is not a bulk array".into()))?;
            if code != want.code {
                return Err(Undecodable::Unreadable(format!(
                    "a bulk array of {}, not of {}",
                    elem_of_code(code).map_or("an unknown type", |e| e.name),
                    want.name
                )));
            }
            let id = TypeId::of::<R>();
            $(
                if id == TypeId::of::<Vec<$t>>() {
                    return cast::<Vec<$t>, R>(take::<$t>(body, verifier)?);
                }
                if id == TypeId::of::<Box<[$t]>>() {
                    let v = take::<$t>(body, verifier)?.into_boxed_slice();
                    return cast::<Box<[$t]>, R>(v);
                }
            )*
            Err(Undecodable::Unreadable("the value type is not a bulk array".into()))
        }

        /// A stored bulk value as JSON text (for tools), `None` when damaged.
        pub fn to_json(bytes: &[u8]) -> Option<String> {
            let (&code, body) = bytes.split_first()?;
            match code {
                $($code => serde_json::to_string(&take::<$t>(body, None).ok()?).ok(),)*
                _ => None,
            }
        }
    };
}

crate::key::fingerprint::bulk::element_codes!(elems);

/// Whether stored bytes are a well-formed bulk value.
pub fn is_well_formed(bytes: &[u8]) -> bool {
    match bytes.split_first() {
        Some((&code, body)) => {
            elem_of_code(code).is_some_and(|e| body.len().is_multiple_of(e.size))
        }
        None => false,
    }
}

/// Appends the elements' little-endian bytes: one copy on a little-endian
/// machine.
pub(super) fn put<T: Plain>(v: &[T], out: &mut Vec<u8>) {
    if cfg!(target_endian = "little") {
        // SAFETY: plain numbers have no padding and every byte is
        // initialized; the slice covers exactly the elements.
        let bytes = unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), size_of_val(v)) };
        out.extend_from_slice(bytes);
    } else {
        out.reserve(size_of_val(v));
        for x in v {
            x.put_le(out);
        }
    }
}

/// The elements of `body`: one copy on a little-endian machine, the
/// record's checksum checked by `verifier` as they are copied (`Err(Undecodable::Damaged)`
/// on a mismatch). The elements end the record.
pub(super) fn take<T: Plain>(
    body: &[u8],
    verifier: Option<&Verifier<'_>>,
) -> Result<Vec<T>, Undecodable> {
    let size = size_of::<T>();
    if !body.len().is_multiple_of(size) {
        return Err(Undecodable::Unreadable(format!(
            "a bulk array of {} bytes is not a whole number of {size}-byte elements",
            body.len()
        )));
    }
    let n = body.len() / size;
    if cfg!(target_endian = "big") {
        if verifier.is_some_and(|v| !v.check()) {
            return Err(Undecodable::Damaged);
        }
        return Ok(body.chunks_exact(size).map(T::from_le).collect());
    }
    let mut v: Vec<T> = Vec::with_capacity(n);
    let dest = v.as_mut_ptr().cast::<u8>();
    match verifier {
        // SAFETY: the buffer holds `n` elements, `body.len()` bytes; the
        // source may be unaligned, so bytes are copied.
        None => unsafe { std::ptr::copy_nonoverlapping(body.as_ptr(), dest, body.len()) },
        // SAFETY: as above; the elements end the record.
        Some(verifier) => {
            if !unsafe { verifier.copy_checked(body, dest) } {
                return Err(Undecodable::Damaged);
            }
        }
    }
    // SAFETY: every byte of the `n` elements was written above, and every
    // bit pattern is a valid plain number.
    unsafe { v.set_len(n) };
    Ok(v)
}

/// `value` as `R`, which the caller checked is its type.
pub(super) fn cast<V: 'static, R: 'static>(value: V) -> Result<R, Undecodable> {
    (Box::new(value) as Box<dyn Any>)
        .downcast::<R>()
        .map(|boxed| *boxed)
        .map_err(|_| Undecodable::Unreadable("the value type is not a bulk array".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<R: 'static + PartialEq + std::fmt::Debug>(value: R) -> R {
        let mut out = Vec::new();
        assert!(encode(&value, 0, &mut out));
        assert!(is_well_formed(&out));
        decode::<R>(&out, None).unwrap()
    }

    #[test]
    fn every_element_type_round_trips_bit_for_bit() {
        let floats = vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::from_bits(0x7ff4_0000_0000_0001),
            f64::MIN_POSITIVE / 4.0,
            f64::INFINITY,
            -1.5,
        ];
        let back = round_trip(floats.clone());
        assert_eq!(
            back.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
            floats.iter().map(|f| f.to_bits()).collect::<Vec<_>>()
        );
        let f32s: Box<[f32]> = vec![f32::from_bits(0x7fc0_0abc), -0.0, 1e-45].into();
        let back = round_trip(f32s.clone());
        assert_eq!(
            back.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
            f32s.iter().map(|f| f.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(round_trip(vec![0u8, 255]), vec![0u8, 255]);
        assert_eq!(round_trip(vec![i8::MIN, -1]), vec![i8::MIN, -1]);
        assert_eq!(round_trip(vec![u16::MAX]), vec![u16::MAX]);
        assert_eq!(round_trip(vec![i16::MIN]), vec![i16::MIN]);
        assert_eq!(round_trip(vec![u32::MAX]), vec![u32::MAX]);
        assert_eq!(round_trip(vec![i32::MIN]), vec![i32::MIN]);
        assert_eq!(round_trip(vec![u64::MAX]), vec![u64::MAX]);
        assert_eq!(round_trip(vec![i64::MIN, 3]), vec![i64::MIN, 3]);
        assert_eq!(round_trip(Vec::<f64>::new()), Vec::<f64>::new());
    }

    #[test]
    fn the_value_codes_are_the_fingerprint_codes() {
        fn same<T: Plain>() {
            assert_eq!(elem_of::<Vec<T>>().unwrap().code, T::CODE);
            assert_eq!(elem_of::<Box<[T]>>().unwrap().size, size_of::<T>());
        }
        same::<u8>();
        same::<i8>();
        same::<u16>();
        same::<i16>();
        same::<u32>();
        same::<i32>();
        same::<u64>();
        same::<i64>();
        same::<f32>();
        same::<f64>();
    }

    #[test]
    fn the_layout_is_little_endian_after_a_type_code() {
        let mut out = Vec::new();
        assert!(
            !encode(&vec![1u32, 0x0102_0304], 3, &mut out),
            "short: postcard"
        );
        assert!(encode(&vec![1u32, 0x0102_0304], 2, &mut out));
        assert_eq!(out, [5, 1, 0, 0, 0, 4, 3, 2, 1]);
        assert_eq!(to_json(&out).unwrap(), "[1,16909060]");
        let mut out = Vec::new();
        assert!(!encode(&vec![String::new()], 0, &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn a_damaged_or_foreign_bulk_value_is_an_error() {
        assert!(decode::<Vec<f64>>(&[], None).is_err());
        assert!(
            decode::<Vec<f64>>(&[10, 1, 2, 3], None).is_err(),
            "not whole elements"
        );
        assert!(
            decode::<Vec<f64>>(&[9, 0, 0, 0, 0], None).is_err(),
            "f32 elements"
        );
        assert!(decode::<Vec<String>>(&[10], None).is_err());
        assert!(!is_well_formed(&[99, 0]));
    }
}
