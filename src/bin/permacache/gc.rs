//! `permacache gc NS|--all --older-than 30d | --stale-versions | --max-size
//! 20GB [--dry-run]`: removes entries written before a time, under an older
//! namespace version than the newest one present (or than `--keep-version`),
//! or the least recently used beyond a size (of the namespace, or with
//! `--all` of the whole store); then compacts what it removed from, and says
//! how much it freed and whether the file shrank.
//!
//! The removal runs in a child process (`__gc-work`): a process that has a
//! namespace open keeps it from being compacted, this one included.

use permacache::admin::Record;
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
    /// Remove the least recently used entries until the namespace (with
    /// --all: the whole store) takes at most this on disk (20GB, 512MiB)
    #[arg(long, value_name = "SIZE", group = "what", value_parser = parse_size)]
    max_size: Option<u64>,
}

fn parse_age(s: &str) -> Result<u64, permacache::config::BadValue> {
    permacache::config::parse_duration(s)
}

fn parse_size(s: &str) -> Result<u64, permacache::config::BadValue> {
    permacache::config::parse_size(s)
}

/// Bytes of a namespace folder's files other than `data.mdb` (locks, the
/// recency log, shapes).
fn overhead(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name() != "data.mdb" && e.path().is_file())
                .map(|e| bytes_on_disk(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

/// The removals `--max-size` asks for, per namespace (entries, bytes).
fn evict(ctx: &Ctx, args: &Args, names: &[String], size: u64) -> anyhow::Result<Vec<(usize, u64)>> {
    if args.namespace.is_some() {
        let ns = ctx.open(&names[0])?;
        let room = size.saturating_sub(overhead(ns.dir()));
        return Ok(vec![ns.evict_to(room, args.dry_run)?]);
    }
    // The whole store: one recency order across namespaces. Each entry's
    // bytes are scaled to its namespace's pages, and the newest kept until
    // the room is full; the rest, used at or before the cut, go.
    let mut open = Vec::new();
    let mut uses: Vec<(u64, f64)> = Vec::new();
    let mut room = size as f64;
    for name in names {
        let ns = ctx.open(name)?;
        let (mine, live) = ns.last_uses()?;
        let total: u64 = mine.iter().map(|(_, b)| b).sum();
        let scale = if total == 0 {
            1.0
        } else {
            live as f64 / total as f64
        };
        uses.extend(mine.iter().map(|&(at, b)| (at, b as f64 * scale)));
        room -= overhead(ns.dir()) as f64;
        open.push(ns);
    }
    uses.sort_by_key(|u| std::cmp::Reverse(u.0));
    let mut kept = 0.0;
    let cut = uses.iter().find_map(|&(at, bytes)| {
        kept += bytes;
        (kept > room).then_some(at)
    });
    open.iter()
        .map(|ns| match cut {
            Some(at) => Ok(ns.evict_used_before(at, args.dry_run)?),
            None => Ok((0, 0)),
        })
        .collect()
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let rows = if args.dry_run {
        work(ctx, &args)?
    } else {
        let rows = work_in_child(ctx)?;
        rows.into_iter()
            .map(|row| compact_after(ctx, row))
            .collect()
    };
    if ctx.json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({"namespace": r.name, "removed": r.removed, "bytes": r.bytes,
                       "left": r.left, "file_bytes": r.file_bytes, "dry_run": args.dry_run,
                       "file_before": r.file_before, "compacted": r.compacted.is_ok(),
                       "not_compacted_because": r.compacted.as_ref().err()})
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
                "{}: {verb} {} ({} bytes), {} left",
                r.name,
                crate::entries(r.removed as u64),
                r.bytes,
                r.left
            );
            if args.dry_run || r.removed == 0 {
                continue;
            }
            match &r.compacted {
                Ok(()) => println!(
                    "  the file shrank from {} to {} bytes",
                    r.file_before, r.file_bytes
                ),
                Err(why) => println!(
                    "  the file keeps its {} bytes ({why}); its free pages take new entries, and `permacache compact {}` gives them back",
                    r.file_bytes, r.name
                ),
            }
        }
    }
    Ok(Outcome::Ok)
}

/// `__gc-work`: the removals, printed as JSON for the parent.
pub fn run_work(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let rows = work(ctx, &args)?;
    let list: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({"namespace": r.name, "removed": r.removed, "bytes": r.bytes,
                   "left": r.left, "file_bytes": r.file_bytes})
        })
        .collect();
    println!("{}", json!(list));
    Ok(Outcome::Ok)
}

/// Runs this command's removals in a child process (the same arguments,
/// `gc` replaced by `__gc-work`) and reads its rows.
fn work_in_child(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let at = (0..argv.len())
        .position(|i| argv[i] == "gc" && (i == 0 || argv[i - 1] != "--dir"))
        .ok_or_else(|| anyhow::anyhow!("cannot find the gc command in the arguments"))?;
    argv[at] = "__gc-work".into();
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(&argv)
        .env("PERMACACHE_DIR", &ctx.root)
        .stdin(std::process::Stdio::null())
        .output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err
            .lines()
            .filter(|l| !l.starts_with("permacache: store root"))
            .collect::<Vec<_>>()
            .join("\n");
        let json: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
        match json.as_ref().and_then(|j| j["error"].as_str()) {
            Some(e) => anyhow::bail!("{e}"),
            None => anyhow::bail!("{}", err.trim().trim_start_matches("error: ")),
        }
    }
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let rows = rows.as_array().cloned().unwrap_or_default();
    Ok(rows
        .iter()
        .map(|r| Row {
            name: r["namespace"].as_str().unwrap_or_default().to_string(),
            removed: r["removed"].as_u64().unwrap_or(0) as usize,
            bytes: r["bytes"].as_u64().unwrap_or(0),
            left: r["left"].as_u64().unwrap_or(0) as usize,
            file_bytes: r["file_bytes"].as_u64().unwrap_or(0),
            file_before: r["file_bytes"].as_u64().unwrap_or(0),
            compacted: Err("not compacted".into()),
        })
        .collect())
}

/// Compacts a namespace gc removed entries from, when no process has it
/// open.
fn compact_after(ctx: &Ctx, mut row: Row) -> Row {
    if row.removed == 0 {
        return row;
    }
    match permacache::admin::compact(&ctx.root, &row.name) {
        Ok(done) => {
            row.file_before = done.before;
            row.file_bytes = done.after;
            row.compacted = Ok(());
        }
        Err(permacache::admin::AdminError::InUse { .. }) => {
            row.compacted = Err("another process has it open".into());
        }
        Err(e) => row.compacted = Err(format!("not compacted: {e}")),
    }
    row
}

/// The removals, in this process.
fn work(ctx: &Ctx, args: &Args) -> anyhow::Result<Vec<Row>> {
    let names = match &args.namespace {
        Some(name) => vec![name.clone()],
        None => ctx.namespaces(Vec::new())?,
    };
    let evicted = match args.max_size {
        Some(size) => evict(ctx, args, &names, size)?,
        None => vec![(0, 0); names.len()],
    };
    let mut rows = Vec::new();
    for (name, (n, bytes)) in names.iter().zip(evicted) {
        let mut row = if args.older_than.is_some() || args.stale_versions {
            gc_one(ctx, args, name)?
        } else {
            let ns = ctx.open(name)?;
            let total = ns.len()?;
            Row {
                name: name.clone(),
                removed: 0,
                bytes: 0,
                left: total,
                file_bytes: bytes_on_disk(&ns.dir().join("data.mdb")),
                file_before: 0,
                compacted: Err(String::new()),
            }
        };
        row.removed += n;
        row.bytes += bytes;
        if args.dry_run {
            row.left = row.left.saturating_sub(n);
        }
        rows.push(row);
    }
    Ok(rows)
}

/// What gc did (or would do) to one namespace.
struct Row {
    name: String,
    removed: usize,
    bytes: u64,
    left: usize,
    /// The data file's bytes on disk (after compaction, when it ran).
    file_bytes: u64,
    /// The data file's bytes on disk before compaction.
    file_before: u64,
    /// Whether compaction ran, or why not.
    compacted: Result<(), String>,
}

fn gc_one(ctx: &Ctx, args: &Args, name: &str) -> anyhow::Result<Row> {
    let ns = ctx.open(name)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let identities = ns.identities()?;
    let version_of = |r: &Record<'_>| {
        identities
            .get(&r.header.identity)
            .map(|i| i.namespace_version)
    };
    let mut newest = 0;
    if args.stale_versions && args.keep_version.is_none() {
        ns.for_each_raw(|_, bytes| {
            if let Some(version) = Record::parse(bytes).ok().as_ref().and_then(version_of) {
                newest = newest.max(version);
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
            // A record whose identity the store does not hold is never
            // served: stale whatever its version was.
            let stale = args.stale_versions && version_of(&r) != Some(keep_version);
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
        file_before: 0,
        compacted: Err(String::new()),
    })
}
