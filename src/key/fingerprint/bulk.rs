//! `#[fingerprint]` on an array of plain numbers: its raw bytes hashed in
//! place, no serde call per element. The digits are the ones
//! [`fingerprint`](super::fingerprint) gives for the same value (the run
//! encoding of the format table); the tests hold the two paths together.
//!
//! Generated code picks this path by autoref: [`Fingerprinted`] has the
//! method of [`FingerprintBulk`] when the value is a [`BulkKey`], and that of
//! [`FingerprintSerde`] (one reference further) otherwise.

use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

use super::{FINGERPRINT_FORMAT_VERSION, RUN, fingerprint, hex};
use crate::KeyError;

/// A plain number: hashed and stored as its little-endian bytes. Sealed:
/// its values are viewed as bytes, so only the types listed implement it.
pub trait PlainNumber: sealed::Sealed + Copy + Serialize + 'static {
    /// Its element code (the format table's).
    const CODE: u8;
    /// Appends its little-endian bytes.
    fn put_le(self, out: &mut Vec<u8>);
    /// The number its little-endian bytes hold.
    fn from_le(bytes: &[u8]) -> Self;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! plain_numbers {
    ($($code:literal $t:ty),*) => {
        $(impl sealed::Sealed for $t {}
        impl PlainNumber for $t {
            const CODE: u8 = $code;
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn from_le(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("one element's bytes"))
            }
        })*

        /// The size of an element of code `code`.
        pub(crate) fn code_size(code: u8) -> usize {
            match code {
                $($code => size_of::<$t>(),)*
                _ => unreachable!("element code {code}"),
            }
        }
    };
}

/// The one table of element codes: every plain number type with its code,
/// the same in fingerprints (format 3) and in stored arrays (codec tags 3
/// and 4). Calls `$then!` with the table.
macro_rules! element_codes {
    ($then:ident) => {
        $then!(1 u8, 2 i8, 3 u16, 4 i16, 5 u32, 6 i32, 7 u64, 8 i64, 9 f32, 10 f64);
    };
}
pub(crate) use element_codes;

element_codes!(plain_numbers);

/// A value `#[fingerprint]` hashes without serde: its encoding as a short
/// head, its elements' bytes where they are, and a short tail.
pub trait BulkKey {
    /// The value's encoding (format table) in three parts; `None` when its
    /// elements are not contiguous little-endian bytes (then [`feed`]).
    ///
    /// [`feed`]: BulkKey::feed
    fn parts(&self) -> Option<Encoded<'_>>;
    /// Feeds the value's encoding to `hash`, a piece at a time.
    fn feed(&self, hash: &mut Xxh3);
}

/// An encoding in three parts: `head ++ body ++ tail`.
pub struct Encoded<'a> {
    head: Vec<u8>,
    body: &'a [u8],
    tail: &'static [u8],
}

/// The head of a sequence of `n` plain numbers `T` (format table).
fn run_head<T: PlainNumber>(n: usize) -> Vec<u8> {
    if n == 0 {
        return b"[]".to_vec();
    }
    let mut head = Vec::with_capacity(10);
    head.push(RUN);
    head.push(T::CODE);
    head.extend_from_slice(&(n as u64).to_le_bytes());
    head
}

/// The elements' little-endian bytes, in place (a little-endian machine).
fn le_bytes<T: PlainNumber>(elements: &[T]) -> Option<&[u8]> {
    // SAFETY: plain numbers have no padding and every byte is initialized;
    // the slice covers exactly the elements.
    cfg!(target_endian = "little").then(|| unsafe {
        std::slice::from_raw_parts(elements.as_ptr().cast::<u8>(), size_of_val(elements))
    })
}

/// Feeds a sequence of plain numbers in logical order, a piece at a time.
fn feed_run<T: PlainNumber>(n: usize, elements: impl IntoIterator<Item = T>, hash: &mut Xxh3) {
    hash.update(&run_head::<T>(n));
    let mut piece = Vec::with_capacity(64 << 10);
    for x in elements {
        x.put_le(&mut piece);
        if piece.len() >= 64 << 10 {
            hash.update(&piece);
            piece.clear();
        }
    }
    hash.update(&piece);
}

/// A slice of plain numbers.
fn slice_parts<T: PlainNumber>(elements: &[T]) -> Option<Encoded<'_>> {
    Some(Encoded {
        head: run_head::<T>(elements.len()),
        body: le_bytes(elements)?,
        tail: b"",
    })
}

macro_rules! slice_keys {
    ($($t:ty),*) => {$(
        impl<T: PlainNumber> BulkKey for $t {
            fn parts(&self) -> Option<Encoded<'_>> {
                slice_parts(self)
            }
            fn feed(&self, hash: &mut Xxh3) {
                feed_run(self.len(), self.iter().copied(), hash);
            }
        }
    )*};
}

slice_keys!([T], Vec<T>, Box<[T]>);

impl<B: BulkKey + ?Sized> BulkKey for &B {
    fn parts(&self) -> Option<Encoded<'_>> {
        (**self).parts()
    }
    fn feed(&self, hash: &mut Xxh3) {
        (**self).feed(hash);
    }
}

/// An ndarray array or view: its serde form (`{"v": 1, "dim": .., "data":
/// [..]}`) as the format table encodes a struct, the elements in logical
/// order as a sequence of plain numbers.
#[cfg(feature = "ndarray")]
impl<A, S, D> BulkKey for ndarray::ArrayBase<S, D>
where
    A: PlainNumber,
    S: ndarray::Data<Elem = A>,
    D: ndarray::Dimension + Serialize,
{
    fn parts(&self) -> Option<Encoded<'_>> {
        let body = le_bytes(self.as_slice()?)?;
        let mut head = array_head(self);
        head.extend_from_slice(&run_head::<A>(self.len()));
        Some(Encoded {
            head,
            body,
            tail: b"}",
        })
    }

    fn feed(&self, hash: &mut Xxh3) {
        hash.update(&array_head(self));
        feed_run(self.len(), self.iter().copied(), hash);
        hash.update(b"}");
    }
}

/// An array's encoding up to its elements: `{`, the fields in the order of
/// their names' encodings (the length first), then the name `data`.
#[cfg(feature = "ndarray")]
fn array_head<A, S, D>(a: &ndarray::ArrayBase<S, D>) -> Vec<u8>
where
    S: ndarray::Data<Elem = A>,
    D: ndarray::Dimension + Serialize,
{
    use super::Binary;
    let mut head = vec![b'{'];
    head.extend(Binary::encode("v").expect("a string encodes"));
    head.extend(Binary::encode(&1u8).expect("a number encodes"));
    head.extend(Binary::encode("dim").expect("a string encodes"));
    head.extend(Binary::encode(&a.raw_dim()).expect("a shape encodes"));
    head.extend(Binary::encode("data").expect("a string encodes"));
    head
}

/// The fingerprint of a bulk value.
pub fn bulk_fingerprint<B: BulkKey + ?Sized>(value: &B) -> String {
    if let Some(e) = value.parts() {
        let mut head = Vec::with_capacity(1 + e.head.len());
        head.push(FINGERPRINT_FORMAT_VERSION);
        head.extend_from_slice(&e.head);
        let parts = crate::xxh3::Parts {
            head: &head,
            body: e.body,
            tail: e.tail,
        };
        return hex(crate::xxh3::xxh3_128_of(parts));
    }
    let mut hash = Xxh3::new();
    hash.update(&[FINGERPRINT_FORMAT_VERSION]);
    value.feed(&mut hash);
    hex(hash.digest128())
}

/// A parameter under `#[fingerprint]`, for generated code.
pub struct Fingerprinted<'a, T: ?Sized>(pub &'a T);

/// `#[fingerprint]` of a `BulkKey`: hashed in place.
pub trait FingerprintBulk {
    /// The fingerprint.
    fn fingerprint(&self) -> Result<String, KeyError>;
}

impl<T: BulkKey + ?Sized> FingerprintBulk for Fingerprinted<'_, T> {
    #[inline]
    fn fingerprint(&self) -> Result<String, KeyError> {
        Ok(bulk_fingerprint(self.0))
    }
}

/// `#[fingerprint]` of any other value: through serde.
pub trait FingerprintSerde {
    /// The fingerprint.
    fn fingerprint(&self) -> Result<String, KeyError>;
}

impl<T: Serialize + ?Sized> FingerprintSerde for &Fingerprinted<'_, T> {
    #[inline]
    fn fingerprint(&self) -> Result<String, KeyError> {
        fingerprint(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn both<T: PlainNumber>(v: &[T]) -> (String, String) {
        let vec = v.to_vec();
        (fingerprint(&vec).unwrap(), bulk_fingerprint(&vec))
    }

    proptest! {
        #[test]
        fn the_bulk_path_gives_the_serde_digits(
            f64s in prop::collection::vec(any::<u64>().prop_map(f64::from_bits), 0..400),
            f32s in prop::collection::vec(any::<u32>().prop_map(f32::from_bits), 0..80),
            u8s in prop::collection::vec(any::<u8>(), 0..80),
            i16s in prop::collection::vec(any::<i16>(), 0..80),
            u32s in prop::collection::vec(any::<u32>(), 0..80),
            i64s in prop::collection::vec(any::<i64>(), 0..80),
        ) {
            for (a, b) in [both(&f64s), both(&f32s), both(&u8s), both(&i16s), both(&u32s), both(&i64s)] {
                prop_assert_eq!(a, b);
            }
            let slice: &[f64] = &f64s;
            prop_assert_eq!(bulk_fingerprint(&slice), fingerprint(slice).unwrap());
            // The piecewise path (big-endian machines) gives the same digits.
            let mut hash = Xxh3::new();
            hash.update(&[FINGERPRINT_FORMAT_VERSION]);
            f64s.feed(&mut hash);
            prop_assert_eq!(hex(hash.digest128()), bulk_fingerprint(&f64s));
            let boxed: Box<[i64]> = i64s.clone().into();
            prop_assert_eq!(bulk_fingerprint(&boxed), fingerprint(&boxed).unwrap());
        }

        /// Every float bit pattern is its own key: NaN payloads and -0.0 too.
        #[test]
        fn distinct_floats_give_distinct_digits(a in any::<u64>(), b in any::<u64>()) {
            prop_assume!(a != b);
            let (x, y) = (vec![f64::from_bits(a)], vec![f64::from_bits(b)]);
            prop_assert_ne!(bulk_fingerprint(&x), bulk_fingerprint(&y));
        }
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn arrays_and_views_in_place_give_the_serde_digits_whatever_their_layout() {
        use ndarray::{Array, Array2, ArrayD, IxDyn, ShapeBuilder, s};
        let a = Array2::from_shape_vec((3, 4), (0..12).map(f64::from).collect()).unwrap();
        let mut f = Array2::zeros((3, 4).f());
        f.assign(&a); // the same logical value, column-major
        let d: ArrayD<u16> = ArrayD::from_shape_vec(IxDyn(&[2, 2, 1]), vec![1, 2, 3, 4]).unwrap();
        let cases = [
            (bulk_fingerprint(&a), fingerprint(&a).unwrap()),
            (bulk_fingerprint(&a.view()), fingerprint(&a.view()).unwrap()),
            (bulk_fingerprint(&a.t()), fingerprint(&a.t()).unwrap()),
            (bulk_fingerprint(&f), fingerprint(&f).unwrap()),
            (
                bulk_fingerprint(&a.slice(s![.., 1..3])),
                fingerprint(&a.slice(s![.., 1..3])).unwrap(),
            ),
            (
                bulk_fingerprint(&a.slice(s![0..0, ..])),
                fingerprint(&a.slice(s![0..0, ..])).unwrap(),
            ),
            (bulk_fingerprint(&d), fingerprint(&d).unwrap()),
            (
                bulk_fingerprint(&Array::from_elem((), 1i8)),
                fingerprint(&Array::from_elem((), 1i8)).unwrap(),
            ),
        ];
        for (i, (fast, serde)) in cases.iter().enumerate() {
            assert_eq!(fast, serde, "case {i}");
        }
        // Shape and element type are in the key: the same numbers in
        // another shape or type differ.
        let flat = Array::from_iter((0..12).map(f64::from));
        assert_ne!(bulk_fingerprint(&flat), bulk_fingerprint(&a));
        assert_ne!(bulk_fingerprint(&a.t()), bulk_fingerprint(&a));
        assert_ne!(
            bulk_fingerprint(&a.mapv(|x| x as f32)),
            bulk_fingerprint(&a)
        );
        // A column-major array equals its row-major copy: same logical value.
        assert_eq!(bulk_fingerprint(&f), bulk_fingerprint(&a));
    }

    #[test]
    fn a_sequence_that_stops_being_plain_numbers_is_written_tagged() {
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Mixed {
            Int(u8),
            Wide(u16),
            Float(f64),
            Text(&'static str),
            Nested(Vec<u8>),
        }
        use Mixed::*;
        // Each differs from the plain run of its first element type, and a
        // run left half way is written as the tagged elements it held.
        let mixed = [
            vec![Int(1), Wide(2)],
            vec![Int(1), Float(2.0)],
            vec![Float(1.0), Text("x")],
            vec![Int(1), Nested(vec![2])],
            vec![Int(1), Int(2), Wide(3)],
        ];
        let mut seen = std::collections::HashSet::new();
        for m in &mixed {
            assert!(seen.insert(fingerprint(m).unwrap()));
        }
        assert!(seen.insert(bulk_fingerprint(&vec![1u8, 2])));
        assert!(seen.insert(bulk_fingerprint(&vec![1u16, 2])));
        // Tagged integers are as wide as i128: `[1u8, 2u16]` is `[1u16, 2u8]`.
        assert_eq!(
            fingerprint(&[Int(1), Wide(2)][..]).unwrap(),
            fingerprint(&[Wide(1), Int(2)][..]).unwrap()
        );
        // Nested runs: the inner ones stay runs.
        let nested = vec![vec![1.0f64, 2.0], vec![], vec![3.0]];
        assert_ne!(
            fingerprint(&nested).unwrap(),
            fingerprint(&vec![vec![1.0f64], vec![2.0], vec![3.0]]).unwrap()
        );
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the autoref form generated code uses
    fn autoref_picks_the_bulk_path_for_arrays_and_serde_for_the_rest() {
        let v = vec![0.5f64; 100];
        let slice: &[f64] = &v;
        assert_eq!(
            (&Fingerprinted(&slice)).fingerprint().unwrap(),
            fingerprint(&v).unwrap()
        );
        let s = String::from("text");
        assert_eq!(
            (&Fingerprinted(&s)).fingerprint().unwrap(),
            fingerprint(&s).unwrap()
        );
    }
}
