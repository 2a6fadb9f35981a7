//! Shaped bulk arrays: an ndarray `Array<T, D>` of plain numbers (the
//! `ndarray` feature) is stored as its shape and its elements' raw
//! little-endian bytes, and read back with one copy, every bit exact.
//!
//! Codec tag 4 (record format 2):
//!
//! | size | field |
//! |---|---|
//! | 1 | element code (as in bulk values: `1` u8 ... `10` f64) |
//! | 1 | number of axes, at most [`MAX_AXES`] |
//! | 8 per axis | each axis's length (u64) |
//! | the rest | the elements in logical (row-major) order |
//!
//! The layout is read (verify, show, import) whether or not this build has
//! the feature; values are written and decoded only with it.

use super::Undecodable;
use super::bulk::{self, Elem};

/// The codec tag of shaped bulk values.
pub const SHAPED_TAG: u8 = 4;

/// The most axes a stored shape has (ndarray's `IxDyn` has no limit; more
/// is stored as postcard).
pub const MAX_AXES: usize = 32;

/// A shaped value's parts: element type, shape, elements' bytes.
struct Parts<'a> {
    elem: Elem,
    shape: Vec<usize>,
    data: &'a [u8],
}

/// Splits a stored shaped value, checking that its shape and elements
/// agree.
fn parts(bytes: &[u8]) -> Result<Parts<'_>, Undecodable> {
    let unreadable = Undecodable::Unreadable;
    let (&code, rest) = bytes
        .split_first()
        .ok_or_else(|| unreadable("an empty shaped array".into()))?;
    let elem = bulk::elem_of_code(code)
        .ok_or_else(|| unreadable(format!("an unknown element code {code}")))?;
    let (&axes, rest) = rest
        .split_first()
        .ok_or_else(|| unreadable("a shaped array without its axes".into()))?;
    let axes = usize::from(axes);
    if axes > MAX_AXES || rest.len() < axes * 8 {
        return Err(unreadable(format!("a shaped array claiming {axes} axes")));
    }
    let (lengths, data) = rest.split_at(axes * 8);
    let shape: Vec<usize> = lengths
        .chunks_exact(8)
        .map(|l| usize::try_from(u64::from_le_bytes(l.try_into().expect("8 bytes"))))
        .collect::<Result<_, _>>()
        .map_err(|_| unreadable("an axis longer than memory".into()))?;
    let elements = shape
        .iter()
        .try_fold(1usize, |n, &l| n.checked_mul(l))
        .and_then(|n| n.checked_mul(elem.size));
    if elements != Some(data.len()) {
        return Err(unreadable(format!(
            "a shaped array of shape {shape:?} with {} bytes of {} elements",
            data.len(),
            elem.name
        )));
    }
    Ok(Parts { elem, shape, data })
}

/// Whether stored bytes are a well-formed shaped value.
pub fn is_well_formed(bytes: &[u8]) -> bool {
    parts(bytes).is_ok()
}

/// A stored shaped value as JSON text in ndarray's serde form
/// (`{"v":1,"dim":[..],"data":[..]}`), `None` when damaged.
pub fn to_json(bytes: &[u8]) -> Option<String> {
    let p = parts(bytes).ok()?;
    let mut flat = vec![p.elem.code];
    flat.extend_from_slice(p.data);
    let data = bulk::to_json(&flat)?;
    let dim = serde_json::to_string(&p.shape).ok()?;
    Some(format!(r#"{{"v":1,"dim":{dim},"data":{data}}}"#))
}

#[cfg(feature = "ndarray")]
pub(crate) use with_ndarray::{decode, elem_of, encode};

#[cfg(feature = "ndarray")]
mod with_ndarray {
    use std::any::Any;

    use ndarray::{Array, ArrayD, Dimension, Ix0, Ix1, Ix2, Ix3, Ix4, Ix5, Ix6, IxDyn};

    use super::{Elem, MAX_AXES, parts};
    use crate::store::codec::Undecodable;
    use crate::store::codec::bulk::{self, Plain, cast, put, take};
    use crate::store::record::Verifier;

    /// Calls `f::<A, D, R>(args)` for each element type `A` and dimension
    /// `D` until one returns `Some`, and returns what it holds.
    macro_rules! each_array_type {
        ($f:ident $args:tt) => {
            each_array_type!(@elems $f $args; u8, i8, u16, i16, u32, i32, u64, i64, f32, f64)
        };
        (@elems $f:ident $args:tt; $($t:ty),*) => {$(
            each_array_type!(@dims $f $args; $t; Ix0, Ix1, Ix2, Ix3, Ix4, Ix5, Ix6, IxDyn);
        )*};
        (@dims $f:ident $args:tt; $t:ty; $($d:ty),*) => {$(
            if let Some(done) = $f::<$t, $d, R> $args {
                return done;
            }
        )*};
    }

    fn elem_if<A: Plain, D: Dimension + 'static, R: 'static>(_: ()) -> Option<Option<Elem>> {
        (std::any::TypeId::of::<R>() == std::any::TypeId::of::<Array<A, D>>())
            .then(|| bulk::elem_of_code(A::CODE))
    }

    /// The element type of `R` when `R` is an ndarray `Array` of plain
    /// numbers.
    pub(crate) fn elem_of<R: 'static>() -> Option<Elem> {
        fn go<R: 'static>() -> Option<Elem> {
            each_array_type!(elem_if(()));
            None
        }
        go::<R>()
    }

    fn encode_if<A: Plain, D: Dimension + 'static, R: 'static>(
        value: &R,
        min: usize,
        out: &mut Vec<u8>,
    ) -> Option<bool> {
        let a = (value as &dyn Any).downcast_ref::<Array<A, D>>()?;
        if a.len() < min || a.ndim() > MAX_AXES {
            return Some(false);
        }
        out.push(A::CODE);
        out.push(u8::try_from(a.ndim()).expect("at most MAX_AXES"));
        for &l in a.shape() {
            out.extend_from_slice(&(l as u64).to_le_bytes());
        }
        match a.as_slice() {
            Some(elements) => put(elements, out),
            // Not in row-major order: copied in logical order.
            None => {
                out.reserve(a.len() * size_of::<A>());
                for x in a {
                    x.put_le(out);
                }
            }
        }
        Some(true)
    }

    /// Appends `value`'s shape and elements; false when it is not an
    /// `Array` of plain numbers of at least `min` elements.
    pub(crate) fn encode<R: 'static>(value: &R, min: usize, out: &mut Vec<u8>) -> bool {
        each_array_type!(encode_if(value, min, out));
        false
    }

    fn decode_if<A: Plain, D: Dimension + 'static, R: 'static>(
        bytes: &[u8],
        verifier: Option<&Verifier<'_>>,
    ) -> Option<Result<R, Undecodable>> {
        if std::any::TypeId::of::<R>() != std::any::TypeId::of::<Array<A, D>>() {
            return None;
        }
        Some((|| {
            let p = parts(bytes)?;
            if p.elem.code != A::CODE {
                return Err(Undecodable::Unreadable(format!(
                    "an array of {}, not of {}",
                    p.elem.name,
                    bulk::elem_of_code(A::CODE).map_or("?", |e| e.name)
                )));
            }
            if D::NDIM.is_some_and(|n| n != p.shape.len()) {
                return Err(Undecodable::Unreadable(format!(
                    "an array of {} axes",
                    p.shape.len()
                )));
            }
            let elements = take::<A>(p.data, verifier)?;
            let array = ArrayD::from_shape_vec(IxDyn(&p.shape), elements)
                .map_err(|e| Undecodable::Unreadable(e.to_string()))?
                .into_dimensionality::<D>()
                .map_err(|e| Undecodable::Unreadable(e.to_string()))?;
            cast::<Array<A, D>, R>(array)
        })())
    }

    /// Reads a shaped value of type `R`. With a `verifier`, the record's
    /// checksum is checked as the value is copied: a mismatch is
    /// `Err(Undecodable::Damaged)`.
    pub(crate) fn decode<R: 'static>(
        bytes: &[u8],
        verifier: Option<&Verifier<'_>>,
    ) -> Result<R, Undecodable> {
        each_array_type!(decode_if(bytes, verifier));
        Err(Undecodable::Unreadable(
            "the value type is not an ndarray Array".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_code_axes_lengths_then_elements() {
        let mut bytes = vec![5, 2];
        bytes.extend_from_slice(&2u64.to_le_bytes());
        bytes.extend_from_slice(&1u64.to_le_bytes());
        bytes.extend_from_slice(&[1, 0, 0, 0, 4, 3, 2, 1]);
        assert!(is_well_formed(&bytes));
        assert_eq!(
            to_json(&bytes).unwrap(),
            r#"{"v":1,"dim":[2,1],"data":[1,16909060]}"#
        );
        // Lengths and bytes that disagree, axes beyond the end, overflow.
        assert!(!is_well_formed(&bytes[..bytes.len() - 1]));
        assert!(!is_well_formed(&[5, 200]));
        let mut huge = vec![10, 2];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(!is_well_formed(&huge));
        assert!(!is_well_formed(&[]));
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn every_array_round_trips_bit_for_bit_whatever_its_layout() {
        use ndarray::{Array, Array2, ArrayD, IxDyn, ShapeBuilder};
        fn round_trip<R: 'static + PartialEq + std::fmt::Debug>(value: &R) -> R {
            let mut out = Vec::new();
            assert!(encode(value, 0, &mut out));
            assert!(is_well_formed(&out));
            decode::<R>(&out, None).unwrap()
        }
        let floats = [
            0.0,
            -0.0,
            f64::NAN,
            f64::from_bits(0x7ff4_0000_0000_0001),
            1e-310,
            -1.5,
        ];
        let a = Array2::from_shape_vec((2, 3), floats.to_vec()).unwrap();
        let back = round_trip(&a);
        assert_eq!(back.shape(), [2, 3]);
        let bits = |x: &Array2<f64>| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&a));
        // Column-major, and a transposed (non-standard) owned array.
        let f = Array2::from_shape_vec((2, 3).f(), (0..6u16).collect()).unwrap();
        assert_eq!(round_trip(&f), f);
        let t = f.clone().reversed_axes();
        assert_eq!(round_trip(&t), t);
        let d: ArrayD<i8> = ArrayD::from_shape_vec(IxDyn(&[2, 1, 2]), vec![-1, 0, 1, 2]).unwrap();
        assert_eq!(round_trip(&d), d);
        let z = Array::from_elem((), 7u64);
        assert_eq!(round_trip(&z), z);
        let empty = Array2::<f32>::zeros((0, 4));
        assert_eq!(round_trip(&empty), empty);
        // Another element type or number of axes is an error, not a value.
        let mut out = Vec::new();
        assert!(encode(&a, 0, &mut out));
        assert!(decode::<Array2<f32>>(&out, None).is_err());
        assert!(decode::<ndarray::Array3<f64>>(&out, None).is_err());
        assert!(decode::<ArrayD<f64>>(&out, None).is_ok());
        assert_eq!(elem_of::<Array2<f64>>().unwrap().code, 10);
        assert!(elem_of::<Vec<f64>>().is_none());
    }
}
