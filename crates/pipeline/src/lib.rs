//! `dimua-pipeline`: the collect -> pretrain -> probe pipeline of `dimua run` as a library.
//!
//! - [`config`]: the run config as TOML ([`RunConfig`]), every default written once.
//! - [`plan`]: [`RunPlan`], one config resolved and validated once (game, method and
//!   architecture, parsed device, frame counts, data source, probe settings).
//! - [`pretrain`](mod@pretrain): the pretraining stage (streamed collection + trainer,
//!   dataset, resume; [`initial_encoder`] for the random-CNN baseline).
//! - [`probe`](mod@probe): the probe stage ([`collect_probe_set`], [`ProbeSet`], feature
//!   extraction in [`ProbeInputs`], [`probe()`], [`write_probe_outputs`]).
//! - [`observer`]: progress and Ctrl-C ([`Observer`]; [`Quiet`] shows nothing).
//! - [`output`]: run directories and atomic writes.
//!
//! ```no_run
//! use dimua_pipeline::{Quiet, RunConfig, RunPlan};
//! # fn main() -> dimua_pipeline::Result<()> {
//! let plan = RunPlan::new(RunConfig::load_or_default(None)?)?;
//! let rom = dimua_atari::load_rom(plan.game, &Default::default())?;
//! let dir = std::path::Path::new("runs/example");
//! let output = dimua_pipeline::prepare_run_dir(dir, true)?; // locked; replaced at commit
//! let dir = output.work();
//! dimua_pipeline::pretrain(&plan, Some(&rom), dir, false, &Quiet)?;
//! let encoder = dimua_model::Encoder::load_on(dir.join("encoder.safetensors"), plan.device)?;
//! let set = dimua_pipeline::collect_probe_set(plan.game, &rom, &plan.probe_collection, &Quiet)?;
//! let outcome = dimua_pipeline::probe(&set, Some(&encoder), &plan.probe, &Quiet)?;
//! dimua_pipeline::write_probe_outputs(dir, &outcome, &plan.title())?;
//! output.commit()?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod observer;
pub mod output;
pub mod plan;
pub mod pretrain;
pub mod probe;

pub use config::{Protocol, RunConfig, TrainSection, EMBEDDED_DEFAULT};
pub use error::{PipelineError, Result};
pub use observer::{collect_observed, Event, Observer, Quiet};
pub use output::{
    is_run_file, prepare_run_dir, run_encoder_path, same_file, write_atomic, DirLock, OutputDir,
};
pub use plan::{
    default_threads, DataSource, FrameCounts, ProbeCollection, ProbePlan, RunMethod, RunPlan,
    PROBE_SEED_OFFSET,
};
pub use pretrain::{finish_collection, initial_encoder, pretrain, stream_collection, train_on};
pub use probe::{
    collect_probe_set, probe, read_scored, score_own_heads, write_probe_outputs, ProbeDataSource,
    ProbeInputs, ProbeOutcome, ProbeSet, Scored, ScoredEncoder, SCORED_KEY,
};
