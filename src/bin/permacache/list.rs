//! `permacache list`: every namespace with entries, bytes on disk, last write.

use serde_json::json;

pub use permacache::admin::bytes_on_disk;

use crate::{Ctx, Outcome, utc};

/// Milliseconds since the epoch of a file's last modification.
pub fn modified_ms(path: &std::path::Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

/// One namespace as listed: its figures, or why it could not be read.
struct Row {
    name: String,
    figures: Result<(usize, u64, u64), String>,
}

pub fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let names = ctx.namespaces(Vec::new())?;
    let rows: Vec<Row> = names
        .iter()
        .map(|name| Row {
            name: name.clone(),
            figures: ctx
                .open(name)
                .and_then(|ns| {
                    let data = ns.dir().join("data.mdb");
                    Ok((ns.len()?, bytes_on_disk(&data), modified_ms(&data)))
                })
                .map_err(|e| format!("{e:#}")),
        })
        .collect();
    let outcome = if rows.iter().all(|r| r.figures.is_ok()) {
        Outcome::Ok
    } else {
        Outcome::Problems
    };
    if ctx.json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| match &r.figures {
                Ok((e, b, m)) => {
                    json!({"namespace": r.name, "entries": e, "bytes": b, "last_write": utc(*m)})
                }
                Err(why) => json!({"namespace": r.name, "error": why}),
            })
            .collect();
        ctx.print_json(&json!(list));
        return Ok(outcome);
    }
    if rows.is_empty() {
        println!("no namespaces under {}", ctx.root.display());
        return Ok(outcome);
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(9).max(9);
    println!(
        "{:<width$}  {:>10}  {:>12}  LAST WRITE",
        "NAMESPACE", "ENTRIES", "BYTES"
    );
    let mut total = (0usize, 0u64);
    for row in rows {
        match row.figures {
            Ok((entries, bytes, modified)) => {
                total = (total.0 + entries, total.1 + bytes);
                println!(
                    "{:<width$}  {entries:>10}  {bytes:>12}  {}",
                    row.name,
                    utc(modified)
                );
            }
            Err(why) => println!("{:<width$}  cannot be read: {why}", row.name),
        }
    }
    println!("{:<width$}  {:>10}  {:>12}", "TOTAL", total.0, total.1);
    Ok(outcome)
}
