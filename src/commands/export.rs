//! `dimua export`: a self-describing encoder file for RL agents and other consumers: the
//! weights as safetensors whose header carries the description (architecture, input shape and
//! preprocessing, game, method, heads, units, git commit, probe headline), plus the same JSON as
//! a sidecar so `dimua_model::Encoder::load` reads it directly.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use dimua_model::Encoder;

use dimua_pipeline::write_atomic;

/// Flags of `dimua export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run directory holding encoder.safetensors (and probe.json if probed).
    #[arg(long)]
    pub run: PathBuf,
    /// Output file (`NAME.safetensors`; the sidecar `NAME.json` is written beside it).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing `--out` (and its sidecar).
    #[arg(long)]
    pub force: bool,
}

/// Runs `dimua export`.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let weights = dimua_pipeline::run_encoder_path(&args.run)?;
    if args.out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!("--out must end in .safetensors (the sidecar .json goes beside it)");
    }
    let sidecar = args.out.with_extension("json");
    if !args.force {
        if let Some(existing) = [&args.out, &sidecar].into_iter().find(|p| p.exists()) {
            bail!(
                "{} already exists: choose another --out, or pass --force to replace it",
                existing.display()
            );
        }
    }
    // Loading validates the pair (format version, shapes, finite weights) before anything is
    // written.
    let encoder =
        Encoder::load(&args.run).with_context(|| format!("loading {}", weights.display()))?;
    crate::cli::warn_if_unfinished(&encoder, &weights);
    let mut meta = serde_json::to_value(encoder.meta())?;
    let probe = std::fs::read_to_string(args.run.join("probe.json"))
        .ok()
        .filter(|text| match dimua_pipeline::read_scored(text) {
            // Only scores of this very encoder travel with it.
            Ok(Some(scored)) => match scored.check_encoder_in(&args.run) {
                Ok(()) => true,
                Err(why) => {
                    eprintln!("warning: probe scores left out of the export: {why}");
                    false
                }
            },
            Ok(None) => true,
            Err(why) => {
                eprintln!("warning: probe scores left out of the export: probe.json: {why}");
                false
            }
        })
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|p| {
            serde_json::json!({
                "across_categories_f1": p["across_categories_f1"],
                "across_categories_acc": p["across_categories_acc"],
                "overall_f1": p["overall_f1"],
                "overall_acc": p["overall_acc"],
            })
        });
    let spec = encoder.spec();
    meta["export"] = serde_json::json!({
        "dimua_version": env!("CARGO_PKG_VERSION"),
        "git_commit": env!("DIMUA_GIT_COMMIT"),
        "heads": spec.heads,
        "units": spec.units,
        "preprocessing": "u8 frames [B, H, W, C] (ALE screen after the AtariARI wrappers: max of the last two of 4 repeated frames, OpenCV grayscale unless color), permuted to NCHW and divided by 255 on the device",
        "output": "the argmax-membership head's `units` coordinates (Eq. 2)",
        "probe": probe,
    });
    meta["weights"] = serde_json::Value::String(
        args.out
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("encoder.safetensors")
            .to_string(),
    );
    let text = serde_json::to_string_pretty(&meta)?;

    let bytes =
        std::fs::read(&weights).with_context(|| format!("reading {}", weights.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
        anyhow::anyhow!("{} is not a valid safetensors file: {e}", weights.display())
    })?;
    let tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = st.tensors();
    let metadata: HashMap<String, String> =
        HashMap::from([("dimua_encoder".to_string(), serde_json::to_string(&meta)?)]);
    let out_bytes = safetensors::serialize(tensors, Some(metadata))
        .map_err(|e| anyhow::anyhow!("serialising {}: {e}", args.out.display()))?;
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write_atomic(&args.out, &out_bytes)?;
    write_atomic(&sidecar, text.as_bytes())?;
    println!(
        "exported {} ({} {}x{}, game {}) -> {} + {}",
        args.run.display(),
        encoder.meta().method,
        spec.heads,
        spec.units,
        encoder.meta().game.as_deref().unwrap_or("?"),
        args.out.display(),
        args.out.with_extension("json").display()
    );
    Ok(())
}
