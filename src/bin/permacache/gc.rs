//! `permacache gc NS --older-than 30d | --stale-versions`: removes entries
//! written before a time, or under an older namespace version than the
//! newest one present (or than `--keep-version`).

use permacache::store::Record;
use serde_json::json;

use crate::{Ctx, Outcome, progress};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true)))]
pub struct Args {
    /// The namespace path
    namespace: String,
    /// Remove entries written longer ago than this (45s, 15m, 12h, 30d, 2w)
    #[arg(long, value_name = "AGE", group = "what", value_parser = parse_age)]
    older_than: Option<u64>,
    /// Remove entries written under an older version than the newest present
    #[arg(long, group = "what")]
    stale_versions: bool,
    /// With --stale-versions: the version to keep, instead of the newest present
    #[arg(long, value_name = "N", requires = "stale_versions")]
    keep_version: Option<u32>,
}

fn parse_age(s: &str) -> Result<u64, String> {
    permacache::config::parse_duration(s)
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let ns = ctx.open(&args.namespace)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut newest = 0;
    if args.stale_versions && args.keep_version.is_none() {
        ns.for_each_raw(|_, bytes| {
            if let Ok(r) = Record::parse(bytes) {
                newest = newest.max(r.header.namespace_version);
            }
            true
        })?;
    }
    let keep_version = args.keep_version.unwrap_or(newest);
    let bar = progress(ctx, ns.len()? as u64, "scanning");
    let mut doomed = Vec::new();
    ns.for_each_raw(|hash, bytes| {
        bar.inc(1);
        if let Ok(r) = Record::parse(bytes) {
            let old = args
                .older_than
                .is_some_and(|secs| now_ms.saturating_sub(r.header.written_at_ms) > secs * 1000);
            let stale = args.stale_versions && r.header.namespace_version != keep_version;
            if old || stale {
                doomed.push(hash.try_into().expect("16-byte keys"));
            }
        }
        true
    })?;
    bar.finish_and_clear();
    let removed = ns.remove_many_raw(&doomed)?;
    let left = ns.len()?;
    if ctx.json {
        ctx.print_json(&json!({"namespace": args.namespace, "removed": removed, "left": left}));
    } else {
        println!(
            "removed {removed} entries from {}, {left} left",
            args.namespace
        );
    }
    Ok(Outcome::Ok)
}
