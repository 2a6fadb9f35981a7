//! Fingerprints: a fast stand-in key for big arguments (`#[fingerprint]`).
//! xxh3-128 over a canonical *binary* encoding, so a 10,000-float array costs
//! microseconds instead of formatting 10,000 floats as text; an array of plain
//! numbers is hashed as its raw bytes (see [`bulk`]).
//!
//! # Fingerprint format, version 3
//!
//! The hash covers the byte `3` (the format version, so no digest of another
//! version can stand for a different value), then the value's encoding. Every
//! value starts with a tag byte; numbers are little-endian.
//!
//! | value | encoding |
//! |---|---|
//! | `None` | `n` |
//! | `()` | `v` |
//! | unit struct | `w` |
//! | bool | `b`, then 0 or 1 |
//! | any integer up to `i128` | `i`, then the value as an `i128` (16 bytes) |
//! | `u128` above `i128::MAX` | `u`, then the `u128` (16 bytes) |
//! | `f64` | `f`, then its bits (8 bytes, exactly: NaN payloads and -0.0 kept) |
//! | `f32` | `g`, then its bits (4 bytes, exactly) |
//! | string, char | `s`, then the UTF-8 length (u64) and bytes |
//! | bytes | `y`, then the length (u64) and bytes |
//! | `Some(x)` | `S`, then `x` |
//! | newtype struct | `x` itself |
//! | sequence of plain numbers | `a`, the element code, the count (u64), the elements' bytes |
//! | other sequence, tuple | `[`, the elements, `]`; a `HashSet`'s elements sorted by their encoding |
//! | map, struct | `{`, then key and value encodings, sorted by key encoding, `}` (struct field names as strings) |
//! | enum variant | `e`, the variant name as a string, then its content (`n` for a unit variant) |
//!
//! A *sequence of plain numbers* is a non-empty sequence (`Vec`, slice,
//! `VecDeque`..., not a tuple, array or set) whose elements are all of one of
//! the types `u8` (code 1), `i8` (2), `u16` (3), `i16` (4), `u32` (5), `i32`
//! (6), `u64` (7), `i64` (8), `f32` (9), `f64` (10): its elements are stored
//! at their own width, so `vec![1u8]` and `vec![1u64]` differ while `1u8` and
//! `1u64` alone do not. The codes are the bulk values' (`store::codec::bulk`).
//!
//! As with keys, equal maps and sets fingerprint equally whatever their
//! iteration order. `tests/golden_keys.rs` pins the format.
//!
//! Version 2 (floats' NaNs made one, numbers in sequences one by one) gave
//! other digits: its entries are misses.

use serde::ser::{self, Serialize};

use super::KeyError;
use bulk::PlainNumber;

pub(crate) mod bulk;

/// Version of the fingerprint format above.
pub const FINGERPRINT_FORMAT_VERSION: u8 = 3;

/// 32 lowercase hex digits of the xxh3-128 hash of `value`'s canonical binary
/// encoding: like [`stable_hash`](crate::stable_hash), a short stand-in for a
/// big argument, but much faster for numeric arrays (it formats no text). The
/// two give different digits for the same value.
///
/// `#[fingerprint]` in `permacached!` gives the same digits, faster still
/// for a slice, `Vec` or `Box<[T]>` of plain numbers (hashed in place).
///
/// # Errors
///
/// [`KeyError::Custom`] when the value's own `Serialize` implementation fails.
///
/// # Example
///
/// ```
/// let a = permacache::fingerprint(&vec![0.5_f64; 10_000]).unwrap();
/// assert_eq!(a.len(), 32);
/// assert_ne!(a, permacache::fingerprint(&vec![0.25_f64; 10_000]).unwrap());
/// ```
pub fn fingerprint<T: Serialize + ?Sized>(value: &T) -> Result<String, KeyError> {
    let mut out = Vec::with_capacity(256);
    out.push(FINGERPRINT_FORMAT_VERSION);
    Binary::new(&mut out).value(value)?;
    Ok(hex(xxhash_rust::xxh3::xxh3_128(&out)))
}

/// A digest as the 32 hex digits keys hold.
pub(crate) fn hex(digest: u128) -> String {
    format!("{digest:032x}")
}

/// Appends `N` bytes with a fixed-size copy: `extend_from_slice` calls
/// `memcpy` for each, which big arrays feel.
#[inline]
fn put<const N: usize>(out: &mut Vec<u8>, bytes: [u8; N]) {
    out.reserve(N);
    let len = out.len();
    // SAFETY: `reserve` made room for N more bytes past `len`, written here
    // before the length covers them.
    unsafe {
        std::ptr::write_unaligned(out.as_mut_ptr().add(len).cast::<[u8; N]>(), bytes);
        out.set_len(len + N);
    }
}

/// The tag of a sequence of plain numbers.
const RUN: u8 = b'a';

/// A sequence being written whose elements may all be plain numbers of one
/// type.
#[derive(Clone, Copy)]
struct Run {
    /// Where the sequence's tag is.
    start: usize,
    /// The element code, `0` before the first element.
    code: u8,
    count: u64,
}

struct Binary<'o> {
    out: &'o mut Vec<u8>,
    /// Set just before serializing an unordered set (see the JSON serializer).
    next_seq_is_set: bool,
    /// The innermost open sequence, while it may still be a run.
    run: Option<Run>,
    /// Whether the next serializer call is an element of `run`.
    in_element: bool,
}

impl<'o> Binary<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        Binary {
            out,
            next_seq_is_set: false,
            run: None,
            in_element: false,
        }
    }

    #[inline]
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        self.next_seq_is_set = super::ser::is_unordered_set::<T>();
        let result = value.serialize(&mut *self);
        self.next_seq_is_set = false;
        result
    }

    /// Writes a plain number: raw into the open run when it is one of the
    /// run's type, else tagged.
    #[inline]
    fn number<const N: usize>(&mut self, code: u8, le: [u8; N], tagged: impl FnOnce(&mut Self)) {
        if std::mem::take(&mut self.in_element)
            && let Some(run) = &mut self.run
        {
            if run.code == code {
                run.count += 1;
                put(self.out, le);
                return;
            }
            if run.code == 0 {
                run.code = code;
                run.count = 1;
                self.out[run.start] = RUN;
                self.out.push(code);
                self.out.extend_from_slice(&[0; 8]); // the count, at the end
                self.out.extend_from_slice(&le);
                return;
            }
            self.in_element = true;
            self.leave_run();
        }
        tagged(self);
    }

    /// Before anything but a plain number: an element that is not one ends
    /// the run; its numbers so far are written tagged.
    #[inline]
    fn not_a_number(&mut self) {
        if self.in_element {
            self.leave_run();
        }
    }

    #[cold]
    fn leave_run(&mut self) {
        self.in_element = false;
        let Some(run) = self.run.take() else { return };
        if run.code == 0 {
            return; // still `[`, with no elements yet
        }
        let raw = self.out.split_off(run.start + 10);
        self.out.truncate(run.start);
        self.out.push(b'[');
        let elem = bulk::code_size(run.code);
        for bytes in raw.chunks_exact(elem) {
            tagged_element(self.out, run.code, bytes);
        }
    }

    fn int(&mut self, v: i128) {
        self.out.push(b'i');
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn bytes(&mut self, tag: u8, b: &[u8]) {
        self.out.push(tag);
        self.out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        self.out.extend_from_slice(b);
    }

    /// The encoding of one value on its own (for sorting).
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, KeyError> {
        let mut out = Vec::new();
        Binary::new(&mut out).value(value)?;
        Ok(out)
    }

    /// Opens a sequence; `runs` when it may be written as a run.
    fn open(&mut self, runs: bool) -> Result<Seq<'_, 'o>, KeyError> {
        self.not_a_number();
        self.out.push(b'[');
        let sorted = std::mem::take(&mut self.next_seq_is_set).then(Vec::new);
        let outer = self.run.take();
        if runs && sorted.is_none() {
            self.run = Some(Run {
                start: self.out.len() - 1,
                code: 0,
                count: 0,
            });
        }
        Ok(Seq {
            b: self,
            sorted,
            outer,
        })
    }
}

/// One element of a run written tagged, as it would be outside a run.
fn tagged_element(out: &mut Vec<u8>, code: u8, le: &[u8]) {
    macro_rules! int {
        ($t:ty) => {{
            out.push(b'i');
            let v = <$t>::from_le_bytes(le.try_into().expect("one element"));
            out.extend_from_slice(&i128::from(v).to_le_bytes());
        }};
    }
    macro_rules! ints {
        ($($t:ty),*) => {$(
            if code == <$t as PlainNumber>::CODE {
                int!($t);
                return;
            }
        )*};
    }
    ints!(u8, i8, u16, i16, u32, i32, u64, i64);
    out.push(if code == <f32 as PlainNumber>::CODE {
        b'g'
    } else {
        b'f'
    });
    out.extend_from_slice(le);
}

macro_rules! small_ints {
    ($($method:ident: $ty:ty,)*) => {$(
        #[inline]
        fn $method(self, v: $ty) -> Result<(), KeyError> {
            self.number(<$ty as PlainNumber>::CODE, v.to_le_bytes(), |b| b.int(i128::from(v)));
            Ok(())
        }
    )*};
}

impl<'s, 'o> ser::Serializer for &'s mut Binary<'o> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Seq<'s, 'o>;
    type SerializeTuple = Seq<'s, 'o>;
    type SerializeTupleStruct = Seq<'s, 'o>;
    type SerializeTupleVariant = Seq<'s, 'o>;
    type SerializeMap = Map<'s, 'o>;
    type SerializeStruct = Map<'s, 'o>;
    type SerializeStructVariant = Map<'s, 'o>;

    fn serialize_bool(self, v: bool) -> Result<(), KeyError> {
        self.not_a_number();
        self.out.extend_from_slice(&[b'b', u8::from(v)]);
        Ok(())
    }

    small_ints! {
        serialize_u8: u8, serialize_i8: i8, serialize_u16: u16,
        serialize_i16: i16, serialize_u32: u32, serialize_i32: i32,
        serialize_u64: u64, serialize_i64: i64,
    }

    fn serialize_i128(self, v: i128) -> Result<(), KeyError> {
        self.not_a_number();
        self.int(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), KeyError> {
        self.not_a_number();
        match i128::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) => {
                self.out.push(b'u');
                self.out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Ok(())
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<(), KeyError> {
        let le = v.to_bits().to_le_bytes();
        self.number(<f32 as PlainNumber>::CODE, le, |b| {
            b.out.push(b'g');
            b.out.extend_from_slice(&le);
        });
        Ok(())
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), KeyError> {
        let le = v.to_bits().to_le_bytes();
        self.number(<f64 as PlainNumber>::CODE, le, |b| {
            b.out.push(b'f');
            b.out.extend_from_slice(&le);
        });
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), KeyError> {
        self.not_a_number();
        self.bytes(b's', v.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), KeyError> {
        self.not_a_number();
        self.bytes(b's', v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), KeyError> {
        self.not_a_number();
        self.bytes(b'y', v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), KeyError> {
        self.not_a_number();
        self.out.push(b'n');
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), KeyError> {
        self.not_a_number();
        self.out.push(b'S');
        self.value(value)
    }

    fn serialize_unit(self) -> Result<(), KeyError> {
        self.not_a_number();
        self.out.push(b'v');
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), KeyError> {
        self.not_a_number();
        self.out.push(b'w');
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), KeyError> {
        self.not_a_number();
        self.out.push(b'e');
        self.bytes(b's', variant.as_bytes());
        self.out.push(b'n');
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        // Transparent: a newtype of a number is that number, in a run too.
        self.value(value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.not_a_number();
        self.out.push(b'e');
        self.bytes(b's', variant.as_bytes());
        self.value(value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'s, 'o>, KeyError> {
        // Room for numeric elements without regrowing.
        self.out.reserve(10 + len.unwrap_or(0).saturating_mul(8));
        self.open(true)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Seq<'s, 'o>, KeyError> {
        self.open(false)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Seq<'s, 'o>, KeyError> {
        self.open(false)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Seq<'s, 'o>, KeyError> {
        self.not_a_number();
        self.out.push(b'e');
        self.bytes(b's', variant.as_bytes());
        self.open(false)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Map<'s, 'o>, KeyError> {
        self.not_a_number();
        self.out.push(b'{');
        let (scratch, spans) = SCRATCH
            .try_with(|pool| pool.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        Ok(Map {
            b: self,
            scratch,
            spans,
            key_end: None,
        })
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Map<'s, 'o>, KeyError> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Map<'s, 'o>, KeyError> {
        self.not_a_number();
        self.out.push(b'e');
        self.bytes(b's', variant.as_bytes());
        self.serialize_map(Some(len))
    }
}

/// A sequence: elements written in order (a run while they are plain numbers
/// of one type), or (sets) collected and sorted.
pub(crate) struct Seq<'s, 'o> {
    b: &'s mut Binary<'o>,
    sorted: Option<Vec<Vec<u8>>>,
    /// The enclosing sequence's run, given back at the end.
    outer: Option<Run>,
}

impl Seq<'_, '_> {
    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        match &mut self.sorted {
            Some(items) => items.push(Binary::encode(value)?),
            None => {
                self.b.in_element = self.b.run.is_some();
                let result = self.b.value(value);
                self.b.in_element = false;
                result?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), KeyError> {
        if let Some(mut items) = self.sorted {
            items.sort();
            for item in items {
                self.b.out.extend_from_slice(&item);
            }
        }
        match self.b.run.take() {
            Some(run) if run.code != 0 => {
                let at = run.start + 2;
                self.b.out[at..at + 8].copy_from_slice(&run.count.to_le_bytes());
            }
            _ => self.b.out.push(b']'),
        }
        self.b.run = self.outer;
        Ok(())
    }
}

/// A map or struct: entries encoded one after another into one scratch
/// buffer, then written sorted by key encoding (then value encoding).
pub(crate) struct Map<'s, 'o> {
    b: &'s mut Binary<'o>,
    /// The entries' encodings, each key followed by its value.
    scratch: Vec<u8>,
    /// Each entry's start, key end and end in `scratch`.
    spans: Vec<[usize; 3]>,
    /// Where a map's pending key ends (it starts where the last entry ends).
    key_end: Option<usize>,
}

/// Scratch buffers of finished maps, reused by the next ones on this thread:
/// a struct costs no allocation once the first few are done.
type Scratch = (Vec<u8>, Vec<[usize; 3]>);

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<Scratch>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Map<'_, '_> {
    /// Encodes `key` into the scratch buffer; returns where it ends.
    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<usize, KeyError> {
        Binary::new(&mut self.scratch).value(key)?;
        Ok(self.scratch.len())
    }

    /// Encodes the value of the entry that began at `start` with a key
    /// ending at `key_end`.
    fn value<T: Serialize + ?Sized>(
        &mut self,
        start: usize,
        key_end: usize,
        value: &T,
    ) -> Result<(), KeyError> {
        Binary::new(&mut self.scratch).value(value)?;
        self.spans.push([start, key_end, self.scratch.len()]);
        Ok(())
    }

    fn finish(mut self) -> Result<(), KeyError> {
        let scratch = &self.scratch;
        let entry = |s: &[usize; 3]| (&scratch[s[0]..s[1]], &scratch[s[1]..s[2]]);
        self.spans.sort_unstable_by(|a, b| entry(a).cmp(&entry(b)));
        for span in &self.spans {
            self.b.out.extend_from_slice(&scratch[span[0]..span[2]]);
        }
        self.b.out.push(b'}');
        let (mut scratch, mut spans) = (self.scratch, self.spans);
        scratch.clear();
        spans.clear();
        let _ = SCRATCH.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < 16 && scratch.capacity() <= 1 << 20 {
                pool.push((scratch, spans));
            }
        });
        Ok(())
    }
}

macro_rules! seq_impls {
    ($($tr:ident :: $method:ident),*) => {$(
        impl ser::$tr for Seq<'_, '_> {
            type Ok = ();
            type Error = KeyError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
                self.element(value)
            }
            fn end(self) -> Result<(), KeyError> {
                self.finish()
            }
        }
    )*};
}

seq_impls!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Map<'_, '_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), KeyError> {
        self.key_end = Some(self.key(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        let key_end = self
            .key_end
            .take()
            .ok_or_else(|| KeyError::Custom("map value serialized before its key".into()))?;
        let start = self.spans.last().map_or(0, |s| s[2]);
        self.value(start, key_end, value)
    }
    fn end(self) -> Result<(), KeyError> {
        self.finish()
    }
}

macro_rules! struct_impls {
    ($($tr:ident),*) => {$(
        impl ser::$tr for Map<'_, '_> {
            type Ok = ();
            type Error = KeyError;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), KeyError> {
                let start = self.scratch.len();
                let key_end = self.key(key)?;
                self.value(start, key_end, value)
            }
            fn end(self) -> Result<(), KeyError> {
                self.finish()
            }
        }
    )*};
}

struct_impls!(SerializeStruct, SerializeStructVariant);
