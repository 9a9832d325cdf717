//! `dimua roms ...`: import canonical ROMs, list where each game's ROM comes from.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use dimua_atari::{RomOptions, RomStore};

/// ROM management.
#[derive(Debug, Subcommand)]
pub enum RomsCommand {
    /// Import canonical ROMs from a folder or an ale-py wheel (.whl, a zip); files are matched by md5.
    Import(ImportArgs),
    /// Show where each game's ROM comes from.
    List(ListArgs),
}

/// Flags of `dimua roms import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A directory of ROM files, or an ale-py wheel / zip holding them.
    pub path: PathBuf,
    /// Store directory (default: $DIMUA_ROM_DIR or ~/.cache/dimua/roms).
    #[arg(long)]
    pub rom_dir: Option<PathBuf>,
    /// Print only errors.
    #[arg(long)]
    pub quiet: bool,
}

/// Flags of `dimua roms list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Store directory (default: $DIMUA_ROM_DIR or ~/.cache/dimua/roms).
    #[arg(long)]
    pub rom_dir: Option<PathBuf>,
}

fn store(dir: Option<PathBuf>) -> anyhow::Result<RomStore> {
    Ok(match dir {
        Some(dir) => RomStore::new(dir),
        None => RomStore::open_default()?,
    })
}

/// Runs a `dimua roms` subcommand.
pub fn run(command: RomsCommand) -> anyhow::Result<()> {
    match command {
        RomsCommand::Import(args) => {
            let store = store(args.rom_dir)?;
            let report = store.import(&args.path)?;
            if !args.quiet {
                println!(
                    "{}: imported {} ({}), already present {}, unknown files {}",
                    store.dir().display(),
                    report.imported.len(),
                    report.imported.join(", "),
                    report.already_present.len(),
                    report.unknown.len()
                );
            }
            if report.imported.is_empty() && report.already_present.is_empty() {
                anyhow::bail!(
                    "no canonical ROM found in {} ({} files with unknown md5): pass a folder of                      ROM dumps or an ale-py wheel (pip download --no-deps ale-py)",
                    args.path.display(),
                    report.unknown.len()
                );
            }
            Ok(())
        }
        RomsCommand::List(args) => {
            let store = store(args.rom_dir)?;
            println!("ROM store: {}", store.dir().display());
            for game in dimua_atari::all_games() {
                let options = RomOptions {
                    rom_dir: Some(store.dir().to_path_buf()),
                    ..RomOptions::default()
                };
                let status = match dimua_atari::load_rom(game, &options) {
                    Ok(rom) => format!("{:?}", rom.source),
                    Err(_) => "missing (run `dimua roms import <ale-py wheel>`)".to_string(),
                };
                println!("{:<20} {}", game.name, status);
            }
            Ok(())
        }
    }
}
