//! Plots an existing run directory into `RUN_DIR/plots/` and lists the files written:
//! `cargo run -p dimua-plot --example run -- RUN_DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: run RUN_DIR");
        return ExitCode::from(2);
    };
    match dimua_plot::plot_run(&dir) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
