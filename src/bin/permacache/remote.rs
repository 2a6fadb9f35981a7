//! `permacache push NS` and `permacache pull NS`: copy a namespace between
//! the local store and the shared tier (a Redis server or cluster).
//!
//! A push writes every local record to the remote, replacing what is there
//! under the same Redis key (same key, version and body: the same value). A
//! pull adds every remote record the local store lacks, and replaces a local
//! record only with a newer one; a remote value that is not a well-formed
//! record of its Redis key is skipped and counted.

use crate::{Ctx, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// The namespace path
    namespace: String,
    /// The remote: redis://host:port/db, or a comma-separated list of cluster
    /// nodes [default: $PERMACACHE_REMOTE]
    #[arg(long, value_name = "ADDRESS")]
    remote: Option<String>,
}

#[cfg(not(feature = "redis"))]
pub fn push(_ctx: &Ctx, _args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!(
        "this permacache was built without the `redis` feature; install it with `cargo install permacache --features redis`"
    )
}

#[cfg(not(feature = "redis"))]
pub fn pull(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    push(ctx, args)
}

#[cfg(feature = "redis")]
pub use with_redis::{pull, push};

#[cfg(feature = "redis")]
mod with_redis {
    use std::time::Duration;

    use permacache::remote::{Remote, env_address, record_key};
    use permacache::store::{Namespace, Record};
    use serde_json::json;

    use super::*;

    /// How long one bulk operation may take.
    const TIMEOUT: Duration = Duration::from_secs(10);

    fn remote(args: &Args) -> anyhow::Result<&'static Remote> {
        let spec = match &args.remote {
            Some(spec) => spec.clone(),
            None => env_address().map(str::to_string).ok_or_else(|| {
                anyhow::anyhow!(
                    "no remote: pass --remote redis://host:port/db or set PERMACACHE_REMOTE"
                )
            })?,
        };
        Ok(Remote::open(&spec, TIMEOUT)?)
    }

    pub fn push(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
        let remote = remote(&args)?;
        let ns = ctx.open(&args.namespace)?;
        let mut entries = Vec::new();
        let mut unreadable = 0usize;
        ns.for_each_raw(|_, bytes| {
            match Record::parse(bytes) {
                Ok(r) => entries.push((
                    record_key(&args.namespace, &r.header, r.key),
                    bytes.to_vec(),
                )),
                Err(_) => unreadable += 1,
            }
            true
        })?;
        remote.push(&entries)?;
        if ctx.json {
            ctx.print_json(&json!({
                "namespace": args.namespace, "remote": remote.label(),
                "pushed": entries.len(), "unreadable": unreadable
            }));
        } else {
            println!(
                "pushed {} entries of {} to {}{}",
                entries.len(),
                args.namespace,
                remote.label(),
                skipped(unreadable, "unreadable local")
            );
        }
        Ok(Outcome::Ok)
    }

    pub fn pull(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
        let remote = remote(&args)?;
        let keys = remote.keys_with_prefix(&format!("permacache:{}:", args.namespace))?;
        let values = remote.fetch(&keys)?;
        let ns = Namespace::open(&ctx.root, &args.namespace)?;
        let (mut fresh, mut current, mut invalid) = (Vec::new(), 0usize, 0usize);
        for (key, value) in keys.iter().zip(values) {
            // Gone between the scan and the read: nothing to copy.
            let Some(bytes) = value else { continue };
            let Ok(record) = Record::parse(&bytes) else {
                invalid += 1;
                continue;
            };
            if record_key(&args.namespace, &record.header, record.key) != *key {
                invalid += 1;
                continue;
            }
            let hash = permacache::store::key_hash(record.header.owner, record.key);
            let newer = match ns.get_raw(&hash)? {
                Some(local) => Record::parse(&local).map_or(true, |l| {
                    l.header.written_at_ms < record.header.written_at_ms
                }),
                None => true,
            };
            if newer {
                fresh.push((hash, bytes));
            } else {
                current += 1;
            }
        }
        ns.put_many_raw(fresh.iter().map(|(h, r)| (h, r.as_slice())))?;
        if ctx.json {
            ctx.print_json(&json!({
                "namespace": args.namespace, "remote": remote.label(),
                "pulled": fresh.len(), "up_to_date": current, "invalid": invalid
            }));
        } else {
            println!(
                "pulled {} entries of {} from {} ({current} already up to date){}",
                fresh.len(),
                args.namespace,
                remote.label(),
                skipped(invalid, "invalid remote")
            );
        }
        Ok(if invalid > 0 {
            Outcome::Problems
        } else {
            Outcome::Ok
        })
    }

    fn skipped(n: usize, what: &str) -> String {
        if n == 0 {
            String::new()
        } else {
            format!("; skipped {n} {what} records")
        }
    }
}
