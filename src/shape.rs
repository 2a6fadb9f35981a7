//! Shapes: fingerprints of what a type looks like to serde, stored in every
//! record so that bytes written for one shape are never decoded as another.
//!
//! A value type is traced once per cache through its `Deserialize` (with
//! `serde-reflection`): containers, field names in order, field types, enum
//! variants in order, element and map shapes. The fingerprint hashes that
//! structure without the containers' names, so a type renamed or moved keeps
//! its entries, while swapping two fields, reordering variants or changing
//! `u32` to `i32` is a miss.
//!
//! A type the tracer cannot follow (one whose `Deserialize` asks the format
//! what comes next: `serde_json::Value`, untagged, internally tagged or
//! flattened types; or one that rejects the tracer's sample values) is
//! matched by its Rust type name instead, and its values are stored in a
//! self-describing codec that matches fields and variants by name: renaming
//! or moving such a type is a miss, and a changed shape either decodes by
//! name into the right fields or is a miss.

use std::any::type_name;

use serde::de::DeserializeOwned;
use serde_reflection::{ContainerFormat, Format, Registry, Samples, Tracer, TracerConfig};
use serde_reflection::{Named, VariantFormat};
use xxhash_rust::xxh3::Xxh3;

/// What a cache knows of its value type's shape.
#[derive(Debug, Clone)]
pub struct ValueShape {
    /// Stored in each record's header.
    pub fingerprint: u64,
    /// The traced shape; `None` when the tracer could not follow the type.
    pub traced: Option<TracedShape>,
}

/// A shape the tracer followed.
#[derive(Debug, Clone)]
pub struct TracedShape {
    /// Whether some struct or struct variant is in it: only those can skip
    /// fields when serialized (`skip_serializing_if`), which a positional
    /// codec cannot hold.
    pub has_fields: bool,
    /// Why plain JSON cannot hold every value of the shape, if it cannot.
    pub json_problem: Option<String>,
    /// Whether a container holds itself (a tree, a list): values can nest
    /// without bound, so decoding them needs a depth limit.
    pub recursive: bool,
    /// The shape as JSON (`{"root": ..., "registry": ...}`), for tools that
    /// read stored values without the Rust type.
    pub description: String,
}

/// Traces `T`'s shape.
pub fn value_shape<T: DeserializeOwned>() -> ValueShape {
    // A Deserialize impl may panic on the tracer's sample values; that is a
    // type the tracer cannot follow, not a reason to take the host down.
    let traced = std::panic::catch_unwind(trace::<T>).ok().flatten();
    match traced {
        Some((root, registry)) => {
            let mut h = Xxh3::new();
            h.update(b"traced:");
            hash_format(&mut h, &root, &registry, &mut Vec::new());
            ValueShape {
                fingerprint: h.digest(),
                traced: Some(TracedShape {
                    has_fields: registry.values().any(has_fields),
                    recursive: is_recursive(&registry),
                    json_problem: json_problem(&root, &registry, &mut Vec::new()),
                    description: serde_json::json!({"root": root, "registry": registry})
                        .to_string(),
                }),
            }
        }
        None => ValueShape {
            fingerprint: named_fingerprint(type_name::<T>()),
            traced: None,
        },
    }
}

/// The fingerprint of a type known only by its name.
pub fn named_fingerprint(name: &str) -> u64 {
    let mut h = Xxh3::new();
    h.update(b"named:");
    h.update(name.as_bytes());
    h.digest()
}

/// Traces `T`, enums nested anywhere in it included: the tracer explores one
/// more variant of an enum per pass once that enum's "incomplete" mark is
/// cleared, but it clears marks only for the root type's name. Enum names
/// come from the error of an attempt that missed variants; each attempt
/// starts afresh with more names to clear.
fn trace<T: DeserializeOwned>() -> Option<(Format, Registry)> {
    /// Passes over one type, at most: one per variant of its enums.
    const MAX_PASSES: usize = 10_000;
    let mut names: std::collections::BTreeSet<String> = Default::default();
    let samples = Samples::new();
    loop {
        let mut tracer = Tracer::new(TracerConfig::default());
        let mut root = None;
        for _ in 0..MAX_PASSES {
            let (format, _) = tracer.trace_type_once::<T>(&samples).ok()?;
            if let Format::TypeName(name) = &format {
                names.insert(name.clone());
            }
            root = Some(format);
            let mut again = false;
            for name in &names {
                again |= tracer.check_incomplete_enum(name).is_some();
            }
            if !again {
                break;
            }
        }
        match tracer.registry() {
            Ok(registry) => return Some((root?, registry)),
            Err(serde_reflection::Error::MissingVariants(missing)) => {
                let before = names.len();
                names.extend(missing);
                if names.len() == before {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

/// The fingerprint of one parameter's type: its traced shape where the type
/// can be traced, else its name. Generated code picks the arm by autoref
/// (`(&ParamShape::<T>::new()).fingerprint()`), as `Deserialize` is not
/// required of parameters.
#[doc(hidden)]
pub struct ParamShape<T: ?Sized>(std::marker::PhantomData<fn() -> *const T>);

impl<T: ?Sized> ParamShape<T> {
    #[allow(clippy::new_without_default)] // only generated code builds one
    pub const fn new() -> Self {
        ParamShape(std::marker::PhantomData)
    }
}

/// The arm for parameter types that can be traced.
#[doc(hidden)]
pub trait TracedParam {
    fn fingerprint(&self) -> u64;
}

impl<T: DeserializeOwned> TracedParam for ParamShape<T> {
    fn fingerprint(&self) -> u64 {
        value_shape::<T>().fingerprint
    }
}

/// The arm for every other parameter type. (A type with a lifetime, such as
/// `&str`, would pick the traced arm and then fail to compile: the arm is
/// chosen with lifetimes erased.)
#[doc(hidden)]
pub trait NamedParam {
    fn fingerprint(&self) -> u64;
}

impl<T: ?Sized> NamedParam for &ParamShape<T> {
    fn fingerprint(&self) -> u64 {
        named_fingerprint(type_name::<T>())
    }
}

/// Combines the parameters' names and type fingerprints into the one stored
/// in records (never `0`, which means "not tracked").
#[doc(hidden)]
pub fn params_fingerprint(params: &[(&str, u64)]) -> u64 {
    let mut h = Xxh3::new();
    for (name, shape) in params {
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(&shape.to_le_bytes());
    }
    h.digest().max(1)
}

fn hash_str(h: &mut Xxh3, s: &str) {
    h.update(&(s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

/// Hashes a format's structure; containers are expanded in place (without
/// their names), and a container met again inside itself is hashed as a
/// back reference to its depth, so recursive types hash finitely.
fn hash_format(h: &mut Xxh3, f: &Format, registry: &Registry, stack: &mut Vec<String>) {
    let tag: &[u8] = match f {
        Format::Variable(_) => b"?",
        Format::TypeName(name) => {
            if let Some(at) = stack.iter().position(|n| n == name) {
                h.update(b"@");
                h.update(&((stack.len() - at) as u64).to_le_bytes());
                return;
            }
            let Some(container) = registry.get(name) else {
                h.update(b"!");
                return;
            };
            stack.push(name.clone());
            hash_container(h, container, registry, stack);
            stack.pop();
            return;
        }
        Format::Unit => b"unit",
        Format::Bool => b"bool",
        Format::I8 => b"i8",
        Format::I16 => b"i16",
        Format::I32 => b"i32",
        Format::I64 => b"i64",
        Format::I128 => b"i128",
        Format::U8 => b"u8",
        Format::U16 => b"u16",
        Format::U32 => b"u32",
        Format::U64 => b"u64",
        Format::U128 => b"u128",
        Format::F32 => b"f32",
        Format::F64 => b"f64",
        Format::Char => b"char",
        Format::Str => b"str",
        Format::Bytes => b"bytes",
        Format::Option(inner) => {
            h.update(b"option(");
            hash_format(h, inner, registry, stack);
            b")"
        }
        Format::Seq(inner) => {
            h.update(b"seq(");
            hash_format(h, inner, registry, stack);
            b")"
        }
        Format::Map { key, value } => {
            h.update(b"map(");
            hash_format(h, key, registry, stack);
            hash_format(h, value, registry, stack);
            b")"
        }
        Format::Tuple(items) => {
            h.update(b"tuple(");
            hash_formats(h, items, registry, stack);
            b")"
        }
        Format::TupleArray { content, size } => {
            h.update(b"array(");
            h.update(&(*size as u64).to_le_bytes());
            hash_format(h, content, registry, stack);
            b")"
        }
    };
    h.update(tag);
}

fn hash_formats(h: &mut Xxh3, items: &[Format], registry: &Registry, stack: &mut Vec<String>) {
    h.update(&(items.len() as u64).to_le_bytes());
    for item in items {
        hash_format(h, item, registry, stack);
    }
}

fn hash_fields(
    h: &mut Xxh3,
    fields: &[Named<Format>],
    registry: &Registry,
    stack: &mut Vec<String>,
) {
    h.update(&(fields.len() as u64).to_le_bytes());
    for field in fields {
        hash_str(h, &field.name);
        hash_format(h, &field.value, registry, stack);
    }
}

fn hash_container(h: &mut Xxh3, c: &ContainerFormat, registry: &Registry, stack: &mut Vec<String>) {
    match c {
        ContainerFormat::UnitStruct => h.update(b"unit struct"),
        ContainerFormat::NewTypeStruct(inner) => {
            h.update(b"newtype(");
            hash_format(h, inner, registry, stack);
            h.update(b")");
        }
        ContainerFormat::TupleStruct(items) => {
            h.update(b"tuple struct(");
            hash_formats(h, items, registry, stack);
            h.update(b")");
        }
        ContainerFormat::Struct(fields) => {
            h.update(b"struct(");
            hash_fields(h, fields, registry, stack);
            h.update(b")");
        }
        ContainerFormat::Enum(variants) => {
            h.update(b"enum(");
            h.update(&(variants.len() as u64).to_le_bytes());
            for (index, variant) in variants {
                h.update(&index.to_le_bytes());
                hash_str(h, &variant.name);
                match &variant.value {
                    VariantFormat::Variable(_) => h.update(b"?"),
                    VariantFormat::Unit => h.update(b"unit"),
                    VariantFormat::NewType(inner) => {
                        h.update(b"newtype");
                        hash_format(h, inner, registry, stack);
                    }
                    VariantFormat::Tuple(items) => {
                        h.update(b"tuple");
                        hash_formats(h, items, registry, stack);
                    }
                    VariantFormat::Struct(fields) => {
                        h.update(b"struct");
                        hash_fields(h, fields, registry, stack);
                    }
                }
            }
            h.update(b")");
        }
    }
}

/// Whether some container of the registry reaches itself.
fn is_recursive(registry: &Registry) -> bool {
    use serde_reflection::FormatHolder;
    let refers: std::collections::BTreeMap<&str, Vec<String>> = registry
        .iter()
        .map(|(name, container)| {
            let mut names = Vec::new();
            let _ = container.visit(&mut |f| {
                if let Format::TypeName(n) = f {
                    names.push(n.clone());
                }
                Ok(())
            });
            (name.as_str(), names)
        })
        .collect();
    registry.keys().any(|start| {
        let mut seen = std::collections::BTreeSet::new();
        let mut work: Vec<&str> = refers[start.as_str()].iter().map(String::as_str).collect();
        while let Some(name) = work.pop() {
            if name == start {
                return true;
            }
            if seen.insert(name) {
                work.extend(refers.get(name).into_iter().flatten().map(String::as_str));
            }
        }
        false
    })
}

fn has_fields(c: &ContainerFormat) -> bool {
    match c {
        ContainerFormat::Struct(_) => true,
        ContainerFormat::Enum(variants) => variants
            .values()
            .any(|v| matches!(v.value, VariantFormat::Struct(_))),
        _ => false,
    }
}

/// What serde_json writes as `null`: a unit, a unit struct, an option, or a
/// newtype around one of them.
fn written_as_null(f: &Format, registry: &Registry) -> bool {
    match f {
        Format::Unit | Format::Option(_) => true,
        Format::TypeName(name) => match registry.get(name) {
            Some(ContainerFormat::UnitStruct) => true,
            Some(ContainerFormat::NewTypeStruct(inner)) => written_as_null(inner, registry),
            _ => false,
        },
        _ => false,
    }
}

/// The first place where plain JSON would lose information: an option whose
/// content can itself be written `null` (`Option<Option<_>>`, `Option<()>`).
fn json_problem(f: &Format, registry: &Registry, seen: &mut Vec<String>) -> Option<String> {
    let describe = |inner: &Format| match inner {
        Format::TypeName(name) => name.clone(),
        other => format!("{other:?}").to_lowercase(),
    };
    match f {
        Format::Option(inner) if written_as_null(inner, registry) => Some(format!(
            "an Option of {} (JSON writes `Some` of it as `null`, which reads back as `None`)",
            describe(inner)
        )),
        Format::Option(inner) | Format::Seq(inner) => json_problem(inner, registry, seen),
        Format::TupleArray { content, .. } => json_problem(content, registry, seen),
        Format::Map { key, value } => {
            json_problem(key, registry, seen).or_else(|| json_problem(value, registry, seen))
        }
        Format::Tuple(items) => items.iter().find_map(|i| json_problem(i, registry, seen)),
        Format::TypeName(name) if !seen.contains(name) => {
            seen.push(name.clone());
            let fields = |fs: &Vec<Named<Format>>| -> Vec<Format> {
                fs.iter().map(|f| f.value.clone()).collect()
            };
            let inner: Vec<Format> = match registry.get(name)? {
                ContainerFormat::UnitStruct => vec![],
                ContainerFormat::NewTypeStruct(f) => vec![(**f).clone()],
                ContainerFormat::TupleStruct(fs) => fs.clone(),
                ContainerFormat::Struct(fs) => fields(fs),
                ContainerFormat::Enum(vs) => vs
                    .values()
                    .flat_map(|v| match &v.value {
                        VariantFormat::NewType(f) => vec![(**f).clone()],
                        VariantFormat::Tuple(fs) => fs.clone(),
                        VariantFormat::Struct(fs) => fields(fs),
                        _ => vec![],
                    })
                    .collect(),
            };
            inner.iter().find_map(|i| json_problem(i, registry, seen))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[allow(dead_code)]
    mod before {
        #[derive(serde::Deserialize)]
        pub struct Point {
            pub x: u32,
            pub y: u32,
        }
    }
    #[allow(dead_code)]
    mod swapped {
        #[derive(serde::Deserialize)]
        pub struct Point {
            pub y: u32,
            pub x: u32,
        }
    }
    #[allow(dead_code)]
    mod signed {
        #[derive(serde::Deserialize)]
        pub struct Point {
            pub x: i32,
            pub y: u32,
        }
    }
    #[allow(dead_code)]
    mod renamed {
        #[derive(serde::Deserialize)]
        pub struct Spot {
            pub x: u32,
            pub y: u32,
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Tree {
        Leaf(u64),
        Node(Box<Tree>, Box<Tree>),
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Loose {
        A(u8),
        B(String),
    }

    fn fp<T: DeserializeOwned>() -> u64 {
        value_shape::<T>().fingerprint
    }

    #[test]
    fn a_changed_shape_changes_the_fingerprint_and_a_rename_does_not() {
        let base = fp::<before::Point>();
        assert_ne!(base, fp::<swapped::Point>());
        assert_ne!(base, fp::<signed::Point>());
        assert_eq!(base, fp::<renamed::Spot>());
        assert_ne!(fp::<f32>(), fp::<f64>());
        assert_ne!(fp::<Vec<u8>>(), fp::<Vec<i8>>());
        assert_ne!(fp::<Option<u8>>(), fp::<u8>());
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct WithEnums {
        first: Tree,
        kinds: Vec<Option<Size>>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Size {
        Small,
        Large(u8),
        Huge { by: u16 },
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum SizeReordered {
        Large(u8),
        Small,
        Huge { by: u16 },
    }

    #[test]
    fn enums_nested_inside_a_type_are_traced_whole() {
        let shape = value_shape::<WithEnums>();
        assert!(shape.traced.is_some(), "nested enums trace");
        assert_ne!(fp::<Vec<Size>>(), fp::<Vec<SizeReordered>>());
    }

    #[test]
    fn recursive_types_trace() {
        let shape = value_shape::<Tree>();
        assert!(shape.traced.as_ref().is_some_and(|t| t.recursive));
        assert!(
            value_shape::<WithEnums>().traced.unwrap().recursive,
            "it holds a Tree"
        );
        assert!(!value_shape::<Vec<Option<Size>>>().traced.unwrap().recursive);
        assert_eq!(shape.fingerprint, fp::<Tree>());
    }

    #[test]
    fn everyday_types_trace() {
        use std::collections::{BTreeSet, HashMap};
        assert!(value_shape::<String>().traced.is_some());
        assert!(value_shape::<HashMap<String, Vec<f64>>>().traced.is_some());
        assert!(value_shape::<BTreeSet<(u8, char)>>().traced.is_some());
        assert!(
            value_shape::<([u8; 4], Box<Option<i128>>, ())>()
                .traced
                .is_some()
        );
        assert!(value_shape::<Result<u8, String>>().traced.is_some());
    }

    #[test]
    fn untraceable_types_fall_back_to_their_name() {
        for shape in [value_shape::<Loose>(), value_shape::<serde_json::Value>()] {
            assert!(shape.traced.is_none());
        }
        assert_eq!(fp::<Loose>(), named_fingerprint(type_name::<Loose>()));
    }

    #[test]
    fn json_problems_are_found() {
        let problem = |s: ValueShape| s.traced.unwrap().json_problem;
        assert!(problem(value_shape::<Option<Option<u8>>>()).is_some());
        assert!(problem(value_shape::<Vec<Option<()>>>()).is_some());
        assert!(problem(value_shape::<Option<u8>>()).is_none());
        assert!(problem(value_shape::<Tree>()).is_none());
    }

    #[test]
    // The borrow is the point: it picks the arm (autoref dispatch).
    #[allow(clippy::needless_borrow)]
    fn parameter_shapes_use_the_trace_where_they_can() {
        #[allow(unused_imports)]
        use super::{NamedParam as _, TracedParam as _};
        assert_eq!((&ParamShape::<u32>::new()).fingerprint(), fp::<u32>());
        struct OnlySerialize;
        assert_eq!(
            (&ParamShape::<OnlySerialize>::new()).fingerprint(),
            named_fingerprint(type_name::<OnlySerialize>())
        );
    }
}

/// Renders postcard bytes as JSON, driven by a shape description kept by the
/// store (`{"root": ..., "registry": ...}`): how tools show stored values
/// without the Rust type.
///
/// # Errors
///
/// Why the description or the bytes do not make a value of that shape.
pub fn postcard_to_json(
    description: &str,
    bytes: &[u8],
) -> Result<serde_json::Value, Unrenderable> {
    #[derive(serde::Deserialize)]
    struct Described {
        root: Format,
        registry: Registry,
    }
    let d: Described =
        serde_json::from_str(description).map_err(|e| Unrenderable::Description(e.to_string()))?;
    let mut reader = render::Reader { bytes, at: 0 };
    let value = reader.value(&d.root, &d.registry, 0)?;
    if reader.at != bytes.len() {
        return Err(Unrenderable::LeftOver(bytes.len() - reader.at));
    }
    Ok(value)
}

mod render {
    //! A postcard reader driven by a traced format.

    use super::Unrenderable;
    use serde_json::{Map, Value, json};
    use serde_reflection::{ContainerFormat, Format, Named, Registry, VariantFormat};

    /// Formats nest no deeper than this (a recursive value, say).
    const MAX_DEPTH: usize = 256;

    pub(super) struct Reader<'b> {
        pub(super) bytes: &'b [u8],
        pub(super) at: usize,
    }

    impl Reader<'_> {
        fn take(&mut self, n: usize) -> Result<&[u8], Unrenderable> {
            let end = self
                .at
                .checked_add(n)
                .filter(|e| *e <= self.bytes.len())
                .ok_or(Unrenderable::EndsEarly)?;
            let out = &self.bytes[self.at..end];
            self.at = end;
            Ok(out)
        }

        fn varint(&mut self) -> Result<u128, Unrenderable> {
            let mut out: u128 = 0;
            for shift in (0..128).step_by(7) {
                let b = self.take(1)?[0];
                out |= u128::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    return Ok(out);
                }
            }
            Err(Unrenderable::VarintTooLong)
        }

        fn signed(&mut self) -> Result<i128, Unrenderable> {
            let z = self.varint()?;
            Ok(((z >> 1) as i128) ^ -((z & 1) as i128))
        }

        fn len(&mut self) -> Result<usize, Unrenderable> {
            usize::try_from(self.varint()?).map_err(|_| Unrenderable::LengthTooLarge)
        }

        fn text(&mut self) -> Result<String, Unrenderable> {
            let n = self.len()?;
            String::from_utf8(self.take(n)?.to_vec()).map_err(|_| Unrenderable::NotUtf8)
        }

        fn number(v: i128) -> Value {
            i64::try_from(v).map_or_else(|_| json!(v.to_string()), |v| json!(v))
        }

        fn float(v: f64) -> Value {
            serde_json::Number::from_f64(v).map_or_else(|| json!(v.to_string()), Value::Number)
        }

        pub(super) fn value(
            &mut self,
            f: &Format,
            reg: &Registry,
            depth: usize,
        ) -> Result<Value, Unrenderable> {
            if depth > MAX_DEPTH {
                return Err(Unrenderable::TooDeep);
            }
            let d = depth + 1;
            Ok(match f {
                Format::Variable(_) => return Err(Unrenderable::IncompleteShape),
                Format::TypeName(name) => {
                    let c = reg
                        .get(name)
                        .ok_or_else(|| Unrenderable::NoContainer(name.clone()))?;
                    self.container(c, reg, d)?
                }
                Format::Unit => Value::Null,
                Format::Bool => json!(self.take(1)?[0] != 0),
                Format::I8 => json!(self.take(1)?[0] as i8),
                Format::U8 => json!(self.take(1)?[0]),
                Format::I16 | Format::I32 | Format::I64 | Format::I128 => {
                    Self::number(self.signed()?)
                }
                Format::U16 | Format::U32 | Format::U64 | Format::U128 => {
                    let v = self.varint()?;
                    u64::try_from(v).map_or_else(|_| json!(v.to_string()), |v| json!(v))
                }
                Format::F32 => {
                    let b = self.take(4)?.try_into().expect("4 bytes");
                    Self::float(f64::from(f32::from_le_bytes(b)))
                }
                Format::F64 => {
                    let b = self.take(8)?.try_into().expect("8 bytes");
                    Self::float(f64::from_le_bytes(b))
                }
                Format::Char | Format::Str => json!(self.text()?),
                Format::Bytes => {
                    let n = self.len()?;
                    json!(self.take(n)?)
                }
                // As serde_json writes it, unless the content is itself
                // `null`: then `{"Some": null}`, so nothing is lost.
                Format::Option(inner) => match self.take(1)?[0] {
                    0 => Value::Null,
                    _ => match self.value(inner, reg, d)? {
                        Value::Null => json!({"Some": null}),
                        content => content,
                    },
                },
                Format::Seq(inner) => {
                    let n = self.len()?;
                    (0..n)
                        .map(|_| self.value(inner, reg, d))
                        .collect::<Result<Vec<_>, _>>()?
                        .into()
                }
                Format::Map { key, value } => {
                    let n = self.len()?;
                    let mut out = Map::new();
                    for _ in 0..n {
                        let k = match self.value(key, reg, d)? {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        out.insert(k, self.value(value, reg, d)?);
                    }
                    Value::Object(out)
                }
                Format::Tuple(items) => self.values(items, reg, d)?,
                Format::TupleArray { content, size } => (0..*size)
                    .map(|_| self.value(content, reg, d))
                    .collect::<Result<Vec<_>, _>>()?
                    .into(),
            })
        }

        fn values(
            &mut self,
            items: &[Format],
            reg: &Registry,
            d: usize,
        ) -> Result<Value, Unrenderable> {
            Ok(items
                .iter()
                .map(|i| self.value(i, reg, d))
                .collect::<Result<Vec<_>, _>>()?
                .into())
        }

        fn fields(
            &mut self,
            fields: &[Named<Format>],
            reg: &Registry,
            d: usize,
        ) -> Result<Value, Unrenderable> {
            let mut out = Map::new();
            for f in fields {
                out.insert(f.name.clone(), self.value(&f.value, reg, d)?);
            }
            Ok(Value::Object(out))
        }

        fn container(
            &mut self,
            c: &ContainerFormat,
            reg: &Registry,
            d: usize,
        ) -> Result<Value, Unrenderable> {
            Ok(match c {
                ContainerFormat::UnitStruct => Value::Null,
                ContainerFormat::NewTypeStruct(inner) => self.value(inner, reg, d)?,
                ContainerFormat::TupleStruct(items) => self.values(items, reg, d)?,
                ContainerFormat::Struct(fields) => self.fields(fields, reg, d)?,
                ContainerFormat::Enum(variants) => {
                    let index = u32::try_from(self.varint()?)
                        .map_err(|_| Unrenderable::NoVariant(u32::MAX))?;
                    let v = variants.get(&index).ok_or(Unrenderable::NoVariant(index))?;
                    let content = match &v.value {
                        VariantFormat::Unit => return Ok(json!(v.name)),
                        VariantFormat::NewType(inner) => self.value(inner, reg, d)?,
                        VariantFormat::Tuple(items) => self.values(items, reg, d)?,
                        VariantFormat::Struct(fields) => self.fields(fields, reg, d)?,
                        VariantFormat::Variable(_) => return Err(Unrenderable::IncompleteShape),
                    };
                    json!({ v.name.clone(): content })
                }
            })
        }
    }
}

/// Why stored postcard bytes were not rendered as JSON through a kept shape.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unrenderable {
    /// The kept shape description is not one this build reads (the JSON
    /// parser's message).
    Description(String),
    /// The bytes end before the value does.
    EndsEarly,
    /// Bytes are left after the value.
    LeftOver(usize),
    /// A variable-length integer runs past 128 bits.
    VarintTooLong,
    /// A length that does not fit this machine's `usize`.
    LengthTooLarge,
    /// A string that is not UTF-8.
    NotUtf8,
    /// The value nests deeper than the reader follows.
    TooDeep,
    /// The shape has a part the tracer could not follow.
    IncompleteShape,
    /// The shape names a container it does not describe.
    NoContainer(String),
    /// An enum variant index the shape does not have (`u32::MAX`: one past
    /// what an index can be).
    NoVariant(u32),
}

impl std::fmt::Display for Unrenderable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unrenderable::Description(why) => write!(f, "an unreadable shape description: {why}"),
            Unrenderable::EndsEarly => f.write_str("the value ends early"),
            Unrenderable::LeftOver(n) => write!(f, "{n} bytes left over"),
            Unrenderable::VarintTooLong => f.write_str("a varint runs too long"),
            Unrenderable::LengthTooLarge => f.write_str("a length too large"),
            Unrenderable::NotUtf8 => f.write_str("a string that is not UTF-8"),
            Unrenderable::TooDeep => f.write_str("the value nests too deep"),
            Unrenderable::IncompleteShape => f.write_str("an incomplete shape"),
            Unrenderable::NoContainer(name) => write!(f, "no shape for {name}"),
            Unrenderable::NoVariant(index) => write!(f, "no variant {index}"),
        }
    }
}

impl std::error::Error for Unrenderable {}

#[cfg(test)]
mod render_tests {
    use super::{Unrenderable, postcard_to_json, value_shape};

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Point {
        x: u32,
        name: String,
    }

    #[test]
    fn stored_bytes_render_as_json_or_say_what_is_wrong() {
        let described = value_shape::<Point>().traced.unwrap().description;
        let bytes = postcard::to_allocvec(&Point {
            x: 300,
            name: "a".into(),
        })
        .unwrap();
        assert_eq!(
            postcard_to_json(&described, &bytes).unwrap(),
            serde_json::json!({"x": 300, "name": "a"})
        );
        let cut = &bytes[..bytes.len() - 1];
        assert_eq!(
            postcard_to_json(&described, cut),
            Err(Unrenderable::EndsEarly)
        );
        let longer = [&bytes[..], &[0, 0]].concat();
        assert_eq!(
            postcard_to_json(&described, &longer),
            Err(Unrenderable::LeftOver(2))
        );
        let bad_text = [&bytes[..2], &[1, 0xff]].concat();
        assert_eq!(
            postcard_to_json(&described, &bad_text),
            Err(Unrenderable::NotUtf8)
        );
        assert!(matches!(
            postcard_to_json("{", &bytes),
            Err(Unrenderable::Description(_))
        ));
    }
}
