//! Map keys as strings. JSON object keys are strings; a key that is a number,
//! bool or char is written as its text (as serde_json does), and in cache keys
//! anything else (tuple, struct, enum with data, `None`) as its own canonical
//! JSON, so maps keyed by any type work.

use std::fmt;

use serde::ser::{self, Impossible, Serialize};

use super::Refusal;
use super::ser::{Flavor, FloatText, Serializer, float_text};

/// An object key, or for sets the bytes an element sorts by.
pub(crate) enum MapKey {
    Static(&'static str),
    Owned(String),
    Bytes(Vec<u8>),
}

impl MapKey {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            MapKey::Static(s) => s.as_bytes(),
            MapKey::Owned(s) => s.as_bytes(),
            MapKey::Bytes(b) => b,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            MapKey::Static(s) => s,
            MapKey::Owned(s) => s,
            // Set elements are never written as object keys.
            MapKey::Bytes(_) => unreachable!("a set element used as an object key"),
        }
    }
}

pub(crate) fn to_map_key<T: Serialize + ?Sized>(
    key: &T,
    flavor: Flavor,
) -> Result<MapKey, Refusal> {
    match key.serialize(MapKeySerializer { flavor }) {
        Ok(s) => Ok(s),
        Err(Attempt::Failed(e)) => Err(e),
        Err(Attempt::Composite) if flavor == Flavor::Value => Err(Refusal::MapKeyNotString),
        Err(Attempt::Composite) => {
            let mut out = Vec::new();
            Serializer::new(&mut out, flavor).write_value(key)?;
            Ok(MapKey::Owned(
                String::from_utf8(out).expect("canonical JSON is UTF-8"),
            ))
        }
    }
}

/// Why a key did not come out as a plain string.
#[derive(Debug)]
enum Attempt {
    /// The key is not a scalar: write it as its canonical JSON instead.
    Composite,
    Failed(Refusal),
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Composite => f.write_str("composite map key"),
            Attempt::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Attempt {}

impl ser::Error for Attempt {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Attempt::Failed(Refusal::Custom(msg.to_string()))
    }
}

struct MapKeySerializer {
    flavor: Flavor,
}

macro_rules! scalar_keys {
    ($($method:ident: $ty:ty,)*) => {$(
        fn $method(self, v: $ty) -> Result<MapKey, Attempt> {
            Ok(MapKey::Owned(itoa::Buffer::new().format(v).to_owned()))
        }
    )*};
}

macro_rules! composite_keys {
    ($($method:ident($($arg:ty),*) -> $ret:ty;)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<$ret, Attempt> {
            Err(Attempt::Composite)
        }
    )*};
}

impl MapKeySerializer {
    fn float(self, text: FloatText<'_>) -> Result<MapKey, Attempt> {
        match text {
            FloatText::Finite(s) => Ok(MapKey::Owned(s.to_owned())),
            FloatText::NonFinite(_) if self.flavor == Flavor::Value => {
                Err(Attempt::Failed(Refusal::NonFiniteFloat))
            }
            FloatText::NonFinite(token) => Ok(MapKey::Static(token)),
        }
    }
}

impl ser::Serializer for MapKeySerializer {
    type Ok = MapKey;
    type Error = Attempt;
    type SerializeSeq = Impossible<MapKey, Attempt>;
    type SerializeTuple = Impossible<MapKey, Attempt>;
    type SerializeTupleStruct = Impossible<MapKey, Attempt>;
    type SerializeTupleVariant = Impossible<MapKey, Attempt>;
    type SerializeMap = Impossible<MapKey, Attempt>;
    type SerializeStruct = Impossible<MapKey, Attempt>;
    type SerializeStructVariant = Impossible<MapKey, Attempt>;

    fn serialize_bool(self, v: bool) -> Result<MapKey, Attempt> {
        Ok(MapKey::Static(if v { "true" } else { "false" }))
    }

    scalar_keys! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128,
    }

    fn serialize_f32(self, v: f32) -> Result<MapKey, Attempt> {
        let mut buf = ryu::Buffer::new();
        self.float(float_text(&mut buf, v))
    }

    fn serialize_f64(self, v: f64) -> Result<MapKey, Attempt> {
        let mut buf = ryu::Buffer::new();
        self.float(float_text(&mut buf, v))
    }

    fn serialize_char(self, v: char) -> Result<MapKey, Attempt> {
        Ok(MapKey::Owned(v.to_string()))
    }

    fn serialize_str(self, v: &str) -> Result<MapKey, Attempt> {
        Ok(MapKey::Owned(v.to_owned()))
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<MapKey, Attempt> {
        Ok(MapKey::Static(variant))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<MapKey, Attempt> {
        value.serialize(self)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<MapKey, Attempt> {
        Err(Attempt::Composite)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<MapKey, Attempt> {
        Err(Attempt::Composite)
    }

    composite_keys! {
        serialize_bytes(&[u8]) -> MapKey;
        serialize_none() -> MapKey;
        serialize_unit() -> MapKey;
        serialize_unit_struct(&'static str) -> MapKey;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}
