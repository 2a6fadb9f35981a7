//! `permacache count NS`: how many entries a namespace holds.

use serde_json::json;

use crate::{Ctx, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// The namespace path
    namespace: String,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let n = ctx.open(&args.namespace)?.len()?;
    if ctx.json {
        ctx.print_json(&json!({"namespace": args.namespace, "entries": n}));
    } else {
        println!("{n}");
    }
    Ok(Outcome::Ok)
}
