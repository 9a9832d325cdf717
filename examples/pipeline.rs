//! The `dimua run` pipeline in library calls: collect -> pretrain -> probe on a tiny budget.
//!
//! ```text
//! cargo run --release --example pipeline -- /tmp/pipeline-example
//! ```
//!
//! Every value comes from one validated [`RunPlan`]; the stages report to an [`Observer`]
//! (here [`Quiet`]: no progress bars, no Ctrl-C handling).

use std::path::PathBuf;

use dimua_model::Encoder;
use dimua_pipeline::{Quiet, RunConfig, RunPlan};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or("runs/pipeline-example".into()),
    );
    // The plan: a tiny DIM-UA run on Pong, checked once before any work.
    let mut config = RunConfig::load_or_default(None)?;
    config.frames = 2_000;
    config.probe_frames = 2_000;
    (config.heads, config.units) = (Some(2), Some(32));
    (config.train.epochs, config.train.batch_size) = (2, 32);
    config.train.wait_for_collection = true;
    config.probe.epochs = 3;
    config.device = "cpu".into();
    let plan = RunPlan::new(config)?;
    let rom = dimua_atari::load_rom(plan.game, &Default::default())?;

    // Stage 1+2: the pretraining collection streamed into the trainer.
    // The output directory is locked; with `true` (--force) an earlier run there is replaced
    // only once this one is complete, so everything is written into `dir` first.
    let output = dimua_pipeline::prepare_run_dir(&out, true)?;
    let dir = output.work();
    let report = dimua_pipeline::pretrain(&plan, Some(&rom), dir, false, &Quiet)?;
    println!(
        "pretrained {} epochs -> {}",
        report.epochs_completed,
        report.encoder_path.display()
    );

    // Stage 3: a separately seeded probe collection, features once per frame, all probes.
    let encoder = Encoder::load_on(&report.encoder_path, plan.device)?;
    let set = dimua_pipeline::collect_probe_set(plan.game, &rom, &plan.probe_collection, &Quiet)?;
    let outcome = dimua_pipeline::probe(&set, Some(&encoder), &plan.probe, &Quiet)?;
    dimua_pipeline::write_probe_outputs(dir, &outcome, &plan.title())?;
    output.commit()?;
    println!(
        "{}: across-categories F1 {:.3} over {} labels",
        plan.title(),
        outcome.result.across_categories_f1.unwrap_or(f64::NAN),
        outcome.labels.len()
    );
    Ok(())
}
