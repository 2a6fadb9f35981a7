//! Whether serializing a value skips a struct field (`skip_serializing_if`,
//! `skip_serializing`): a walk that writes nothing and stops at the first
//! skip. postcard is positional, so such a value must go to a codec that
//! names its fields.

use serde::ser::{self, Serialize};

/// Whether serializing `value` skips some struct field (or fails).
pub(crate) fn skips_fields<T: Serialize + ?Sized>(value: &T) -> bool {
    value.serialize(Probe).is_err()
}

#[derive(Clone, Copy)]
struct Probe;

/// The walk's only outcome: a field was skipped (or the value's own
/// `Serialize` failed, which the real encoding reports).
#[derive(Debug)]
struct Skipped;

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field was skipped")
    }
}

impl std::error::Error for Skipped {}

impl ser::Error for Skipped {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Skipped
    }
}

macro_rules! leaves {
    ($($method:ident($($ty:ty),*);)*) => {$(
        fn $method(self, $(_: $ty),*) -> Result<(), Skipped> {
            Ok(())
        }
    )*};
}

impl ser::Serializer for Probe {
    type Ok = ();
    type Error = Skipped;
    type SerializeSeq = Probe;
    type SerializeTuple = Probe;
    type SerializeTupleStruct = Probe;
    type SerializeTupleVariant = Probe;
    type SerializeMap = Probe;
    type SerializeStruct = Probe;
    type SerializeStructVariant = Probe;

    leaves! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Skipped> {
        v.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Skipped> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Result<(), Skipped> {
        v.serialize(self)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Probe, Skipped> {
        Ok(self)
    }

    fn serialize_tuple(self, _: usize) -> Result<Probe, Skipped> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Probe, Skipped> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Probe, Skipped> {
        Ok(self)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Probe, Skipped> {
        Ok(self)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Probe, Skipped> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Probe, Skipped> {
        Ok(self)
    }
}

macro_rules! compound {
    ($($trait:ident: $method:ident;)*) => {$(
        impl ser::$trait for Probe {
            type Ok = ();
            type Error = Skipped;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Skipped> {
                v.serialize(*self)
            }
            fn end(self) -> Result<(), Skipped> {
                Ok(())
            }
        }
    )*};
}

compound! {
    SerializeSeq: serialize_element;
    SerializeTuple: serialize_element;
    SerializeTupleStruct: serialize_field;
    SerializeTupleVariant: serialize_field;
}

impl ser::SerializeMap for Probe {
    type Ok = ();
    type Error = Skipped;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Skipped> {
        k.serialize(*self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Skipped> {
        v.serialize(*self)
    }
    fn end(self) -> Result<(), Skipped> {
        Ok(())
    }
}

macro_rules! fields {
    ($($trait:ident;)*) => {$(
        impl ser::$trait for Probe {
            type Ok = ();
            type Error = Skipped;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _: &'static str,
                v: &T,
            ) -> Result<(), Skipped> {
                v.serialize(*self)
            }
            fn skip_field(&mut self, _: &'static str) -> Result<(), Skipped> {
                Err(Skipped)
            }
            fn end(self) -> Result<(), Skipped> {
                Ok(())
            }
        }
    )*};
}

fields! {
    SerializeStruct;
    SerializeStructVariant;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Sparse {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<u8>,
        b: Vec<u8>,
    }

    #[test]
    fn a_skipped_field_is_seen_wherever_it_sits() {
        let full = Sparse {
            a: Some(1),
            b: vec![2],
        };
        let sparse = Sparse { a: None, b: vec![] };
        assert!(!skips_fields(&full));
        assert!(skips_fields(&sparse));
        assert!(skips_fields(&vec![Some(full), Some(sparse)]));
        assert!(!skips_fields(&(1u8, "x", vec![1.5f64])));
    }
}
