//! `permacache show NS`: entries as canonical JSON keys and, where the codec
//! is JSON, values; postcard values are shown by size and type fingerprint.

use permacache::Codec;
use permacache::store::Record;
use serde_json::json;

use crate::{Ctx, Outcome, utc};

#[derive(clap::Args)]
pub struct Args {
    /// The namespace path
    namespace: String,
    /// Show at most this many entries
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

/// A record's value for people: JSON text, or what can be said without its type.
pub fn render_value(record: &Record<'_>) -> (Option<serde_json::Value>, String) {
    match Codec::from_tag(record.header.codec) {
        Some(Codec::Json) => match serde_json::from_slice::<serde_json::Value>(record.value) {
            Ok(v) => {
                let text = v.to_string();
                (Some(v), text)
            }
            Err(_) => (
                None,
                format!(
                    "<{}, {} bytes, unreadable>",
                    Codec::Json.name(),
                    record.value.len()
                ),
            ),
        },
        codec => (
            None,
            format!(
                "<{}, {} bytes, type {:016x}>",
                codec.map_or("unknown codec", Codec::name),
                record.value.len(),
                record.header.type_fingerprint
            ),
        ),
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let ns = ctx.open(&args.namespace)?;
    let mut shown = 0;
    let mut rows = Vec::new();
    ns.for_each_raw(|_, bytes| {
        if shown >= args.limit {
            return false;
        }
        shown += 1;
        match Record::parse(bytes) {
            Ok(r) => {
                let key = String::from_utf8_lossy(r.key).into_owned();
                let (value, text) = render_value(&r);
                rows.push((
                    key,
                    value,
                    text,
                    r.header.namespace_version,
                    r.header.written_at_ms,
                    r.value.len(),
                ));
            }
            Err(e) => rows.push((
                format!("<unreadable record: {e}>"),
                None,
                String::new(),
                0,
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
            println!("{key} => {text}  (version {version}, written {})", utc(*at));
        }
        let total = ns.len()?;
        if total > shown {
            println!("... {} more (--limit)", total - shown);
        }
    }
    Ok(Outcome::Ok)
}
