//! The fingerprint of a key's types, for the typed [`Cache`](crate::Cache)
//! API, whose keys are any `Serialize` value: the key text says `0.1` for an
//! `f32` and an `f64` alike, so each record also carries this fingerprint,
//! and a key type changed between runs (`f32` to `f64`, `u8` to `u64`, a
//! struct to a map) is a miss.
//!
//! It hashes what serde says of the value's types, never a type's name: the
//! kind of each primitive (its width included) and of each compound. The
//! elements of a sequence or map count as the set of their distinct
//! fingerprints, so the order of a `HashSet`'s iteration, and the number of
//! elements, change nothing. Names (fields, variants) are in the key text
//! already.

use serde::ser::{self, Serialize};

/// The fingerprint of the types in `key` (never `0`, which means "not
/// tracked"). Every typed call computes it: no allocation for keys without
/// sequences or maps, and a cheap mixing function rather than a hasher's
/// state.
pub(crate) fn key_types<K: Serialize + ?Sized>(key: &K) -> u64 {
    of(key).max(1)
}

fn of<T: Serialize + ?Sized>(value: &T) -> u64 {
    let mut tags = Tags(SEED);
    // A value whose serialization fails has no key either: the fingerprint
    // is then never used.
    let _ = value.serialize(&mut tags);
    tags.0
}

const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The running fingerprint.
struct Tags(u64);

impl Tags {
    /// Mixes `v` in (a multiply-rotate step; a fingerprint that may only
    /// cause misses, never a key).
    fn mix(&mut self, v: u64) {
        self.0 = (self.0 ^ v)
            .wrapping_mul(0xff51_afd7_ed55_8ccd)
            .rotate_left(29)
            .wrapping_add(SEED);
    }

    fn tag(&mut self, tag: &[u8]) -> Result<(), Never> {
        // FNV-1a over the tag's few bytes.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in tag {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.mix(h);
        Ok(())
    }
}

/// Tags never fail; serde's signatures still want an error type.
#[derive(Debug)]
struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a custom serialization error")
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Never
    }
}

/// The elements of a compound: the distinct fingerprints of its items.
struct Items<'a> {
    tags: &'a mut Tags,
    seen: Vec<u64>,
}

impl Items<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) {
        let fp = of(value);
        if self.seen.last() != Some(&fp) && !self.seen.contains(&fp) {
            self.seen.push(fp);
        }
    }

    fn end(mut self) -> Result<(), Never> {
        self.seen.sort_unstable();
        for fp in &self.seen {
            self.tags.mix(*fp);
        }
        self.tags.tag(b"end")
    }
}

macro_rules! primitives {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, _: $ty) -> Result<(), Never> {
            self.tag(stringify!($ty).as_bytes())
        })*
    };
}

impl<'a> ser::Serializer for &'a mut Tags {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Items<'a>;
    type SerializeTuple = Items<'a>;
    type SerializeTupleStruct = Items<'a>;
    type SerializeTupleVariant = Items<'a>;
    type SerializeMap = Items<'a>;
    type SerializeStruct = Items<'a>;
    type SerializeStructVariant = Items<'a>;

    primitives!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char, serialize_str: &str, serialize_bytes: &[u8],
    );

    fn serialize_none(self) -> Result<(), Never> {
        self.tag(b"none")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Never> {
        self.tag(b"some")?;
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Never> {
        self.tag(b"unit")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Never> {
        self.tag(b"unit")
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Never> {
        self.tag(b"unit variant")
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        // Transparent, as in the key text.
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.tag(b"newtype variant")?;
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Items<'a>, Never> {
        self.tag(b"seq")?;
        Ok(Items {
            tags: self,
            seen: Vec::new(),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Items<'a>, Never> {
        self.tag(b"tuple")?;
        self.mix(len as u64);
        Ok(Items {
            tags: self,
            seen: Vec::new(),
        })
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Items<'a>, Never> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Items<'a>, Never> {
        self.tag(b"tuple variant")?;
        self.serialize_tuple(len)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Items<'a>, Never> {
        self.tag(b"map")?;
        Ok(Items {
            tags: self,
            seen: Vec::new(),
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Items<'a>, Never> {
        self.tag(b"struct")?;
        Ok(Items {
            tags: self,
            seen: Vec::new(),
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Items<'a>, Never> {
        self.tag(b"struct variant")?;
        self.serialize_struct("", 0)
    }
}

impl ser::SerializeSeq for Items<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.item(value);
        Ok(())
    }
    fn end(self) -> Result<(), Never> {
        Items::end(self)
    }
}

impl ser::SerializeTuple for Items<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        // A tuple's positions are its type: each in order.
        self.tags.mix(of(value));
        Ok(())
    }
    fn end(self) -> Result<(), Never> {
        Items::end(self)
    }
}

impl ser::SerializeTupleStruct for Items<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        ser::SerializeTuple::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Never> {
        Items::end(self)
    }
}

impl ser::SerializeTupleVariant for Items<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        ser::SerializeTuple::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Never> {
        Items::end(self)
    }
}

impl ser::SerializeMap for Items<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        self.item(&("key", key));
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.item(&("value", value));
        Ok(())
    }
    fn end(self) -> Result<(), Never> {
        Items::end(self)
    }
}

impl ser::SerializeStruct for Items<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        // Fields are in declaration order, which the key text sorts: each
        // field's name goes with its type.
        self.tags.mix(of(&(name, value)));
        Ok(())
    }
    fn end(self) -> Result<(), Never> {
        Items::end(self)
    }
}

impl ser::SerializeStructVariant for Items<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        ser::SerializeStruct::serialize_field(self, name, value)
    }
    fn end(self) -> Result<(), Never> {
        Items::end(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::key_types;

    #[test]
    fn a_changed_key_type_changes_the_fingerprint() {
        assert_ne!(key_types(&0.1f32), key_types(&0.1f64));
        assert_ne!(key_types(&3u8), key_types(&3u64));
        assert_ne!(key_types(&("a", 1i32)), key_types(&("a", 1i64)));
        assert_ne!(key_types(&vec![1u32]), key_types(&vec![1u64]));
        let map: BTreeMap<&str, u32> = [("x", 1)].into();
        assert_ne!(key_types(&map), key_types(&vec![("x", 1u32)]));
    }

    #[test]
    fn the_same_types_give_the_same_fingerprint_whatever_the_values() {
        assert_eq!(key_types(&1u64), key_types(&2u64));
        assert_eq!(key_types("a"), key_types(&String::from("bcd")));
        assert_eq!(key_types(&&"a"), key_types("a"));
        assert_eq!(key_types(&vec![1u64, 2]), key_types(&vec![5u64; 100]));
        let a: HashSet<u64> = (0..1000).collect();
        let b: HashSet<u64> = (0..1000).rev().collect();
        assert_eq!(key_types(&a), key_types(&b));
        assert_ne!(key_types(&1u64), 0);
    }
}
