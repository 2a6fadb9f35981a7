//! `permacache export NS FILE`: one portable file holding the namespace.

use std::path::PathBuf;

use permacache::admin::export::write_export;
use serde_json::json;

use crate::{Ctx, Outcome, progress};

#[derive(clap::Args)]
pub struct Args {
    /// The namespace path
    namespace: String,
    /// The file to write (replaced whole, never half-written)
    file: PathBuf,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let ns = ctx.open(&args.namespace)?;
    let bar = progress(ctx, ns.len()? as u64, "exporting");
    let tmp = args.file.with_extension("partial");
    let named = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        anyhow::anyhow!("cannot {what} {}: {e}", path.display())
    };
    let file = std::fs::File::create(&tmp).map_err(|e| named("write", &tmp, &e))?;
    let mut out = std::io::BufWriter::new(file);
    let count = write_export(ns, &mut out, &mut || bar.inc(1)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        named("write", &args.file, &e)
    })?;
    std::io::Write::flush(&mut out).map_err(|e| named("write", &tmp, &e))?;
    drop(out);
    std::fs::rename(&tmp, &args.file).map_err(|e| named("write", &args.file, &e))?;
    bar.finish_and_clear();
    if ctx.json {
        ctx.print_json(&json!({"namespace": args.namespace, "file": args.file, "entries": count}));
    } else {
        println!(
            "exported {} of {} to {}",
            crate::entries(count as u64),
            args.namespace,
            args.file.display()
        );
    }
    Ok(Outcome::Ok)
}
