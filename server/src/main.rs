//! The `driftlock` binary: offline scoring and the `/v1` service.

use clap::{Parser, Subcommand};

mod cli;

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
    Score(cli::score::ScoreArgs),
    /// Run the /v1 HTTP API on an embedded SQLite store.
    Serve(cli::serve::ServeArgs),
    /// Manage API keys in the server's store.
    #[command(subcommand)]
    Keys(cli::keys::KeysCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Score(args) => cli::score::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Keys(cmd) => cli::keys::run(cmd),
    }
}
