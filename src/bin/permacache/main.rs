//! `permacache`: look after caches on disk. What is in them, how big, share
//! one with a colleague, clean up. One file per command; this one holds the
//! arguments, the output helpers and the exit codes (0 ok, 1 a failure or a
//! problem found, 2 a usage error).

mod compact;
mod count;
mod export;
mod forget;
mod gc;
mod import;
mod list;
mod remote;
mod root;
mod show;
mod stats;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use permacache::admin::Namespace;

/// Look after permacache stores: list, inspect, share and clean up the
/// cached results of `permacached!` functions.
#[derive(Parser)]
#[command(name = "permacache", version)]
struct Cli {
    /// The store root [default: $PERMACACHE_DIR, else the [store] dir of the
    /// permacache.toml of the crate this runs in, else the user cache dir]
    #[arg(long, global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print JSON for scripts instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every namespace under the root, with entries, bytes on disk and last write
    #[command(
        after_help = "Examples:\n  permacache list\n  permacache --dir ~/.cache/permacache list --json"
    )]
    List,
    /// How many entries a namespace holds
    #[command(after_help = "Examples:\n  permacache count myproject/features")]
    Count(count::Args),
    /// The entries of a namespace: keys as canonical JSON, values as JSON where the codec allows
    #[command(
        after_help = "Examples:\n  permacache show myproject/features\n  permacache show myproject/features --all --json"
    )]
    Show(show::Args),
    /// Remove every entry of a namespace
    #[command(
        after_help = "Examples:\n  permacache clear myproject/features --dry-run\n  permacache clear myproject/features"
    )]
    Clear(forget::ClearArgs),
    /// Remove a namespace: its files, not the namespaces nested in it
    #[command(after_help = "Examples:\n  permacache drop myproject/old_features")]
    Drop(NamespaceArg),
    /// Remove the entry of one key
    #[command(
        after_help = "Examples:\n  permacache forget myproject/features '{\"x\":3}'\n  permacache forget myproject/features '{\"x\":3}' --objects s3://team-cache/permacache"
    )]
    Forget(forget::Args),
    /// Write a namespace to one portable file
    #[command(after_help = "Examples:\n  permacache export myproject/features features.export")]
    Export(export::Args),
    /// Read a namespace from an export file
    #[command(
        after_help = "Examples:\n  permacache import myproject/features features.export\n  permacache import myproject/features features.export --merge"
    )]
    Import(import::Args),
    /// LMDB figures for each namespace and the whole store
    #[command(after_help = "Examples:\n  permacache stats\n  permacache stats --json")]
    Stats,
    /// Read every record and report the ones that cannot be read (exit 1 if any)
    #[command(
        after_help = "Examples:\n  permacache verify\n  permacache verify myproject/features"
    )]
    Verify(verify::Args),
    /// Give free pages back to the filesystem
    #[command(
        after_help = "Examples:\n  permacache compact\n  permacache compact myproject/features"
    )]
    Compact(compact::Args),
    /// Remove old entries, entries of older versions, or the least recently
    /// used beyond a size; then compact
    #[command(
        after_help = "Examples:\n  permacache gc myproject/features --older-than 30d\n  permacache gc myproject/features --stale-versions --dry-run\n  permacache gc --all --max-size 20GB"
    )]
    Gc(gc::Args),
    /// Copy a namespace's entries to the shared tiers (Redis, an object store;
    /// needs the `redis` or `s3` feature)
    #[command(
        after_help = "Examples:\n  permacache push myproject/features --remote redis://cache.internal:6379/0\n  permacache push myproject/features --objects s3://team-cache/permacache"
    )]
    Push(remote::Args),
    /// Copy a namespace's entries from the shared tiers: adds missing ones,
    /// replaces older ones (exit 1 if invalid remote records were skipped)
    #[command(
        after_help = "Examples:\n  permacache pull myproject/features --objects s3://team-cache/permacache\n  PERMACACHE_REMOTE=redis://cache.internal:6379/0 permacache pull myproject/features"
    )]
    Pull(remote::Args),
    /// List the records the shared tiers hold of a namespace
    #[command(
        after_help = "Examples:\n  permacache remote myproject/features --objects s3://team-cache/permacache"
    )]
    Remote(remote::Args),
    /// Verify one namespace in this process (what `verify` runs per
    /// namespace in a child)
    #[command(name = "__verify-one", hide = true)]
    VerifyOne(NamespaceArg),
    /// gc's removals in this process (what `gc` runs in a child, so that it
    /// can compact afterwards)
    #[command(name = "__gc-work", hide = true)]
    GcWork(gc::Args),
}

/// A namespace path argument.
#[derive(clap::Args)]
struct NamespaceArg {
    /// The namespace path, such as unique/path/f
    namespace: String,
}

/// What every command gets: where the store is and how to print.
pub struct Ctx {
    pub root: PathBuf,
    pub json: bool,
}

impl Ctx {
    /// Opens an existing namespace whose data file is intact (a program
    /// opening a damaged one sets it aside; the CLI only reports it).
    pub fn open(&self, namespace: &str) -> anyhow::Result<&'static Namespace> {
        permacache::admin::check_namespace(namespace)?;
        if let Err(why) = permacache::admin::check_files(&self.root, namespace) {
            anyhow::bail!(
                "namespace {namespace} is damaged: {why}; `permacache verify` reports it, and the next program that opens it sets the file aside and starts afresh"
            );
        }
        Ok(Namespace::open_existing(&self.root, namespace)?)
    }

    /// The namespaces a command was given, or every one under the root.
    pub fn namespaces(&self, given: Vec<String>) -> anyhow::Result<Vec<String>> {
        if !given.is_empty() {
            return Ok(given);
        }
        if !self.root.exists() {
            return Ok(Vec::new());
        }
        Ok(permacache::admin::list_namespaces(&self.root)?)
    }

    /// Prints a JSON value on one line.
    pub fn print_json(&self, value: &serde_json::Value) {
        println!("{value}");
    }
}

/// A progress bar on stderr for work that can take a while; hidden when
/// stdout is not a terminal or output is JSON.
pub fn progress(ctx: &Ctx, len: u64, what: &str) -> ProgressBar {
    if ctx.json || !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} ({eta})")
            .expect("a valid template"),
    );
    bar.set_message(what.to_string());
    bar
}

/// `2026-11-25T08:54:34Z` for milliseconds since the Unix epoch.
pub fn utc(ms: u64) -> String {
    let (y, m, d, hh, mm, ss) = permacache::admin::utc_fields(ms / 1000);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// `1 entry`, `2 entries`: a count in words that agree with it.
pub fn entries(n: impl Into<u64>) -> String {
    match n.into() {
        1 => "1 entry".to_string(),
        n => format!("{n} entries"),
    }
}

/// What a command found: `Problems` exits 1 without an error message.
pub enum Outcome {
    Ok,
    Problems,
}

/// A usage error: exit code 2, like clap's own.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// The exit code of an error: 2 for a usage error (a bad namespace path, a
/// key that is not JSON, a missing `--dir`), else 1.
fn exit_code(e: &anyhow::Error) -> u8 {
    use permacache::StoreError;
    use permacache::admin::AdminError;
    let usage = e.downcast_ref::<Usage>().is_some()
        || matches!(
            e.downcast_ref::<StoreError>(),
            Some(StoreError::BadNamespace { .. })
        )
        || matches!(
            e.downcast_ref::<AdminError>(),
            Some(AdminError::Store(StoreError::BadNamespace { .. }))
        );
    if usage { 2 } else { 1 }
}

/// Set in the child that runs a command contained.
const CONTAINED: &str = "PERMACACHE_CLI_CONTAINED";

impl Command {
    /// Whether the command reads records or LMDB's pages in this process
    /// (and so runs contained). `verify` and `gc` contain their own reads;
    /// `list` reads no page.
    fn reads_pages(&self) -> bool {
        matches!(
            self,
            Command::Count(_) | Command::Show(_) | Command::Export(_) | Command::Stats
        )
    }
}

/// Runs this same command line in a child process and reports a child
/// killed by a signal (damage inside LMDB's pages can crash a reader with
/// SIGBUS, SIGSEGV or an abort) as a damaged store, instead of dying of it.
fn run_contained(json: bool) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    let status = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(CONTAINED, "1")
            .status()
    });
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            (None, signal) => fail(
                json,
                &anyhow::anyhow!(
                    "reading the store crashed (signal {}): a data file is damaged; `permacache verify` names it",
                    signal.unwrap_or(0)
                ),
            ),
        },
        Err(e) => fail(
            json,
            &anyhow::anyhow!("cannot run the command contained: {e}"),
        ),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.reads_pages() && std::env::var_os(CONTAINED).is_none() {
        return run_contained(cli.json);
    }
    let json = cli.json;
    let root = match root::find(cli.dir) {
        Ok(root) => root,
        Err(e) => return fail(json, &e),
    };
    eprintln!(
        "permacache: store root {} ({})",
        root.path.display(),
        root.source
    );
    let ctx = Ctx {
        root: root.path,
        json,
    };
    let result = match cli.command {
        Command::List => list::run(&ctx),
        Command::Count(a) => count::run(&ctx, a),
        Command::Show(a) => show::run(&ctx, a),
        Command::Clear(a) => forget::clear(&ctx, a),
        Command::Drop(a) => compact::drop(&ctx, &a.namespace),
        Command::Forget(a) => forget::run(&ctx, a),
        Command::Export(a) => export::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
        Command::Stats => stats::run(&ctx),
        Command::Verify(a) => verify::run(&ctx, a),
        Command::Compact(a) => compact::run(&ctx, a),
        Command::Gc(a) => gc::run(&ctx, a),
        Command::Push(a) => remote::push(&ctx, a),
        Command::Pull(a) => remote::pull(&ctx, a),
        Command::Remote(a) => remote::list(&ctx, a),
        Command::VerifyOne(a) => verify::run_one(&ctx, &a.namespace),
        Command::GcWork(a) => gc::run_work(&ctx, a),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        Err(e) => fail(json, &e),
    }
}

/// Reports an error (as JSON on stdout under `--json`) and its exit code.
fn fail(json: bool, e: &anyhow::Error) -> ExitCode {
    let code = exit_code(e);
    if json {
        println!(
            "{}",
            serde_json::json!({"error": format!("{e:#}"), "exit_code": code})
        );
    } else {
        eprintln!("error: {e:#}");
    }
    ExitCode::from(code)
}
