//! `permacache show NS`: entries as canonical JSON keys and, where the codec
//! is JSON, values; postcard values are shown by size and type fingerprint.

use permacache::Codec;
use permacache::admin::{Namespace, Record};
use serde_json::json;

use crate::{Ctx, Outcome, utc};

#[derive(clap::Args)]
pub struct Args {
    /// The namespace path
    namespace: String,
    /// Show at most this many entries
    #[arg(long, default_value_t = 20, conflicts_with = "all")]
    limit: usize,
    /// Show every entry
    #[arg(long)]
    all: bool,
}

/// A stored value as JSON where it can be read without the Rust type (every
/// codec, postcard through the shape the namespace keeps for `value_shape`,
/// its identity's), and as text.
fn render_value(
    ns: &Namespace,
    record: &Record<'_>,
    value_shape: Option<u64>,
) -> (Option<serde_json::Value>, String) {
    let codec = Codec::from_tag(record.header.codec);
    let decoded: Result<serde_json::Value, String> = match codec {
        Some(Codec::Json) => serde_json::from_slice(record.value).map_err(|e| e.to_string()),
        Some(Codec::Cbor) => ciborium::from_reader::<ciborium::Value, _>(record.value)
            .map_err(|e| e.to_string())
            .and_then(|v| serde_json::to_value(v).map_err(|e| e.to_string())),
        Some(Codec::Postcard) => match value_shape.map(|shape| (shape, ns.shape(shape))) {
            Some((_, Some(description))) => {
                permacache::admin::postcard_to_json(&description, record.value)
                    .map_err(|e| e.to_string())
            }
            Some((shape, None)) => Err(format!("shape {shape:016x} not kept")),
            None => Err("its identity is not in the namespace's table".into()),
        },
        None if permacache::admin::is_bulk(record.header.codec) => {
            permacache::admin::bulk_to_json(record.header.codec, record.value)
                .ok_or_else(|| "a damaged bulk array".to_string())
                .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        }
        _ => Err("unknown codec".into()),
    };
    match decoded {
        Ok(v) => {
            let text = v.to_string();
            (Some(v), text)
        }
        Err(why) => (
            None,
            format!(
                "<{}, {} bytes, unreadable: {why}>",
                codec.map_or(
                    if permacache::admin::is_bulk(record.header.codec) {
                        "bulk"
                    } else {
                        "unknown codec"
                    },
                    Codec::name
                ),
                record.value.len(),
            ),
        ),
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let ns = ctx.open(&args.namespace)?;
    let identities = ns.identities()?;
    let limit = if args.all { usize::MAX } else { args.limit };
    let mut shown = 0;
    let mut rows = Vec::new();
    ns.for_each_raw(|_, bytes| {
        if shown >= limit {
            return false;
        }
        shown += 1;
        match Record::parse(bytes) {
            Ok(r) => {
                let key = String::from_utf8_lossy(r.key).into_owned();
                let identity = identities.get(&r.header.identity);
                let (value, text) = render_value(ns, &r, identity.map(|i| i.value_shape));
                rows.push((
                    key,
                    value,
                    text,
                    identity.map(|i| i.namespace_version),
                    r.header.written_at_ms,
                    r.value.len(),
                ));
            }
            Err(e) => rows.push((
                format!("<unreadable record: {e}>"),
                None,
                String::new(),
                None,
                0,
                0,
            )),
        }
        true
    })?;
    if ctx.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(k, v, text, version, at, len)| {
                json!({"key": k, "value": v, "rendered": text, "version": version, "written_at": utc(*at), "bytes": len})
            })
            .collect();
        ctx.print_json(&json!(list));
    } else {
        for (key, _, text, version, at, _) in &rows {
            let version = version.map_or("unknown".to_string(), |v| v.to_string());
            println!("{key} => {text}  (version {version}, written {})", utc(*at));
        }
        let total = ns.len()?;
        if total > shown {
            println!("... {} more (--limit N, or --all)", total - shown);
        }
    }
    Ok(Outcome::Ok)
}
