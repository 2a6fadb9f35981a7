//! `permacache export NS FILE`: one portable file holding the namespace.

use std::path::PathBuf;

use permacache::store::export::write_export;
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
    let bar = progress(ctx, 1, "exporting");
    let tmp = args.file.with_extension("partial");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let count = write_export(ns, &mut out)?;
    drop(out);
    std::fs::rename(&tmp, &args.file)?;
    bar.finish_and_clear();
    if ctx.json {
        ctx.print_json(&json!({"namespace": args.namespace, "file": args.file, "entries": count}));
    } else {
        println!(
            "exported {count} entries of {} to {}",
            args.namespace,
            args.file.display()
        );
    }
    Ok(Outcome::Ok)
}
