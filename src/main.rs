//! `dimua`: the command-line front end. Parses flags (clap), resolves them into validated
//! plans, runs the library crates and prints errors as one clear chain with a non-zero exit.

mod cli;
mod commands;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use commands::Command;

/// Unbalanced-atlas state representation learning on Atari: AtariARI datasets, DIM-UA and
/// ST-DIM training, linear probes, reports.
#[derive(Debug, Parser)]
#[command(name = "dimua", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    // Behave like a Unix filter: `dimua games | head` ends quietly instead of panicking.
    // SAFETY: resetting a signal disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("DIMUA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    progress::install_interrupt_handler();
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut msg = format!("error: {err}");
            for cause in err.chain().skip(1) {
                let cause = cause.to_string();
                if !msg.contains(&cause) {
                    msg.push_str(&format!(": {cause}"));
                }
            }
            if disk_full(&err) {
                msg.push_str(
                    "\nthe disk is full: free some space (or write to another disk) and run the \
                     command again; files dimua was writing were removed, finished ones are intact",
                );
            }
            eprintln!("{msg}");
            if progress::interrupted() {
                ExitCode::from(130)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Whether an error chain ends in "no space left on device" (ENOSPC, or EDQUOT: a full quota).
fn disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)))
    })
}
