//! The subcommands: one module each, all returning `anyhow::Result`.

mod bench;
mod collect;
mod games;
mod roms;
mod run;
mod train;

use clap::Subcommand;

/// Every `dimua` subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List supported games (AtariARI games marked, with their label names).
    Games(games::GamesArgs),
    /// Manage ROM dumps (import canonical ROMs from a folder or an ale-py wheel).
    #[command(subcommand)]
    Roms(roms::RomsCommand),
    /// Collect an AtariARI dataset (frames + RAM labels) with the random policy.
    Collect(collect::CollectArgs),
    /// Pretrain an encoder (streamed collection, --dataset, or --resume).
    Train(train::TrainArgs),
    /// Collect -> train -> probe end to end; every method, including random-cnn and majority.
    Run(run::RunArgs),
    /// Benchmarks (one JSON line each).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Runs one subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Games(args) => games::run(args),
        Command::Roms(cmd) => roms::run(cmd),
        Command::Collect(args) => collect::run(args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Train(args) => train::run(args),
        Command::Run(args) => run::run(args),
    }
}
