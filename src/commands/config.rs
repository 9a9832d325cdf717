//! `dimua config show`: check a config file and print it resolved (defaults filled in).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use dimua_pipeline::{RunConfig, RunPlan};

/// Config subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a run config with every default filled in (the embedded default without FILE).
    Show(ShowArgs),
}

/// Flags of `dimua config show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The config file.
    pub file: Option<PathBuf>,
}

/// Runs a config subcommand.
pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Show(args) => {
            let config = RunConfig::load_or_default(args.file.as_deref())?;
            // An invalid config is an error here too, not a listing that fails later.
            RunPlan::new(config.clone())?;
            print!("{}", config.to_toml());
            Ok(())
        }
    }
}
