//! `PlotError`: every way reading a run's files or writing a plot can fail, each naming the
//! path involved and what to do about it.

use std::io;
use std::path::PathBuf;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The run directory is missing or is a file.
    #[error(
        "run directory {path} does not exist or is not a directory; pass the --out directory \
         of a `dimua train` or `dimua run`"
    )]
    NotARunDir {
        /// The path given.
        path: PathBuf,
    },
    /// The run directory holds neither `metrics.jsonl` nor `probe.json`.
    #[error(
        "nothing to plot in {path}: it holds neither metrics.jsonl nor probe.json; point at the \
         directory a `dimua train` or `dimua run` wrote"
    )]
    NothingToPlot {
        /// The run directory.
        path: PathBuf,
    },
    /// An input file exists but cannot be read.
    #[error("cannot read {path}: {source}; check that the file is readable")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A line of `metrics.jsonl` is not a JSON object.
    #[error(
        "{path}, line {line}: {reason}; metrics.jsonl must hold one JSON object per line, as \
         `dimua train` writes it (delete or fix the line)"
    )]
    BadMetricsLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// `probe.json` is not a probe result.
    #[error(
        "{path}: {reason}; probe.json must be a probe result as `dimua probe` writes it \
         (an object with \"per_label\": {{name: {{\"f1\": .., \"acc\": ..}}}})"
    )]
    BadProbe {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The membership-entropy curves cannot be plotted.
    #[error("membership entropy curves: {reason}")]
    BadEntropyCurves {
        /// What is wrong with them.
        reason: String,
    },
    /// The RL learning curves cannot be plotted.
    #[error("return curves: {reason}")]
    BadReturnCurves {
        /// What is wrong with them.
        reason: String,
    },
    /// The units-sweep points cannot be plotted.
    #[error("units sweep: {reason}")]
    BadUnitsPoints {
        /// What is wrong with them.
        reason: String,
    },
    /// The output directory cannot be created.
    #[error(
        "cannot create the output directory {path}: {source}; make its parent writable or \
         choose another directory"
    )]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A plot file cannot be written.
    #[error(
        "cannot write {path}: {source}; check that its directory is writable and the disk \
         has space"
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Drawing or encoding a plot failed (a bug or an unusable font, not bad data).
    #[error("cannot draw {path}: {reason}")]
    Draw {
        /// The file being drawn.
        path: PathBuf,
        /// What the drawing library said.
        reason: String,
    },
}
