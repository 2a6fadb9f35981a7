//! `permacache verify [NS..]`: reads every record and reports the ones that
//! cannot be read: damaged (checksum), truncated, filed under another key's
//! hash, of an unknown format or codec, or not parseable (JSON, CBOR). Each
//! namespace is read in a child process: damage inside LMDB's own pages that
//! crashes the reader is reported as a damaged namespace, and the command
//! goes on.

use std::collections::HashMap;

use permacache::admin::{Identity, Record, check_files, key_hash};
use permacache::{Codec, KEY_FORMAT_VERSION};
use serde_json::json;

use crate::{Ctx, Outcome, progress};

#[derive(clap::Args)]
pub struct Args {
    /// The namespaces to verify [default: all]
    namespaces: Vec<String>,
}

/// What is wrong with a stored record, as a hit would find it, with the
/// namespace's `identities`.
fn problem(hash: &[u8], bytes: &[u8], identities: &HashMap<u64, Identity>) -> Option<String> {
    let r = match Record::parse(bytes) {
        Ok(r) => r,
        Err(e) => return Some(e.to_string()),
    };
    let Some(identity) = identities.get(&r.header.identity) else {
        return Some(format!("{} {:016x}", NO_IDENTITY, r.header.identity));
    };
    if key_hash(identity.owner, r.key)[..] != *hash {
        return Some("filed under another key's hash".into());
    }
    if identity.key_format != KEY_FORMAT_VERSION {
        return Some(format!("unknown key format {}", identity.key_format));
    }
    if std::str::from_utf8(r.key).is_err() {
        return Some("its key is not UTF-8".into());
    }
    match Codec::from_tag(r.header.codec) {
        None if permacache::admin::is_bulk(r.header.codec) => {
            (!permacache::admin::bulk_is_well_formed(r.header.codec, r.value)).then(|| {
                "its raw array is not a whole number of elements, or not as many as its shape says"
                    .into()
            })
        }
        None => Some(format!("unknown codec {}", r.header.codec)),
        Some(Codec::Json) if serde_json::from_slice::<serde_json::Value>(r.value).is_err() => {
            Some("its JSON value does not parse".into())
        }
        Some(Codec::Cbor) if ciborium::from_reader::<ciborium::Value, _>(r.value).is_err() => {
            Some("its CBOR value does not parse".into())
        }
        _ => None,
    }
}

/// What verifying one namespace found: records checked, and the damaged
/// ones as (record, problem); a record of `-` stands for the whole
/// namespace.
type Found = (u64, Vec<(String, String)>);

/// The start of the problem of a record whose identity is not in the table.
const NO_IDENTITY: &str = "the namespace's table does not hold its identity";

/// Verifies one namespace in this process.
fn verify_here(ctx: &Ctx, name: &str) -> anyhow::Result<Found> {
    let ns = ctx.open(name)?;
    let bar = progress(ctx, ns.len()? as u64, name);
    let mut identities = ns.identities()?;
    let mut checked = 0u64;
    let mut bad: Vec<([u8; 16], String)> = Vec::new();
    ns.for_each_raw(|hash, bytes| {
        checked += 1;
        bar.inc(1);
        if let Some(why) = problem(hash, bytes, &identities)
            && let Ok(hash) = hash.try_into()
        {
            bad.push((hash, why));
        }
        true
    })?;
    bar.finish_and_clear();
    // An identity another process wrote after the table was read, with its
    // first record: looked for once more, and such records judged again.
    if bad.iter().any(|(_, why)| why.starts_with(NO_IDENTITY)) {
        identities = ns.identities()?;
        let mut again = Vec::new();
        for (hash, why) in bad {
            if !why.starts_with(NO_IDENTITY) {
                again.push((hash, why));
            } else if let Some(bytes) = ns.get_raw(&hash)?
                && let Some(why) = problem(&hash, &bytes, &identities)
            {
                again.push((hash, why));
            }
        }
        bad = again;
    }
    let hex = |hash: &[u8; 16]| hash.iter().map(|b| format!("{b:02x}")).collect::<String>();
    Ok((
        checked,
        bad.iter().map(|(h, why)| (hex(h), why.clone())).collect(),
    ))
}

/// `__verify-one NS`: what a child prints for its parent, as JSON.
pub fn run_one(ctx: &Ctx, name: &str) -> anyhow::Result<Outcome> {
    let (checked, bad) = verify_here(ctx, name)?;
    let bad: Vec<_> = bad
        .iter()
        .map(|(h, w)| json!({"record": h, "problem": w}))
        .collect();
    println!("{}", json!({"checked": checked, "bad": bad}));
    Ok(Outcome::Ok)
}

/// Verifies one namespace in a child process, so that damage inside LMDB's
/// pages that crashes the reader is reported instead of ending the command.
fn verify_contained(ctx: &Ctx, name: &str) -> Found {
    let whole = |why: String| (0, vec![("-".to_string(), why)]);
    if let Err(why) = check_files(&ctx.root, name) {
        return whole(format!("its data file is damaged: {why}"));
    }
    let out = match std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .arg("--dir")
            .arg(&ctx.root)
            .args(["__verify-one", name])
            .stdin(std::process::Stdio::null())
            .output()
    }) {
        Ok(out) => out,
        Err(e) => return whole(format!("cannot start a reader: {e}")),
    };
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&out.status) {
        return whole(format!(
            "reading it crashed the reader (signal {signal}): LMDB's pages are damaged"
        ));
    }
    let report: Option<serde_json::Value> = out
        .status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten();
    let Some(report) = report else {
        let err = String::from_utf8_lossy(&out.stderr);
        return whole(format!(
            "it cannot be read: {}",
            err.trim().trim_start_matches("error: ")
        ));
    };
    let bad = report["bad"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|b| {
                    let text = |k: &str| b[k].as_str().unwrap_or_default().to_string();
                    (text("record"), text("problem"))
                })
                .collect()
        })
        .unwrap_or_default();
    (report["checked"].as_u64().unwrap_or(0), bad)
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let names = ctx.namespaces(args.namespaces)?;
    let mut bad = Vec::new();
    let mut checked = 0u64;
    for name in &names {
        let (n, found) = verify_contained(ctx, name);
        checked += n;
        bad.extend(found.into_iter().map(|(h, w)| (name.clone(), h, w)));
    }
    if ctx.json {
        let list: Vec<_> = bad
            .iter()
            .map(|(n, h, w)| json!({"namespace": n, "record": h, "problem": w}))
            .collect();
        ctx.print_json(&json!({"checked": checked, "bad": list}));
    } else {
        for (name, hex, why) in &bad {
            if hex == "-" {
                println!("{name}: {why}");
            } else {
                println!("{name}: record {hex}: {why}");
            }
        }
        println!("{checked} records checked, {} unreadable", bad.len());
    }
    Ok(if bad.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Problems
    })
}
