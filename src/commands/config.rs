//! `dimua config show`: check a config file and print it resolved (defaults filled in).

use std::path::{Path, PathBuf};

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
            if let Some(file) = &args.file {
                refuse_sweep_file(file)?;
            }
            let config = RunConfig::load_or_default(args.file.as_deref())?;
            // An invalid config is an error here too, not a listing that fails later.
            RunPlan::new(config.clone())?;
            print!("{}", config.to_toml());
            Ok(())
        }
    }
}

/// A sweep file (`games`, `methods`, `seeds`, `layouts`, `[base]`) is not a run config: say
/// which command reads it instead of naming `games` an unknown field.
fn refuse_sweep_file(file: &Path) -> anyhow::Result<()> {
    let Ok(text) = dimua_pipeline::config::read_config_text(file) else {
        return Ok(()); // the run config loader reports unreadable files
    };
    let Ok(table) = toml::from_str::<toml::Table>(&text) else {
        return Ok(());
    };
    if ["games", "methods", "seeds", "layouts", "base"]
        .iter()
        .any(|k| table.contains_key(*k))
    {
        anyhow::bail!(
            "{} is a sweep file, not a run config: `dimua sweep --config {0} --dry-run` lists \
             (and validates) the runs it expands to; `dimua config show` takes one run config",
            file.display()
        );
    }
    Ok(())
}
