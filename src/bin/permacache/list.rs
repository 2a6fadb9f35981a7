//! `permacache list`: every namespace with entries, bytes on disk, last write.

use serde_json::json;

use crate::{Ctx, Outcome, utc};

/// Bytes a file takes on disk (allocated blocks where the OS says).
pub fn bytes_on_disk(path: &std::path::Path) -> u64 {
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    #[cfg(unix)]
    {
        std::os::unix::fs::MetadataExt::blocks(&meta) * 512
    }
    #[cfg(not(unix))]
    {
        meta.len()
    }
}

/// Milliseconds since the epoch of a file's last modification.
pub fn modified_ms(path: &std::path::Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

pub fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let names = ctx.namespaces(Vec::new())?;
    let mut rows = Vec::new();
    for name in &names {
        let ns = ctx.open(name)?;
        let data = ns.dir().join("data.mdb");
        rows.push((
            name.clone(),
            ns.len()?,
            bytes_on_disk(&data),
            modified_ms(&data),
        ));
    }
    if ctx.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(n, e, b, m)| json!({"namespace": n, "entries": e, "bytes": b, "last_write": utc(*m)}))
            .collect();
        ctx.print_json(&json!(list));
        return Ok(Outcome::Ok);
    }
    if rows.is_empty() {
        println!("no namespaces under {}", ctx.root.display());
        return Ok(Outcome::Ok);
    }
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(9).max(9);
    println!(
        "{:<width$}  {:>10}  {:>12}  LAST WRITE",
        "NAMESPACE", "ENTRIES", "BYTES"
    );
    for (name, entries, bytes, modified) in rows {
        println!(
            "{name:<width$}  {entries:>10}  {bytes:>12}  {}",
            utc(modified)
        );
    }
    Ok(Outcome::Ok)
}
