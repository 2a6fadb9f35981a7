//! `permacache gc NS|--all --older-than 30d | --stale-versions [--dry-run]`:
//! removes entries written before a time, or under an older namespace
//! version than the newest one present (or than `--keep-version`), and says
//! how much it freed.

use permacache::store::Record;
use serde_json::json;

use crate::list::bytes_on_disk;
use crate::{Ctx, Outcome, progress};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true)))]
pub struct Args {
    /// The namespace path
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    namespace: Option<String>,
    /// Every namespace under the store root
    #[arg(long)]
    all: bool,
    /// Say what would be removed, and remove nothing
    #[arg(long)]
    dry_run: bool,
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
    let names = match &args.namespace {
        Some(name) => vec![name.clone()],
        None => ctx.namespaces(Vec::new())?,
    };
    let mut rows = Vec::new();
    for name in &names {
        rows.push(gc_one(ctx, &args, name)?);
    }
    if ctx.json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({"namespace": r.name, "removed": r.removed, "bytes": r.bytes,
                       "left": r.left, "file_bytes": r.file_bytes, "dry_run": args.dry_run})
            })
            .collect();
        ctx.print_json(&json!(list));
    } else {
        for r in &rows {
            let verb = if args.dry_run {
                "would remove"
            } else {
                "removed"
            };
            println!(
                "{}: {verb} {} entries ({} bytes of records), {} left",
                r.name, r.removed, r.bytes, r.left
            );
            if !args.dry_run && r.removed > 0 {
                println!(
                    "  their pages are free for new entries; the file keeps its {} bytes until `permacache compact {}`",
                    r.file_bytes, r.name
                );
            }
        }
    }
    Ok(Outcome::Ok)
}

/// What gc did (or would do) to one namespace.
struct Row {
    name: String,
    removed: usize,
    bytes: u64,
    left: usize,
    file_bytes: u64,
}

fn gc_one(ctx: &Ctx, args: &Args, name: &str) -> anyhow::Result<Row> {
    let ns = ctx.open(name)?;
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
    let mut doomed: Vec<[u8; 16]> = Vec::new();
    let mut bytes = 0u64;
    ns.for_each_raw(|hash, record| {
        bar.inc(1);
        if let Ok(r) = Record::parse(record) {
            let old = args
                .older_than
                .is_some_and(|secs| now_ms.saturating_sub(r.header.written_at_ms) > secs * 1000);
            let stale = args.stale_versions && r.header.namespace_version != keep_version;
            if (old || stale)
                && let Ok(hash) = hash.try_into()
            {
                doomed.push(hash);
                bytes += record.len() as u64;
            }
        }
        true
    })?;
    bar.finish_and_clear();
    let removed = if args.dry_run {
        doomed.len()
    } else {
        ns.remove_many_raw(&doomed)?
    };
    let total = ns.len()?;
    Ok(Row {
        name: name.to_string(),
        removed,
        bytes,
        left: if args.dry_run { total - removed } else { total },
        file_bytes: bytes_on_disk(&ns.dir().join("data.mdb")),
    })
}
