//! `permacache import NS FILE [--merge]`: the whole file is checked before
//! anything is written, and it is written in one transaction.

use std::path::PathBuf;

use permacache::admin::Namespace;
use permacache::admin::export::read_export;
use serde_json::json;

use crate::{Ctx, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// The namespace path to import into
    namespace: String,
    /// An export file written by `permacache export`
    file: PathBuf,
    /// Add to a namespace that already has entries (imported entries replace
    /// ones with the same key)
    #[arg(long)]
    merge: bool,
    /// Import into a namespace other than the one the file was exported
    /// from (its entries are re-filed under NAMESPACE).
    #[arg(long)]
    into_other_namespace: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let bytes = std::fs::read(&args.file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.file.display()))?;
    let export =
        read_export(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    if export.namespace != args.namespace && !args.into_other_namespace {
        anyhow::bail!(
            "{} was exported from namespace {}, not {}; nothing imported (use --into-other-namespace to import it there anyway)",
            args.file.display(),
            export.namespace,
            args.namespace
        );
    }
    if let Ok(existing) = Namespace::open_existing(&ctx.root, &args.namespace) {
        let n = existing.len()?;
        if n > 0 && !args.merge {
            anyhow::bail!(
                "namespace {} already has {}; nothing imported (use --merge to add to it)",
                args.namespace,
                crate::entries(n as u64)
            );
        }
    }
    let ns = Namespace::open(&ctx.root, &args.namespace)?;
    let count = export.store_into(ns)?;
    if ctx.json {
        ctx.print_json(&json!({
            "namespace": args.namespace, "from": export.namespace, "entries": count, "merged": args.merge
        }));
    } else {
        let from = if export.namespace == args.namespace {
            String::new()
        } else {
            format!(" (exported from {})", export.namespace)
        };
        println!(
            "imported {} into {}{from}",
            crate::entries(count as u64),
            args.namespace
        );
    }
    Ok(Outcome::Ok)
}
