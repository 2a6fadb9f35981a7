//! `permacache compact [NS..]`: rewrites each namespace's file without its
//! free pages. The file is replaced, so no other process may have it open:
//! on Linux that is checked, elsewhere `--force` says you checked.

use serde_json::json;

use crate::list::bytes_on_disk;
use crate::{Ctx, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// The namespaces to compact [default: all]
    namespaces: Vec<String>,
    /// Compact without checking that no other process has the store open
    #[arg(long)]
    force: bool,
}

/// Other processes that map `file`, by pid (Linux).
fn users_of(file: &std::path::Path) -> Option<Vec<u32>> {
    let target = file.canonicalize().ok()?;
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(maps) = std::fs::read_to_string(entry.path().join("maps"))
            && maps
                .lines()
                .any(|l| l.ends_with(target.to_str().unwrap_or("\0")))
        {
            pids.push(pid);
        }
    }
    Some(pids)
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let names = ctx.namespaces(args.namespaces)?;
    let mut rows = Vec::new();
    for name in &names {
        let ns = ctx.open(name)?;
        let data = ns.dir().join("data.mdb");
        if !args.force {
            match users_of(&data) {
                Some(pids) if pids.is_empty() => {}
                Some(pids) => anyhow::bail!(
                    "{name} is open in other processes ({pids:?}); stop them first (nothing compacted from here on)"
                ),
                None => anyhow::bail!(
                    "cannot check that no other process has {name} open on this system; stop them and use --force"
                ),
            }
        }
        let before = bytes_on_disk(&data);
        let tmp = ns.dir().join("compact.tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir(&tmp)?;
        ns.copy_compacted(&tmp)?;
        std::fs::rename(tmp.join("data.mdb"), &data)?;
        std::fs::remove_dir_all(&tmp)?;
        rows.push((name.clone(), before, bytes_on_disk(&data)));
    }
    if ctx.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(n, b, a)| json!({"namespace": n, "before": b, "after": a}))
            .collect();
        ctx.print_json(&json!(list));
    } else {
        for (name, before, after) in rows {
            println!("{name}: {before} -> {after} bytes");
        }
    }
    Ok(Outcome::Ok)
}
