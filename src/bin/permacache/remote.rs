//! `permacache push NS`, `permacache pull NS` and `permacache remote NS`:
//! copy a namespace between the local store and the shared tiers (a Redis
//! server or cluster, an S3-compatible object store), or list what they
//! hold of it.
//!
//! A push writes every local record where a program would (with both
//! tiers, records of `objects_min_size` and more to the object store),
//! signed with `PERMACACHE_REMOTE_SECRET` when set. Redis replaces what is
//! under the same key (same key, version and body: the same value); the
//! object store keeps an object already there. A pull adds every remote
//! record the local store lacks, and replaces a local record only with a
//! newer one of the same version; a remote value that is not a well-formed
//! record of its name, or not signed with this machine's secret, is skipped
//! and counted. Skipped records or cluster masters make the command exit 1.

use crate::{Ctx, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// The namespace path
    namespace: String,
    /// Redis: redis://host:port/db, or a comma-separated list of cluster
    /// nodes [default: $PERMACACHE_REMOTE]
    #[arg(long, value_name = "ADDRESS")]
    remote: Option<String>,
    /// The object store: s3://bucket/prefix [default: $PERMACACHE_OBJECTS]
    #[arg(long, value_name = "ADDRESS")]
    objects: Option<String>,
}

/// The shared tiers a `forget` reaches, besides the local store.
#[derive(clap::Args)]
pub struct TierArgs {
    /// Redis too: redis://host:port/db, or a comma-separated list of
    /// cluster nodes [default: $PERMACACHE_REMOTE]
    #[arg(long, value_name = "ADDRESS")]
    remote: Option<String>,
    /// The object store too: s3://bucket/prefix [default: $PERMACACHE_OBJECTS]
    #[arg(long, value_name = "ADDRESS")]
    objects: Option<String>,
}

/// Removes the records of `keys` (each a record's identity and canonical
/// key) from the shared tiers named, if any; their labels.
#[cfg(not(any(feature = "redis", feature = "s3")))]
pub fn forget(
    _tiers: &TierArgs,
    _namespace: &str,
    _records: &[(permacache::admin::Identity, Vec<u8>)],
) -> anyhow::Result<Option<String>> {
    Ok(None)
}

#[cfg(not(any(feature = "redis", feature = "s3")))]
pub fn push(_ctx: &Ctx, _args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!(
        "this permacache was built without the `redis` and `s3` features; install it with `cargo install permacache --features redis,s3`"
    )
}

#[cfg(not(any(feature = "redis", feature = "s3")))]
pub fn pull(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    push(ctx, args)
}

#[cfg(not(any(feature = "redis", feature = "s3")))]
pub fn list(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    push(ctx, args)
}

#[cfg(any(feature = "redis", feature = "s3"))]
pub use with_remotes::{forget, list, pull, push};

#[cfg(any(feature = "redis", feature = "s3"))]
mod with_remotes {
    use std::time::Duration;

    use permacache::admin::{Namespace, Record, split_portable};
    use permacache::remote::seal::{Rejected, env_secret, seal, unseal};
    use permacache::remote::{RemoteError, record_key};
    use serde_json::json;

    use super::*;

    /// How long one bulk operation may take, or stall.
    const TIMEOUT: Duration = Duration::from_secs(10);

    /// One shared tier the command works on.
    enum Tier {
        #[cfg(feature = "redis")]
        Redis(&'static permacache::remote::Remote),
        #[cfg(feature = "s3")]
        Objects(&'static permacache::remote::Objects),
    }

    /// What one tier holds of a namespace: each record's key (which its
    /// seal binds) and sealed value, and the cluster masters not read.
    type Held = (Vec<(String, Option<Vec<u8>>)>, Vec<String>);

    impl Tier {
        fn label(&self) -> &str {
            match self {
                #[cfg(feature = "redis")]
                Tier::Redis(r) => r.label(),
                #[cfg(feature = "s3")]
                Tier::Objects(o) => o.label(),
            }
        }

        /// The names of a namespace's records here: Redis keys, or object
        /// names.
        fn names(&self, namespace: &str) -> Result<(Vec<String>, Vec<String>), RemoteError> {
            match self {
                #[cfg(feature = "redis")]
                Tier::Redis(r) => r.keys_with_prefix(&format!("permacache:{namespace}:")),
                #[cfg(feature = "s3")]
                Tier::Objects(o) => Ok((o.list(&format!("permacache/{namespace}/"))?, vec![])),
            }
        }

        /// Every record of a namespace here, under its record key.
        fn read(&self, namespace: &str) -> Result<Held, RemoteError> {
            let (names, skipped) = self.names(namespace)?;
            match self {
                #[cfg(feature = "redis")]
                Tier::Redis(r) => {
                    let values = r.fetch(&names)?;
                    Ok((names.into_iter().zip(values).collect(), skipped))
                }
                #[cfg(feature = "s3")]
                Tier::Objects(o) => {
                    let mut out = Vec::new();
                    for name in names {
                        // A name that is not a record's is kept as is: it
                        // fails the checks below and is counted.
                        let key = permacache::remote::key_of_object(namespace, &name)
                            .unwrap_or(name.clone());
                        out.push((key, o.fetch(&name)?));
                    }
                    Ok((out, skipped))
                }
            }
        }

        /// Writes sealed records: `(record key, object name, value)`.
        fn write(&self, records: &[(String, String, Vec<u8>)]) -> Result<(), RemoteError> {
            match self {
                #[cfg(feature = "redis")]
                Tier::Redis(r) => {
                    let entries: Vec<(String, Vec<u8>)> = records
                        .iter()
                        .map(|(key, _, value)| (key.clone(), value.clone()))
                        .collect();
                    r.push(&entries)
                }
                #[cfg(feature = "s3")]
                Tier::Objects(o) => {
                    for (_, name, value) in records {
                        o.store(name, value)?;
                    }
                    Ok(())
                }
            }
        }

        /// Whether a record of `len` bytes goes here, with `both` tiers.
        fn takes(&self, len: usize, both: bool) -> bool {
            match self {
                #[cfg(feature = "redis")]
                Tier::Redis(_) => {
                    len <= permacache::remote::MAX_VALUE
                        && (!both || len < permacache::remote::DEFAULT_OBJECTS_MIN_SIZE as usize)
                }
                #[cfg(feature = "s3")]
                Tier::Objects(_) => {
                    !both || len >= permacache::remote::DEFAULT_OBJECTS_MIN_SIZE as usize
                }
            }
        }
    }

    /// The tiers the arguments or the environment name.
    fn tiers(args: &Args) -> anyhow::Result<Vec<Tier>> {
        let tiers = named(args.remote.clone(), args.objects.clone())?;
        if tiers.is_empty() {
            anyhow::bail!(
                "no shared tier: pass --remote redis://host:port/db or --objects s3://bucket/prefix, or set PERMACACHE_REMOTE or PERMACACHE_OBJECTS"
            );
        }
        Ok(tiers)
    }

    /// Removes the records of `keys` (each a record's identity and
    /// canonical key) from the shared tiers named, if any; their labels.
    pub fn forget(
        args: &TierArgs,
        namespace: &str,
        records: &[(permacache::admin::Identity, Vec<u8>)],
    ) -> anyhow::Result<Option<String>> {
        let tiers = named(args.remote.clone(), args.objects.clone())?;
        if tiers.is_empty() {
            return Ok(None);
        }
        for tier in &tiers {
            match tier {
                #[cfg(feature = "redis")]
                Tier::Redis(r) => r.remove(
                    &records
                        .iter()
                        .map(|(h, k)| record_key(namespace, h, k))
                        .collect::<Vec<_>>(),
                )?,
                #[cfg(feature = "s3")]
                Tier::Objects(o) => {
                    for (h, k) in records {
                        o.remove(&permacache::remote::object_name(namespace, h, k))?;
                    }
                }
            }
        }
        Ok(Some(labels(&tiers)))
    }

    /// The tiers named by addresses or, without them, the environment.
    fn named(redis: Option<String>, objects: Option<String>) -> anyhow::Result<Vec<Tier>> {
        let mut tiers = Vec::new();
        let redis = redis.or_else(|| permacache::remote::env_address().map(str::to_string));
        let objects = objects.or_else(|| permacache::remote::env_objects().map(str::to_string));
        if let Some(spec) = redis {
            #[cfg(feature = "redis")]
            tiers.push(Tier::Redis(permacache::remote::Remote::open(
                &spec,
                TIMEOUT,
                permacache::remote::env_ca().map(std::path::Path::new),
            )?));
            #[cfg(not(feature = "redis"))]
            anyhow::bail!(
                "Redis remote {spec:?} asked for, but this permacache was built without the `redis` feature"
            );
        }
        if let Some(spec) = objects {
            #[cfg(feature = "s3")]
            tiers.push(Tier::Objects(permacache::remote::Objects::open(
                &spec, TIMEOUT,
            )?));
            #[cfg(not(feature = "s3"))]
            anyhow::bail!(
                "object store {spec:?} asked for, but this permacache was built without the `s3` feature"
            );
        }
        Ok(tiers)
    }

    fn labels(tiers: &[Tier]) -> String {
        tiers
            .iter()
            .map(Tier::label)
            .collect::<Vec<_>>()
            .join(" and ")
    }

    pub fn push(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
        let tiers = tiers(&args)?;
        let both = tiers.len() > 1;
        let ns = ctx.open(&args.namespace)?;
        let identities = ns.identities()?;
        let mut routed: Vec<Vec<(String, String, Vec<u8>)>> =
            tiers.iter().map(|_| Vec::new()).collect();
        let (mut pushed, mut unreadable, mut too_big) = (0usize, 0usize, 0usize);
        ns.for_each_raw(|_, bytes| {
            // A record whose identity the store does not hold cannot travel
            // (the remote's copy would say nothing of where it belongs).
            let parsed = Record::parse(bytes)
                .ok()
                .and_then(|r| Some((r, identities.get(&r.header.identity)?)));
            match parsed {
                Some((r, identity)) => {
                    match tiers.iter().position(|t| t.takes(bytes.len(), both)) {
                        Some(at) => {
                            let key = record_key(&args.namespace, identity, r.key);
                            let name =
                                permacache::remote::object_name(&args.namespace, identity, r.key);
                            let value = seal(&key, &[&identity.to_bytes(), bytes], env_secret());
                            routed[at].push((key, name, value));
                            pushed += 1;
                        }
                        None => too_big += 1,
                    }
                }
                None => unreadable += 1,
            }
            true
        })?;
        for (tier, records) in tiers.iter().zip(&routed) {
            tier.write(records)?;
        }
        if ctx.json {
            ctx.print_json(&json!({
                "namespace": args.namespace, "remote": labels(&tiers),
                "pushed": pushed, "unreadable": unreadable, "too_big": too_big,
                "signed": env_secret().is_some()
            }));
        } else {
            println!(
                "pushed {} of {} to {}{}{}{}",
                crate::entries(pushed as u64),
                args.namespace,
                labels(&tiers),
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
        let tiers = tiers(&args)?;
        let ns = Namespace::open(&ctx.root, &args.namespace)?;
        let (mut fresh, mut current, mut invalid, mut rejected, mut other_version) =
            (Vec::new(), 0usize, 0usize, 0usize, 0usize);
        let mut masters_skipped = Vec::new();
        let mut taken = std::collections::HashSet::new();
        for tier in &tiers {
            let (held, skipped_here) = tier.read(&args.namespace)?;
            masters_skipped.extend(skipped_here);
            for (key, value) in held {
                // Gone between the listing and the read: nothing to copy.
                let Some(value) = value else { continue };
                let portable = match unseal(&key, &value, env_secret()) {
                    Ok(portable) => portable,
                    Err(Rejected::OtherFormat) => {
                        invalid += 1;
                        continue;
                    }
                    Err(_) => {
                        rejected += 1;
                        continue;
                    }
                };
                let Ok((identity, bytes)) = split_portable(portable) else {
                    invalid += 1;
                    continue;
                };
                let Ok(record) = Record::parse(bytes) else {
                    invalid += 1;
                    continue;
                };
                if record_key(&args.namespace, &identity, record.key) != key {
                    invalid += 1;
                    continue;
                }
                let hash = permacache::admin::key_hash(identity.owner, record.key);
                if !taken.insert(hash) {
                    // In both tiers: one copy is enough.
                    continue;
                }
                // A local record of another version is kept: which version
                // the programs here run is theirs to say, not the remote's.
                let local = ns.get_raw(&hash)?;
                let local = local
                    .as_deref()
                    .and_then(|l| Record::parse(l).ok().map(|r| r.header));
                let local_version = match local {
                    Some(l) => ns.identity(l.identity)?.map(|i| i.namespace_version),
                    None => None,
                };
                match local {
                    Some(_) if local_version.is_some_and(|v| v != identity.namespace_version) => {
                        other_version += 1
                    }
                    Some(l) if l.written_at_ms >= record.header.written_at_ms => current += 1,
                    _ => {
                        ns.know(&identity);
                        fresh.push((hash, bytes.to_vec()));
                    }
                }
            }
        }
        ns.put_many_raw(fresh.iter().map(|(h, r)| (h, r.as_slice())))?;
        if ctx.json {
            ctx.print_json(&json!({
                "namespace": args.namespace, "remote": labels(&tiers),
                "pulled": fresh.len(), "up_to_date": current, "invalid": invalid,
                "rejected": rejected, "kept_other_version": other_version,
                "masters_skipped": masters_skipped
            }));
        } else {
            println!(
                "pulled {} of {} from {} ({current} already up to date, {other_version} kept as a local record of another version){}{}",
                crate::entries(fresh.len() as u64),
                args.namespace,
                labels(&tiers),
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

    /// `permacache remote NS`: the names of the namespace's records in each
    /// tier.
    pub fn list(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
        let tiers = tiers(&args)?;
        let mut listed = Vec::new();
        let mut problems = false;
        for tier in &tiers {
            let (mut names, skipped) = tier.names(&args.namespace)?;
            names.sort();
            problems |= !skipped.is_empty();
            listed.push((tier.label().to_string(), names, skipped));
        }
        if ctx.json {
            let tiers: Vec<_> = listed
                .iter()
                .map(|(label, names, skipped)| {
                    json!({"remote": label, "records": names, "masters_skipped": skipped})
                })
                .collect();
            ctx.print_json(&json!({"namespace": args.namespace, "tiers": tiers}));
        } else {
            for (label, names, skipped) in &listed {
                println!(
                    "{label}: {} of {}",
                    crate::entries(names.len() as u64),
                    args.namespace
                );
                for name in names {
                    println!("  {name}");
                }
                for master in skipped {
                    println!("skipped cluster master {master}: its entries were not listed");
                }
            }
        }
        Ok(if problems {
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
