//! The canonical JSON serializer: the `Serializer`, its one `Compound` type for
//! the seven `Serialize*` traits, and the scalar writers. Map keys go through
//! `map_key`. The format is described in the parent module.

use serde::ser::{self, Serialize};

use super::Refusal;
use super::map_key::{self, MapKey};

/// What the encoder is writing, which decides what plain JSON cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// A cache key: NaN and infinities as bare tokens, any map key allowed.
    Key,
    /// A JSON-codec value that serde_json must read back: non-finite floats
    /// and composite map keys are errors, never a lossy `null`; maps keep
    /// their order.
    Value,
}

pub(crate) struct Serializer<'o> {
    out: &'o mut Vec<u8>,
    flavor: Flavor,
    /// Set just before serializing a value whose type is an unordered set;
    /// taken by the `serialize_seq` its `Serialize` impl calls first.
    next_seq_is_set: bool,
}

impl<'o> Serializer<'o> {
    pub(crate) fn new(out: &'o mut Vec<u8>, flavor: Flavor) -> Self {
        Serializer {
            out,
            flavor,
            next_seq_is_set: false,
        }
    }

    pub(crate) fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// Serializes one value. Every place a typed value enters the encoder goes
    /// through here, because serde gives a `HashSet` and a `Vec` the same
    /// calls: only the static type tells that the order is meaningless.
    pub(crate) fn write_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refusal> {
        self.next_seq_is_set = is_unordered_set::<T>();
        let result = value.serialize(&mut *self);
        self.next_seq_is_set = false;
        result
    }

    fn write_float(&mut self, text: FloatText<'_>) -> Result<(), Refusal> {
        match text {
            FloatText::Finite(s) => self.out.extend_from_slice(s.as_bytes()),
            FloatText::NonFinite(_) if self.flavor == Flavor::Value => {
                return Err(Refusal::NonFiniteFloat);
            }
            FloatText::NonFinite(token) => self.out.extend_from_slice(token.as_bytes()),
        }
        Ok(())
    }
}

/// A float's canonical text, shared by values and map keys.
pub(crate) enum FloatText<'b> {
    Finite(&'b str),
    NonFinite(&'static str),
}

pub(crate) fn float_text<F: ryu::Float + Into<f64>>(buf: &mut ryu::Buffer, v: F) -> FloatText<'_> {
    let wide: f64 = v.into();
    if wide.is_nan() {
        FloatText::NonFinite("NaN")
    } else if wide == f64::INFINITY {
        FloatText::NonFinite("Infinity")
    } else if wide == f64::NEG_INFINITY {
        FloatText::NonFinite("-Infinity")
    } else {
        FloatText::Finite(buf.format_finite(v))
    }
}

/// Whether `T` (behind any references) is a set whose iteration order is
/// arbitrary, so that its key sorts its elements. serde serializes sets and
/// vectors with the same calls; the type's name is the only way to tell.
///
/// No path is written here: the names are the compiler's own for
/// `HashSet` and the wrappers serde sees through, taken at run time (see
/// [`Names`]), so a compiler that renames them changes nothing. The one
/// exception is `hashbrown`'s set, a crate this one does not depend on.
/// Should a name ever fail to be recognised, a set is written in its
/// iteration order: equal sets may then miss, but the text still says
/// exactly which elements the set holds, so no two different sets share a
/// key (never a wrong hit). Golden tests pin the sorted texts.
pub(crate) fn is_unordered_set<T: ?Sized>() -> bool {
    let mut name = std::any::type_name::<T>();
    let names = Names::get();
    // Every element of a big array comes through here: most names are far
    // shorter than any set's, and that test is one comparison.
    if name.len() < names.shortest {
        return false;
    }
    // References and the pointers and cells serde serializes through (Box,
    // Rc, Arc, Cow, RefCell, Mutex, RwLock) hide a set as well as show it.
    loop {
        if let Some(rest) = name.strip_prefix('&') {
            name = rest.strip_prefix("mut ").unwrap_or(rest);
        } else if let Some(inner) = names.wrappers.iter().find_map(|w| name.strip_prefix(&**w)) {
            name = inner;
        } else {
            break;
        }
    }
    names.sets.iter().any(|set| name.starts_with(&**set))
}

/// The openings of the type names the set detection looks for, as this
/// compiler writes them: each is the name of the type around [`Marker`] cut
/// where the marker's name begins (`alloc::rc::Rc<`, say).
struct Names {
    sets: Vec<String>,
    wrappers: Vec<String>,
    /// The length of the shortest set name's opening.
    shortest: usize,
}

/// A type whose name is found inside the names of the types around it.
struct Marker;

impl Names {
    fn get() -> &'static Names {
        static NAMES: once_cell::sync::Lazy<Names> = once_cell::sync::Lazy::new(|| {
            use std::borrow::Cow;
            use std::cell::RefCell;
            use std::rc::Rc;
            use std::sync::{Arc, Mutex, RwLock};
            let sets = vec![
                opening(std::any::type_name::<std::collections::HashSet<Marker>>()),
                "hashbrown::set::HashSet<".to_string(),
            ];
            let wrappers = vec![
                opening(std::any::type_name::<Box<Marker>>()),
                opening(std::any::type_name::<Rc<Marker>>()),
                opening(std::any::type_name::<Arc<Marker>>()),
                opening(std::any::type_name::<Cow<'static, Marker>>()),
                opening(std::any::type_name::<RefCell<Marker>>()),
                opening(std::any::type_name::<Mutex<Marker>>()),
                opening(std::any::type_name::<RwLock<Marker>>()),
            ];
            let shortest = sets.iter().map(String::len).min().unwrap_or(0);
            Names {
                sets,
                wrappers,
                shortest,
            }
        });
        &NAMES
    }
}

impl Clone for Marker {
    fn clone(&self) -> Marker {
        Marker
    }
}

/// The name `outer` up to where [`Marker`]'s name begins.
fn opening(outer: &str) -> String {
    let marker = std::any::type_name::<Marker>();
    outer
        .find(marker)
        .map_or_else(|| outer.to_string(), |at| outer[..at].to_string())
}

/// How a key wraps a `Some` whose content would read as `None`.
const SOME_OPEN: &[u8] = br#"{"$some":"#;

/// Whether encoded text could be taken for `None` or a wrapped `Some`: every
/// such text is wrapped once more, which keeps the encoding one-to-one.
fn is_none_like(text: &[u8]) -> bool {
    text == b"null" || text.starts_with(SOME_OPEN)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `s` as a JSON string, escaped exactly as serde_json escapes it.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            out.extend_from_slice(&[b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

macro_rules! serialize_integers {
    ($($method:ident: $ty:ty,)*) => {$(
        fn $method(self, v: $ty) -> Result<(), Refusal> {
            self.out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
            Ok(())
        }
    )*};
}

impl<'s, 'o> ser::Serializer for &'s mut Serializer<'o> {
    type Ok = ();
    type Error = Refusal;
    type SerializeSeq = Compound<'s, 'o>;
    type SerializeTuple = Compound<'s, 'o>;
    type SerializeTupleStruct = Compound<'s, 'o>;
    type SerializeTupleVariant = Compound<'s, 'o>;
    type SerializeMap = Compound<'s, 'o>;
    type SerializeStruct = Compound<'s, 'o>;
    type SerializeStructVariant = Compound<'s, 'o>;

    fn serialize_bool(self, v: bool) -> Result<(), Refusal> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    serialize_integers! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128,
    }

    fn serialize_f32(self, v: f32) -> Result<(), Refusal> {
        let mut buf = ryu::Buffer::new();
        self.write_float(float_text(&mut buf, v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Refusal> {
        let mut buf = ryu::Buffer::new();
        self.write_float(float_text(&mut buf, v))
    }

    fn serialize_char(self, v: char) -> Result<(), Refusal> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Refusal> {
        write_str(self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Refusal> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }

    fn serialize_none(self) -> Result<(), Refusal> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Refusal> {
        let start = self.out.len();
        self.write_value(value)?;
        // In a key, `Some(x)` is `x` unless `x` itself reads as a `None` or
        // a wrapped `Some`: then it is wrapped, so `None`, `Some(None)` and
        // `Some(Some(None))` differ. A value keeps plain JSON for serde_json.
        if self.flavor == Flavor::Key && is_none_like(&self.out[start..]) {
            self.out.splice(start..start, SOME_OPEN.iter().copied());
            self.out.push(b'}');
        }
        Ok(())
    }

    fn serialize_unit(self) -> Result<(), Refusal> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Refusal> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Refusal> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Refusal> {
        self.write_value(value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Refusal> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        self.write_value(value)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'s, 'o>, Refusal> {
        let sorted = std::mem::take(&mut self.next_seq_is_set);
        Ok(Compound::open(self, b'[', sorted, Closing::Plain))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'s, 'o>, Refusal> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'s, 'o>, Refusal> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, 'o>, Refusal> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        Ok(Compound::open(self, b'[', false, Closing::Variant))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'s, 'o>, Refusal> {
        Ok(Compound::open(self, b'{', true, Closing::Plain))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, 'o>, Refusal> {
        self.serialize_map(None)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, 'o>, Refusal> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        Ok(Compound::open(self, b'{', true, Closing::Variant))
    }
}

/// What follows the closing bracket: nothing, or the `}` of an enum variant's
/// `{"Variant":...}` wrapper.
#[derive(Clone, Copy)]
enum Closing {
    Plain,
    Variant,
}

/// One entry of an object or sorted array, as a span of the output buffer and
/// the bytes it sorts by.
struct Entry {
    sort_key: MapKey,
    start: usize,
    end: usize,
}

/// The state of an array or object being written. Entries are written straight
/// into the output; when order must not matter (objects, sets) their spans are
/// remembered and, only if they came out of order, rewritten sorted at the end.
pub(crate) struct Compound<'s, 'o> {
    ser: &'s mut Serializer<'o>,
    close: u8,
    closing: Closing,
    /// `Some` for objects and sets: the entries written so far.
    sorted: Option<Vec<Entry>>,
    /// For objects: the key of the entry whose value comes next.
    pending_key: Option<(MapKey, usize)>,
    count: usize,
}

impl<'s, 'o> Compound<'s, 'o> {
    fn open(ser: &'s mut Serializer<'o>, open: u8, sorted: bool, closing: Closing) -> Self {
        ser.out.push(open);
        // Only keys are sorted: a value keeps its maps' order (an IndexMap
        // reads back as it was written).
        let sorted = sorted && ser.flavor == Flavor::Key;
        Compound {
            ser,
            close: if open == b'[' { b']' } else { b'}' },
            closing,
            sorted: sorted.then(Vec::new),
            pending_key: None,
            count: 0,
        }
    }

    fn separator(&mut self) -> usize {
        if self.count > 0 {
            self.ser.out.push(b',');
        }
        self.count += 1;
        self.ser.out.len()
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refusal> {
        let start = self.separator();
        self.ser.write_value(value)?;
        if let Some(entries) = &mut self.sorted {
            let end = self.ser.out.len();
            let sort_key = MapKey::Bytes(self.ser.out[start..end].to_vec());
            entries.push(Entry {
                sort_key,
                start,
                end,
            });
        }
        Ok(())
    }

    fn key(&mut self, key: MapKey) {
        let start = self.separator();
        write_str(self.ser.out, key.as_str());
        self.ser.out.push(b':');
        self.pending_key = Some((key, start));
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refusal> {
        let (sort_key, start) = self
            .pending_key
            .take()
            .ok_or_else(|| Refusal::Custom("map value serialized before its key".into()))?;
        self.ser.write_value(value)?;
        let end = self.ser.out.len();
        if let Some(entries) = &mut self.sorted {
            entries.push(Entry {
                sort_key,
                start,
                end,
            });
        }
        Ok(())
    }

    fn finish(self) -> Result<(), Refusal> {
        if let Some(mut entries) = self.sorted {
            let in_order = entries
                .windows(2)
                .all(|w| w[0].sort_key.as_bytes() <= w[1].sort_key.as_bytes());
            if !in_order {
                let out = &mut *self.ser.out;
                // Equal keys (possible only through odd Serialize impls) fall
                // back to their whole text, so the result never depends on
                // iteration order.
                entries.sort_by(|a, b| {
                    a.sort_key
                        .as_bytes()
                        .cmp(b.sort_key.as_bytes())
                        .then_with(|| out[a.start..a.end].cmp(&out[b.start..b.end]))
                });
                let region = entries.iter().map(|e| e.start).min().unwrap_or(out.len());
                let mut sorted = Vec::with_capacity(out.len() - region);
                for (i, e) in entries.iter().enumerate() {
                    if i > 0 {
                        sorted.push(b',');
                    }
                    sorted.extend_from_slice(&out[e.start..e.end]);
                }
                out.truncate(region);
                out.extend_from_slice(&sorted);
            }
        }
        self.ser.out.push(self.close);
        if let Closing::Variant = self.closing {
            self.ser.out.push(b'}');
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refusal> {
        self.element(value)
    }
    fn end(self) -> Result<(), Refusal> {
        self.finish()
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refusal> {
        self.element(value)
    }
    fn end(self) -> Result<(), Refusal> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refusal> {
        self.element(value)
    }
    fn end(self) -> Result<(), Refusal> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refusal> {
        self.element(value)
    }
    fn end(self) -> Result<(), Refusal> {
        self.finish()
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Refusal> {
        let key = map_key::to_map_key(key, self.ser.flavor())?;
        self.key(key);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refusal> {
        self.value(value)
    }
    fn end(self) -> Result<(), Refusal> {
        self.finish()
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Refusal> {
        self.key(MapKey::Static(key));
        self.value(value)
    }
    fn end(self) -> Result<(), Refusal> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Refusal;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Refusal> {
        self.key(MapKey::Static(key));
        self.value(value)
    }
    fn end(self) -> Result<(), Refusal> {
        self.finish()
    }
}
