//! `permacache stats`: LMDB figures per namespace and for the whole store.

use serde_json::json;

use crate::list::bytes_on_disk;
use crate::{Ctx, Outcome};

pub fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let names = ctx.namespaces(Vec::new())?;
    let mut rows = Vec::new();
    for name in &names {
        let ns = ctx.open(name)?;
        rows.push((
            name.clone(),
            ns.stats()?,
            bytes_on_disk(&ns.dir().join("data.mdb")),
        ));
    }
    let entries: usize = rows.iter().map(|r| r.1.entries).sum();
    let bytes: u64 = rows.iter().map(|r| r.2).sum();
    let free: u64 = rows
        .iter()
        .map(|r| r.1.free_pages as u64 * u64::from(r.1.page_size))
        .sum();
    if ctx.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(n, s, b)| {
                json!({"namespace": n, "entries": s.entries, "bytes": b, "depth": s.depth,
                       "pages": s.pages_used, "free_pages": s.free_pages, "page_size": s.page_size,
                       "map_size": s.map_size})
            })
            .collect();
        ctx.print_json(
            &json!({"root": ctx.root, "namespaces": list, "entries": entries,
                               "bytes": bytes, "free_bytes": free}),
        );
        return Ok(Outcome::Ok);
    }
    println!("store root {}", ctx.root.display());
    println!(
        "{} namespaces, {entries} entries, {bytes} bytes on disk, {free} bytes free for reuse",
        rows.len()
    );
    for (name, s, b) in &rows {
        println!(
            "  {name}: {} entries, {b} bytes, depth {}, {} pages ({} free) of {} bytes",
            s.entries, s.depth, s.pages_used, s.free_pages, s.page_size
        );
    }
    Ok(Outcome::Ok)
}
