//! `permacache push NS` and `permacache pull NS`: copy a namespace between
//! the local store and the shared tier (a Redis server or cluster).
//!
//! A push writes every local record to the remote (signed with
//! `PERMACACHE_REMOTE_SECRET` when set), replacing what is there under the
//! same Redis key (same key, version and body: the same value). A pull adds
//! every remote record the local store lacks, and replaces a local record
//! only with a newer one of the same version; a remote value that is not a
//! well-formed record of its Redis key, or not signed with this machine's
//! secret, is skipped and counted. Skipped records or cluster masters make
//! the command exit 1.

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

    use permacache::admin::{Namespace, Record};
    use permacache::remote::seal::{Rejected, env_secret, seal, unseal};
    use permacache::remote::{Remote, env_address, record_key};
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
        Ok(Remote::open(
            &spec,
            TIMEOUT,
            permacache::remote::env_ca().map(std::path::Path::new),
        )?)
    }

    pub fn push(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
        let remote = remote(&args)?;
        let ns = ctx.open(&args.namespace)?;
        let mut entries = Vec::new();
        let (mut unreadable, mut too_big) = (0usize, 0usize);
        ns.for_each_raw(|_, bytes| {
            match Record::parse(bytes) {
                Ok(_) if bytes.len() > permacache::remote::MAX_VALUE => too_big += 1,
                Ok(r) => {
                    let key = record_key(&args.namespace, &r.header, r.key);
                    let value = seal(&key, bytes, env_secret());
                    entries.push((key, value));
                }
                Err(_) => unreadable += 1,
            }
            true
        })?;
        remote.push(&entries)?;
        if ctx.json {
            ctx.print_json(&json!({
                "namespace": args.namespace, "remote": remote.label(),
                "pushed": entries.len(), "unreadable": unreadable, "too_big": too_big,
                "signed": env_secret().is_some()
            }));
        } else {
            println!(
                "pushed {} of {} to {}{}{}{}",
                crate::entries(entries.len() as u64),
                args.namespace,
                remote.label(),
                if env_secret().is_some() {
                    ", signed"
                } else {
                    ""
                },
                skipped(unreadable, "unreadable local"),
                skipped(too_big, "local (over Redis's 512 MB limit for one value)")
            );
        }
        Ok(if too_big > 0 {
            Outcome::Problems
        } else {
            Outcome::Ok
        })
    }

    pub fn pull(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
        let remote = remote(&args)?;
        let (keys, masters_skipped) =
            remote.keys_with_prefix(&format!("permacache:{}:", args.namespace))?;
        let values = remote.fetch(&keys)?;
        let ns = Namespace::open(&ctx.root, &args.namespace)?;
        let (mut fresh, mut current, mut invalid, mut rejected, mut other_version) =
            (Vec::new(), 0usize, 0usize, 0usize, 0usize);
        for (key, value) in keys.iter().zip(values) {
            // Gone between the scan and the read: nothing to copy.
            let Some(value) = value else { continue };
            let bytes = match unseal(key, &value, env_secret()) {
                Ok(record) => record.to_vec(),
                Err(Rejected::OtherFormat) => {
                    invalid += 1;
                    continue;
                }
                Err(_) => {
                    rejected += 1;
                    continue;
                }
            };
            let Ok(record) = Record::parse(&bytes) else {
                invalid += 1;
                continue;
            };
            if record_key(&args.namespace, &record.header, record.key) != *key {
                invalid += 1;
                continue;
            }
            let hash = permacache::admin::key_hash(record.header.owner, record.key);
            // A local record of another version is kept: which version the
            // programs here run is theirs to say, not the remote's.
            let local = ns.get_raw(&hash)?;
            let local = local
                .as_deref()
                .and_then(|l| Record::parse(l).ok().map(|r| r.header));
            match local {
                Some(l) if l.namespace_version != record.header.namespace_version => {
                    other_version += 1
                }
                Some(l) if l.written_at_ms >= record.header.written_at_ms => current += 1,
                _ => fresh.push((hash, bytes)),
            }
        }
        ns.put_many_raw(fresh.iter().map(|(h, r)| (h, r.as_slice())))?;
        if ctx.json {
            ctx.print_json(&json!({
                "namespace": args.namespace, "remote": remote.label(),
                "pulled": fresh.len(), "up_to_date": current, "invalid": invalid,
                "rejected": rejected, "kept_other_version": other_version,
                "masters_skipped": masters_skipped
            }));
        } else {
            println!(
                "pulled {} of {} from {} ({current} already up to date, {other_version} kept as a local record of another version){}{}",
                crate::entries(fresh.len() as u64),
                args.namespace,
                remote.label(),
                skipped(invalid, "invalid remote"),
                skipped(
                    rejected,
                    "remote (unsigned or not signed with PERMACACHE_REMOTE_SECRET)"
                )
            );
            for master in &masters_skipped {
                println!("skipped cluster master {master}: its entries were not pulled");
            }
        }
        Ok(
            if invalid > 0 || rejected > 0 || !masters_skipped.is_empty() {
                Outcome::Problems
            } else {
                Outcome::Ok
            },
        )
    }

    fn skipped(n: usize, what: &str) -> String {
        if n == 0 {
            String::new()
        } else {
            format!("; skipped {n} {what} records")
        }
    }
}
