//! `permacache verify [NS..]`: reads every record and reports the ones that
//! cannot be read: damaged, truncated, filed under another key's hash, of an
//! unknown format or codec, or (JSON codec) not JSON. Postcard values cannot
//! be checked without their Rust type; the cached function itself recomputes
//! one that does not decode.

use permacache::store::{Record, key_hash};
use permacache::{Codec, KEY_FORMAT_VERSION};
use serde_json::json;

use crate::{Ctx, Outcome, progress};

#[derive(clap::Args)]
pub struct Args {
    /// The namespaces to verify [default: all]
    namespaces: Vec<String>,
}

/// What is wrong with a stored record, if anything.
/// What is wrong with a stored record, as a hit would find it.
pub fn problem(hash: &[u8], bytes: &[u8]) -> Option<String> {
    let r = match Record::parse(bytes) {
        Ok(r) => r,
        Err(e) => return Some(e.to_string()),
    };
    if key_hash(r.header.owner, r.key)[..] != *hash {
        return Some("filed under another key's hash".into());
    }
    if r.header.key_format != KEY_FORMAT_VERSION {
        return Some(format!("unknown key format {}", r.header.key_format));
    }
    if std::str::from_utf8(r.key).is_err() {
        return Some("its key is not UTF-8".into());
    }
    match Codec::from_tag(r.header.codec) {
        None => Some(format!("unknown codec {}", r.header.codec)),
        Some(Codec::Json) if serde_json::from_slice::<serde_json::Value>(r.value).is_err() => {
            Some("its JSON value does not parse".into())
        }
        Some(Codec::Cbor) if ciborium::from_reader::<ciborium::Value, _>(r.value).is_err() => {
            Some("its CBOR value does not parse".into())
        }
        _ => None,
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let names = ctx.namespaces(args.namespaces)?;
    let mut bad = Vec::new();
    let mut checked = 0u64;
    for name in &names {
        let ns = ctx.open(name)?;
        let bar = progress(ctx, ns.len()? as u64, name);
        ns.for_each_raw(|hash, bytes| {
            checked += 1;
            bar.inc(1);
            if let Some(why) = problem(hash, bytes) {
                let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
                bad.push((name.clone(), hex, why));
            }
            true
        })?;
        bar.finish_and_clear();
    }
    if ctx.json {
        let list: Vec<_> = bad
            .iter()
            .map(|(n, h, w)| json!({"namespace": n, "record": h, "problem": w}))
            .collect();
        ctx.print_json(&json!({"checked": checked, "bad": list}));
    } else {
        for (name, hex, why) in &bad {
            println!("{name}: record {hex}: {why}");
        }
        println!("{checked} records checked, {} unreadable", bad.len());
    }
    Ok(if bad.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Problems
    })
}
