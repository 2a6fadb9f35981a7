//! `permacache forget NS KEY_JSON` and `permacache clear NS`.

use permacache::store::{Record, key_hash};
use serde_json::json;

use crate::{Ctx, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// The namespace path
    namespace: String,
    /// The key, as `permacache show` prints it (any JSON spelling of it works)
    key: String,
}

/// The stored key text `given` means: itself, or its canonical form when it
/// is JSON spelled another way.
fn candidates(given: &str) -> Vec<String> {
    let mut out = vec![given.to_string()];
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(given)
        && let Ok(canonical) = permacache::stringify(&value)
        && canonical != given
    {
        out.push(canonical);
    }
    out
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let ns = ctx.open(&args.namespace)?;
    for key in candidates(&args.key) {
        let hash = key_hash(key.as_bytes());
        let matches = ns
            .get_raw(&hash)?
            .is_some_and(|bytes| Record::parse(&bytes).is_ok_and(|r| r.key == key.as_bytes()));
        if matches {
            ns.remove_many_raw(&[hash])?;
            if ctx.json {
                ctx.print_json(&json!({"namespace": args.namespace, "forgotten": key}));
            } else {
                println!("forgot {key}");
            }
            return Ok(Outcome::Ok);
        }
    }
    anyhow::bail!("no entry with key {} in {}", args.key, args.namespace)
}

pub fn clear(ctx: &Ctx, namespace: &str) -> anyhow::Result<Outcome> {
    let ns = ctx.open(namespace)?;
    let n = ns.len()?;
    ns.clear()?;
    if ctx.json {
        ctx.print_json(&json!({"namespace": namespace, "removed": n}));
    } else {
        println!("removed {n} entries from {namespace}");
    }
    Ok(Outcome::Ok)
}
