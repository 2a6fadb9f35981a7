//! `permacache compact [NS..]`: rewrites each namespace's file without its
//! free pages, keeping every other process out for the whole copy and swap
//! (the library's advisory lock), and the file's permissions.

use permacache::admin::{AdminError, compact, drop_namespace};
use serde_json::json;

use crate::{Ctx, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// The namespaces to compact [default: all]
    namespaces: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let names = ctx.namespaces(args.namespaces)?;
    let mut rows = Vec::new();
    for name in &names {
        match compact(&ctx.root, name) {
            Ok(done) => rows.push((name.clone(), done.before, done.after)),
            Err(e @ AdminError::InUse { .. }) => {
                anyhow::bail!("{e} (nothing compacted from {name} on)")
            }
            Err(e) => return Err(e.into()),
        }
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

/// `permacache drop NS`.
pub fn drop(ctx: &Ctx, namespace: &str) -> anyhow::Result<Outcome> {
    drop_namespace(&ctx.root, namespace)?;
    if ctx.json {
        ctx.print_json(&json!({"namespace": namespace, "dropped": true}));
    } else {
        println!("dropped {namespace}");
    }
    Ok(Outcome::Ok)
}
