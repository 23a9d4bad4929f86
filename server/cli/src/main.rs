//! The `driftlock` binary: argument parsing, progress and exit codes. One module
//! per subcommand; the work itself is in the engine, batch, service and eval crates.

use clap::{Parser, Subcommand};

mod backfill;
mod cluster;
mod eval;
mod export;
mod file_limit;
mod generate;
mod keys;
mod logging;
mod progress;
mod score;
mod serve;
mod sql;

// The engine rebuilds a ~50 KB zstd dictionary every few hundred events per
// stream; glibc's allocator returns those blocks to the kernel each time and the
// page faults were a tenth of a scoring profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Driftlock finds anomalies in event streams (logs, metrics, traces, LLM outputs)
/// with compression distances and calibrated p-values.
#[derive(Debug, Parser)]
#[command(name = "driftlock", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score event files (Parquet, Arrow IPC, CSV, NDJSON) and write the anomalies.
    Score(score::ScoreArgs),
    /// Write a seeded synthetic stream with labelled anomalies (Parquet or NDJSON).
    Generate(generate::GenerateArgs),
    /// Run the /v1 HTTP API on an embedded SQLite store.
    Serve(serve::ServeArgs),
    /// Manage API keys in the server's store.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Measure detection quality: NAB and HDFS (labelled public data) and generated drifting logs.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    Backfill(backfill::BackfillArgs),
    Sql(sql::SqlArgs),
    Export(export::ExportArgs),
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
}

fn main() -> std::process::ExitCode {
    for (key, value) in driftlock_kernels::QUIET_PROBE_ENV {
        if std::env::var_os(key).is_none() {
            // SAFETY: first thing in main, before any other thread exists.
            unsafe { std::env::set_var(key, value) };
        }
    }
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the cause chain on one line, without a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Score(args) => score::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Eval(cmd) => eval::run(cmd),
        Command::Backfill(args) => backfill::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Export(args) => export::run(args),
        Command::Cluster(cmd) => cluster::run(cmd),
    }
}
