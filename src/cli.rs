//! The CLI pieces shared by several commands: the ROM flags, the pretraining flags of
//! `dimua run` and `dimua train` resolved into one [`RunConfig`] (then one [`RunPlan`]), and
//! the `dimua run` composition that `dimua sweep` repeats. No command module imports another;
//! they all build on this module and on `dimua_pipeline`.

use std::path::{Path, PathBuf};

use clap::Args;
use dimua_atari::{Game, Rom, RomOptions};
use dimua_model::Encoder;
use dimua_pipeline::{RunConfig, RunMethod, RunPlan};

use crate::progress;

/// ROM flags shared by every command that runs the emulator.
#[derive(Debug, Clone, Args, Default)]
pub struct RomArgs {
    /// Directory of imported canonical ROMs (default: $DIMUA_ROM_DIR or ~/.cache/dimua/roms).
    #[arg(long, global = true)]
    pub rom_dir: Option<PathBuf>,
    /// Use this ROM file instead (md5-checked against the canonical dump).
    #[arg(long, global = true)]
    pub rom_file: Option<PathBuf>,
    /// Accept a --rom-file whose md5 is not the canonical one (at your own risk: some dumps
    /// crash the emulator).
    #[arg(long, global = true)]
    pub allow_unknown_rom: bool,
}

impl RomArgs {
    /// The ROM options these flags describe.
    pub fn options(&self) -> RomOptions {
        RomOptions {
            rom_file: self.rom_file.clone(),
            allow_unknown_rom: self.allow_unknown_rom,
            rom_dir: self.rom_dir.clone(),
            ..RomOptions::default()
        }
    }

    /// Loads the canonical ROM of `game` (imported store first, then a canonical bundled dump).
    pub fn load(&self, game: &'static Game) -> anyhow::Result<Rom> {
        Ok(dimua_atari::load_rom(game, &self.options())?)
    }
}

/// The pretraining flags shared by `dimua run` and `dimua train`; each overrides the same
/// field of the config file.
#[derive(Debug, Clone, Args, Default)]
pub struct RunFlags {
    /// TOML config (default: the embedded quick DIM-UA-on-Pong config).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Game: ALE ROM name, AtariARI key or gym id (`dimua train --dataset` uses the dataset's).
    #[arg(long)]
    pub game: Option<String>,
    /// Method: vae, cpc, st-dim, dim-ua, minus-ua, plus-mmd, pixel-pred, random-cnn,
    /// supervised (or majority with `dimua run`).
    /// Switching between the one-head and the atlas methods drops the config file's
    /// heads/units for the new method's defaults (1x256, 4x512) unless --heads/--units are given.
    #[arg(long)]
    pub method: Option<String>,
    /// Atlas heads n.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Units per head d.
    #[arg(long)]
    pub units: Option<usize>,
    /// Pretraining frames to collect.
    #[arg(long)]
    pub frames: Option<usize>,
    /// Maximum pretraining epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Master seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// Collector threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Bit-reproducible pretraining: the first step waits until the streamed collection is
    /// complete (sets `[train] wait_for_collection`; costs the collection time, seconds).
    #[arg(long)]
    pub reproducible: bool,
    /// `reference` (the AtariARI / DIM-UA code's choices: last-epoch encoder, last probe
    /// weights, resampled val/test scoring) or `dimua` (best-validation encoder and probes,
    /// every val/test frame once); sets those four switches, overriding the config file's.
    #[arg(long)]
    pub protocol: Option<String>,
    /// fp32 or bf16: the precision of pretraining and of the probe features (sets `[train]
    /// precision` and `[probe] precision`). bf16 runs convolutions and matrix products in
    /// bfloat16 with fp32 master weights; fast on CPUs with avx512_bf16/AMX and on GPUs.
    #[arg(long)]
    pub precision: Option<dimua_model::Precision>,
}

/// The flags only `dimua run` has besides [`RunFlags`]; each overrides the same field of the
/// config file.
#[derive(Debug, Clone, Args, Default)]
pub struct RunOnlyFlags {
    /// Probe frames.
    #[arg(long)]
    pub probe_frames: Option<usize>,
    /// Maximum probe epochs.
    #[arg(long)]
    pub probe_epochs: Option<usize>,
    /// Environment streams per collection.
    #[arg(long)]
    pub streams: Option<u32>,
    /// RGB frames.
    #[arg(long)]
    pub color: bool,
    /// Weight of L_Q.
    #[arg(long)]
    pub tau: Option<f64>,
}

/// The config file (or the embedded default) with every given flag applied.
pub fn resolve_config(f: &RunFlags, run: &RunOnlyFlags) -> anyhow::Result<RunConfig> {
    let mut c = RunConfig::load_or_default(f.config.as_deref())?;
    if let Some(m) = &f.method {
        c.set_method(m);
    }
    macro_rules! set {
        ($($flag:expr => $field:expr),* $(,)?) => {
            $(if let Some(v) = $flag.clone() { $field = v; })*
        };
    }
    set!(f.game => c.game, f.frames => c.frames,
         run.probe_frames => c.probe_frames, f.seed => c.seed, f.device => c.device,
         run.streams => c.streams, f.epochs => c.train.epochs,
         run.probe_epochs => c.probe.epochs, run.tau => c.train.tau);
    if f.heads.is_some() {
        c.heads = f.heads;
    }
    if f.units.is_some() {
        c.units = f.units;
    }
    if f.threads.is_some() {
        c.threads = f.threads;
    }
    if run.color {
        c.color = true;
    }
    if f.reproducible {
        c.train.wait_for_collection = true;
    }
    if let Some(p) = f.precision {
        c.train.precision = p;
        c.probe.precision = p;
    }
    if let Some(p) = &f.protocol {
        c.protocol = dimua_pipeline::Protocol::parse(p)?;
        c.apply_protocol(None);
    }
    Ok(c)
}

/// Runs one planned `dimua run` into `out`: pretraining (or the random encoder), the probe
/// collection, the probes, `probe.json` + `report.md` + plots, and the summary line.
pub fn run_plan(plan: &RunPlan, rom: &RomArgs, out: &Path, force: bool) -> anyhow::Result<()> {
    let rom = rom.load(plan.game)?;
    // With --force on an existing run the new run is written beside it and replaces it only
    // once complete; `dir` is where this run writes.
    let output = dimua_pipeline::prepare_run_dir(out, force)?;
    let dir = output.work();
    eprintln!(
        "dimua run: {} {}, {} pretraining + {} probe frames, device {:?}, out {}",
        plan.game.name,
        plan.config.method,
        plan.frames.pretrain,
        plan.frames.probe,
        plan.device,
        out.display()
    );
    let display = progress::Display::default();
    let trains = matches!(plan.method, RunMethod::Encoder(m) if m.trains());
    let stages = progress::Stages::new(
        "dimua run",
        match plan.method {
            RunMethod::Majority => 2,
            RunMethod::Encoder(_) if trains => 5,
            RunMethod::Encoder(_) => 4,
        },
    );
    if trains {
        // Too few probe frames for the game (no long enough episode in a split, or no label
        // left after the entropy filter) must fail before pretraining (hours at the paper's
        // budgets), with nothing written: collect the probe set once and check it. It is
        // dropped, not kept through training, so as not to add its memory to the trainer's;
        // the collection after training is the same (seeded, deterministic).
        progress::stage("probe data check (the probe collection, before pretraining)");
        drop(dimua_pipeline::collect_probe_set(
            plan.game,
            &rom,
            &plan.probe_collection,
            &display,
        )?);
    }
    dimua_pipeline::write_atomic(&dir.join("config.toml"), plan.config.to_toml().as_bytes())?;
    let encoder = match plan.method {
        RunMethod::Majority => None,
        RunMethod::Encoder(m) if !m.trains() => {
            progress::stage("random encoder (no pretraining)");
            // The same seeded weights `dimua train --method random-cnn` writes, no data needed.
            dimua_pipeline::initial_encoder(plan, plan.frame_shape(&rom)?, dir)?;
            Some(Encoder::load_on(
                dir.join("encoder.safetensors"),
                plan.device,
            )?)
        }
        RunMethod::Encoder(_) => {
            progress::stage("pretraining (collection streamed into the trainer)");
            dimua_pipeline::pretrain(plan, Some(&rom), dir, false, &display)?;
            Some(Encoder::load_on(
                dir.join("encoder.safetensors"),
                plan.device,
            )?)
        }
    };
    progress::stage("probe data (separately seeded collection)");
    let set = dimua_pipeline::collect_probe_set(plan.game, &rom, &plan.probe_collection, &display)?;
    let mut outcome = dimua_pipeline::probe(&set, encoder.as_ref(), &plan.probe, &display)?;
    if let Some(encoder) = &encoder {
        let dataset = match &plan.source {
            dimua_pipeline::DataSource::Dataset(data) => Some(data.as_path()),
            dimua_pipeline::DataSource::Stream => None,
        };
        outcome.own_heads = score_exported_heads(dir, plan.game, dataset, &set, encoder, &display)?;
    }
    let title = plan.title();
    dimua_pipeline::write_probe_outputs(dir, &outcome, &title)?;
    progress::plot_run(dir);
    drop(stages);
    output.commit()?;
    let r = &outcome.result;
    println!(
        "{}: across-categories F1 {:.3} acc {:.3}, overall F1 {:.3} acc {:.3} over {} labels -> {}",
        title,
        r.across_categories_f1.unwrap_or(f64::NAN),
        r.across_categories_acc.unwrap_or(f64::NAN),
        r.overall_f1,
        r.overall_acc,
        outcome.labels.len(),
        out.join("probe.json").display()
    );
    print_own_heads(&title, outcome.own_heads.as_ref());
    Ok(())
}

/// Scores the label heads a run exported beside its encoder (`heads.safetensors` in
/// `run_dir`, from `supervised`) on the probe set's test frames; `None` without such a file.
/// The heads were trained on the game's AtariARI labels, or on `dataset`'s kept labels.
pub fn score_exported_heads(
    run_dir: &Path,
    game: &'static Game,
    dataset: Option<&Path>,
    set: &dimua_pipeline::ProbeSet,
    encoder: &Encoder,
    observer: &dyn dimua_pipeline::Observer,
) -> anyhow::Result<Option<dimua_probe::ProbeResult>> {
    let heads_file = run_dir.join(dimua_train::HEADS_FILE);
    if !heads_file.is_file() {
        return Ok(None);
    }
    let trained: Vec<String> = match dataset {
        None => dimua_atari::labels(game)
            .unwrap_or_default()
            .iter()
            .map(|l| l.name.to_string())
            .collect(),
        Some(data) => dimua_collect::Dataset::read_manifest(data)?
            .labels
            .into_iter()
            .map(|l| l.name)
            .collect(),
    };
    Ok(Some(dimua_pipeline::score_own_heads(
        set,
        encoder,
        &heads_file,
        &trained,
        observer,
    )?))
}

/// Prints the summary line of a method's own label heads, when it has them.
pub fn print_own_heads(title: &str, heads: Option<&dimua_probe::ProbeResult>) {
    if let Some(heads) = heads {
        println!(
            "{title}: its own label heads (AtariARI's fully supervised numbers): \
             across-categories F1 {:.3} acc {:.3}",
            heads.across_categories_f1.unwrap_or(f64::NAN),
            heads.across_categories_acc.unwrap_or(f64::NAN)
        );
    }
}

/// Warns when `encoder` comes from a pretraining run that did not finish (its `encoder.json`
/// says `"training": "running"`): `dimua probe` and `dimua export` still proceed.
pub fn warn_if_unfinished(encoder: &dimua_model::Encoder, path: &Path) {
    if encoder.meta().training_unfinished() {
        eprintln!(
            "warning: {} comes from a pretraining run that did not finish (interrupted, or still \
             running): finish it first with `dimua train --resume DIR`",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(config: Option<&str>, method: &str, heads: Option<usize>) -> (usize, usize) {
        let flags = RunFlags {
            config: config.map(|c| Path::new(env!("CARGO_MANIFEST_DIR")).join(c)),
            method: Some(method.to_string()),
            heads,
            ..RunFlags::default()
        };
        let p = RunPlan::new(resolve_config(&flags, &RunOnlyFlags::default()).unwrap()).unwrap();
        (p.heads, p.units)
    }

    #[test]
    fn method_flag_across_families_takes_the_new_methods_architecture() {
        // Embedded default is DIM-UA 4x512: ST-DIM and the random CNN get 1x256.
        assert_eq!(plan(None, "st-dim", None), (1, 256));
        assert_eq!(plan(None, "random-cnn", None), (1, 256));
        // Same family: the file's architecture stays.
        assert_eq!(plan(None, "minus-ua", None), (4, 512));
        let tiny = Some("configs/tiny/pong-dim-ua.toml");
        assert_eq!(plan(tiny, "plus-mmd", None), (2, 32));
        assert_eq!(
            plan(Some("configs/tiny/pong-st-dim.toml"), "dim-ua", None),
            (4, 512)
        );
        // Explicit flags win; --heads alone keeps the method's default units.
        assert_eq!(plan(tiny, "st-dim", Some(1)), (1, 256));
        assert_eq!(plan(tiny, "dim-ua", Some(8)), (8, 32));
    }
}

/// The environment flags shared by `dimua replay` and `dimua bench env`: a preset, and any
/// option of it overridden on its own.
#[derive(Debug, Clone, Args)]
pub struct EnvFlags {
    /// Game: ALE ROM name, AtariARI key or gym id.
    #[arg(long)]
    pub game: String,
    /// Preset: atariari, dqn, machado or gymnasium (docs/rl-env.md lists what each sets).
    #[arg(long, default_value = "dqn")]
    pub preset: String,
    /// Override: up to this many NOOP frames after a real reset (0: none).
    #[arg(long)]
    pub noop_max: Option<u32>,
    /// Override: emulator frames per agent step.
    #[arg(long)]
    pub frame_skip: Option<u32>,
    /// Override: max of the last two frames (true) or the last frame (false).
    #[arg(long)]
    pub max_pool: Option<bool>,
    /// Override: a lost life ends the learner's episode.
    #[arg(long)]
    pub episodic_life: Option<bool>,
    /// Override: press FIRE then UP after resets (games with FIRE).
    #[arg(long)]
    pub fire_reset: Option<bool>,
    /// Override: RGB observations instead of grayscale.
    #[arg(long)]
    pub color: Option<bool>,
    /// Override: gray frames as `opencv` (RGB max, then OpenCV's RGB->gray: SB3, cleanrl) or
    /// `ale` (ALE's gray levels, then the max: gymnasium, envpool).
    #[arg(long)]
    pub gray: Option<dimua_env::Gray>,
    /// Override: area-resize frames to HEIGHTxWIDTH (e.g. 84x84), or `none`.
    #[arg(long)]
    pub resize: Option<String>,
    /// Override: frames per stacked observation.
    #[arg(long)]
    pub frame_stack: Option<usize>,
    /// Override: sticky-action probability (ALE repeat_action_probability).
    #[arg(long)]
    pub sticky_actions: Option<f32>,
    /// Override: all 18 actions instead of the game's minimal set.
    #[arg(long)]
    pub full_action_set: Option<bool>,
    /// Override: truncate games after this many emulator frames (0: never).
    #[arg(long)]
    pub max_episode_frames: Option<u64>,
}

impl EnvFlags {
    /// The preset's options with the overrides applied, validated.
    pub fn options(&self) -> anyhow::Result<dimua_env::EnvOptions> {
        let preset: dimua_env::Preset = self.preset.parse()?;
        let mut o = preset.options();
        macro_rules! set {
            ($($field:ident <- $flag:ident),*) => {
                $(if let Some(v) = self.$flag { o.$field = v; })*
            };
        }
        set!(noop_max <- noop_max, frame_skip <- frame_skip, max_pool <- max_pool,
             episodic_life <- episodic_life, fire_reset <- fire_reset, color <- color,
             gray <- gray,
             frame_stack <- frame_stack, repeat_action_probability <- sticky_actions,
             full_action_set <- full_action_set, max_episode_frames <- max_episode_frames);
        if let Some(text) = &self.resize {
            o.resize = parse_resize(text)?;
        }
        o.validate()?;
        Ok(o)
    }
}

/// `84x84` -> `Some([84, 84])`; `none` -> `None`.
fn parse_resize(text: &str) -> anyhow::Result<Option<[usize; 2]>> {
    let t = text.trim().to_ascii_lowercase();
    if t == "none" {
        return Ok(None);
    }
    let parsed = t
        .split_once('x')
        .and_then(|(h, w)| Some([h.trim().parse().ok()?, w.trim().parse().ok()?]));
    match parsed {
        Some(size) => Ok(Some(size)),
        None => anyhow::bail!("--resize {text:?}: write HEIGHTxWIDTH (such as 84x84) or none"),
    }
}
