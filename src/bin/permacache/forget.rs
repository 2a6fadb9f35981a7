//! `permacache forget NS KEY_JSON` and `permacache clear NS`.

use permacache::admin::Record;
use serde_json::json;

use crate::{Ctx, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// The namespace path
    namespace: String,
    /// The key, as `permacache show` prints it (any JSON spelling of it works)
    key: String,
    /// Say what would be removed, and remove nothing
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    tiers: crate::remote::TierArgs,
}

#[derive(clap::Args)]
pub struct ClearArgs {
    /// The namespace path
    namespace: String,
    /// Say what would be removed, and remove nothing
    #[arg(long)]
    dry_run: bool,
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
    let identities = ns.identities()?;
    for key in candidates(&args.key) {
        // The LMDB key depends on the owning crate, which the CLI does not
        // know: find the records of this key by reading them.
        let mut hashes: Vec<[u8; 16]> = Vec::new();
        let mut records = Vec::new();
        ns.for_each_raw(|hash, bytes| {
            if let Ok(r) = Record::parse(bytes)
                && r.key == key.as_bytes()
                && let Ok(hash) = hash.try_into()
            {
                hashes.push(hash);
                // A record whose identity is not held has no name in the
                // tiers to forget there.
                if let Some(identity) = identities.get(&r.header.identity) {
                    records.push((*identity, r.key.to_vec()));
                }
            }
            true
        })?;
        if !hashes.is_empty() {
            let mut remotes = None;
            if !args.dry_run {
                // The shared tiers first: a failure there leaves the local
                // record, so the command can be run again.
                remotes = crate::remote::forget(&args.tiers, &args.namespace, &records)?;
                ns.remove_many_raw(&hashes)?;
            }
            if ctx.json {
                ctx.print_json(&json!({
                    "namespace": args.namespace, "forgotten": key,
                    "records": hashes.len(), "dry_run": args.dry_run,
                    "remote": remotes
                }));
            } else if args.dry_run {
                println!("would forget {key} ({} records)", hashes.len());
            } else {
                match remotes {
                    Some(labels) => println!("forgot {key}, here and in {labels}"),
                    None => println!("forgot {key}"),
                }
            }
            return Ok(Outcome::Ok);
        }
    }
    if serde_json::from_str::<serde_json::Value>(&args.key).is_err() {
        return Err(crate::Usage(format!(
            "KEY_JSON {:?} is not JSON; expected the key as JSON, such as '{{\"x\":1}}' or '[2,\"sq\"]'",
            args.key
        ))
        .into());
    }
    anyhow::bail!("no entry with key {} in {}", args.key, args.namespace)
}

pub fn clear(ctx: &Ctx, args: ClearArgs) -> anyhow::Result<Outcome> {
    let namespace = &args.namespace;
    let ns = ctx.open(namespace)?;
    let n = ns.len()?;
    if !args.dry_run {
        ns.clear()?;
    }
    if ctx.json {
        ctx.print_json(&json!({"namespace": namespace, "removed": n, "dry_run": args.dry_run}));
    } else if args.dry_run {
        println!("would remove {} from {namespace}", crate::entries(n as u64));
    } else {
        println!("removed {} from {namespace}", crate::entries(n as u64));
    }
    Ok(Outcome::Ok)
}
