//! The subcommands: one module each, all returning `anyhow::Result`.

mod bench;
mod collect;
mod config;
mod export;
mod games;
mod images;
mod probe;
mod replay;
mod report;
mod roms;
mod run;
mod sweep;
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
    /// Train and score linear probes on a frozen encoder (--run DIR, or --encoder FILE --game G).
    Probe(probe::ProbeArgs),
    /// One table across runs, games, methods and seeds (mean ± std), Markdown and JSON.
    Report(report::ReportArgs),
    /// Expand games x methods x seeds x layouts and run them (or emit cluster job files).
    Sweep(sweep::SweepArgs),
    /// Export a run's encoder as one self-describing file (+ JSON sidecar) for RL agents.
    Export(export::ExportArgs),
    /// Show configs resolved.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// The image experiment: SimCLR, MSimCLR, SimCLR-UA on CIFAR-10 / image folders.
    #[command(subcommand)]
    Images(images::ImagesCommand),
    /// Play an action sequence in a preset environment and write what the agent saw (.npy).
    Replay(replay::ReplayArgs),
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
        Command::Probe(args) => probe::run(args),
        Command::Report(args) => report::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Config(cmd) => config::run(cmd),
        Command::Export(args) => export::run(args),
        Command::Images(cmd) => images::run(cmd),
        Command::Replay(args) => replay::run(args),
    }
}
