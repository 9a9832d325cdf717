//! `dimua config show`: print a config file resolved (defaults filled in, flags applied).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use dimua_pipeline::RunConfig;

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
            print!("{}", config.to_toml());
            Ok(())
        }
    }
}
