//! `dimua bench ...`: throughput measurements printed as one JSON line each.

use clap::{Args, Subcommand};
use dimua_collect::CollectSpec;

use super::collect::default_threads;
use super::roms::RomArgs;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The collector against a bare ALE loop over the same agent steps and threads.
    Collect(BenchCollectArgs),
}

/// Flags of `dimua bench collect`.
#[derive(Debug, Args)]
pub struct BenchCollectArgs {
    /// Game to run.
    #[arg(long, default_value = "pong")]
    pub game: String,
    /// Agent steps per run.
    #[arg(long, default_value_t = 40_000)]
    pub frames: usize,
    /// Worker threads (both runs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Environment streams of the collector.
    #[arg(long, default_value_t = 10)]
    pub streams: u32,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub rom: RomArgs,
}

/// Runs one benchmark.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Collect(args) => {
            let game = dimua_atari::resolve_game(&args.game)?;
            let rom = args.rom.load(game)?;
            let spec = CollectSpec {
                game,
                frames: args.frames,
                seed: args.seed,
                threads: args.threads.unwrap_or_else(default_threads),
                streams: args.streams,
                color: false,
            };
            let result = dimua_collect::bench::bench_collect(&spec, &rom)?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(())
        }
    }
}
