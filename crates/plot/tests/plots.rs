//! End-to-end: hand-made run directories and units points in, PNG and SVG files out; bad
//! inputs and unwritable outputs give errors that name the path.

use std::fs;
use std::path::{Path, PathBuf};

use dimua_plot::{plot_run, plot_units_sweep, PlotError, UnitsPoint};

/// Three epochs in the trainer's exact format (`EpochMetrics::to_json`); epoch 0 has no val
/// data yet (nulls), the MMD term is unused (0 throughout).
const METRICS: &str = r#"{"atlas/head_share":null,"atlas/membership_entropy":null,"data/train_frames":800,"data/val_frames":0,"early_stop/best_val_loss":null,"early_stop/counter":0,"early_stop/improved":false,"epoch":0,"hparam/tau":0.1,"loss/train_global_local":4.16,"loss/train_local_local":4.15,"loss/train_membership":-0.30,"loss/train_mmd":0.0,"loss/train_total":8.28,"loss/val_global_local":null,"loss/val_local_local":null,"loss/val_membership":null,"loss/val_mmd":null,"loss/val_total":null,"perf/epoch_s":4.1,"perf/frames_seen":384,"perf/steps_per_s":0.86,"step":3}
{"atlas/head_share":[0.4,0.6],"atlas/membership_entropy":0.52,"data/train_frames":800,"data/val_frames":200,"early_stop/best_val_loss":7.9,"early_stop/counter":0,"early_stop/improved":true,"epoch":1,"hparam/tau":0.1,"loss/train_global_local":3.9,"loss/train_local_local":3.8,"loss/train_membership":-0.40,"loss/train_mmd":0.0,"loss/train_total":7.66,"loss/val_global_local":4.0,"loss/val_local_local":3.9,"loss/val_membership":-0.41,"loss/val_mmd":0.0,"loss/val_total":7.86,"perf/epoch_s":2.6,"perf/frames_seen":768,"perf/steps_per_s":1.5,"step":6}
{"atlas/head_share":[0.1,0.9],"atlas/membership_entropy":0.21,"data/train_frames":800,"data/val_frames":200,"early_stop/best_val_loss":7.5,"early_stop/counter":0,"early_stop/improved":true,"epoch":2,"hparam/tau":0.1,"loss/train_global_local":3.5,"loss/train_local_local":3.3,"loss/train_membership":-0.48,"loss/train_mmd":0.0,"loss/train_total":6.75,"loss/val_global_local":3.7,"loss/val_local_local":3.6,"loss/val_membership":-0.47,"loss/val_mmd":0.0,"loss/val_total":7.25,"perf/epoch_s":2.5,"perf/frames_seen":1152,"perf/steps_per_s":1.6,"step":9}
"#;

/// A probe result as `ProbeResult` serialises it.
const PROBE: &str = r#"{
  "per_label": {"player_y": {"f1": 0.8, "acc": 0.82}, "ball_x": {"f1": 0.3, "acc": 0.35},
                "enemy_score": {"f1": 0.95, "acc": 0.95}},
  "per_category": {"agent_localization": {"f1": 0.8, "acc": 0.82},
                   "small_object_localization": {"f1": 0.3, "acc": 0.35},
                   "score_clock_lives_display": {"f1": 0.95, "acc": 0.95}},
  "across_categories_f1": 0.6833, "across_categories_acc": 0.7067,
  "overall_f1": 0.6833, "overall_acc": 0.7067,
  "label_categories": {"player_y": ["agent_localization"],
                       "ball_x": ["small_object_localization"],
                       "enemy_score": ["score_clock_lives_display"]},
  "n_test": 244
}"#;

fn run_dir(metrics: Option<&str>, probe: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if let Some(m) = metrics {
        fs::write(dir.path().join("metrics.jsonl"), m).unwrap();
    }
    if let Some(p) = probe {
        fs::write(dir.path().join("probe.json"), p).unwrap();
    }
    dir
}

/// PNG signature, an IHDR with a plot-sized canvas, and more bytes than a blank image.
fn assert_png(path: &Path) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(
        (600..=2000).contains(&w) && (300..=2000).contains(&h),
        "{w}x{h}"
    );
    assert!(
        bytes.len() > 10_000,
        "{}: only {} bytes",
        path.display(),
        bytes.len()
    );
}

/// An SVG document holding every `texts` (legend entries, titles).
fn assert_svg(path: &Path, texts: &[&str]) {
    let svg = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for t in texts {
        assert!(svg.contains(t), "{} lacks {t:?}", path.display());
    }
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn full_run_dir_gives_all_four_plots_in_both_formats() {
    let dir = run_dir(Some(METRICS), Some(PROBE));
    let files = plot_run(dir.path()).unwrap();
    assert_eq!(
        names(&files),
        [
            "losses.png",
            "losses.svg",
            "membership_entropy.png",
            "membership_entropy.svg",
            "head_share.png",
            "head_share.svg",
            "probe_f1.png",
            "probe_f1.svg"
        ]
    );
    let plots = dir.path().join("plots");
    for f in &files {
        assert_eq!(f.parent().unwrap(), plots);
        if f.extension().unwrap() == "png" {
            assert_png(f);
        }
    }
    assert_svg(
        &plots.join("losses.svg"),
        &[
            "Losses per epoch",
            "total",
            "global-local (L_GL)",
            "local-local (L_LL)",
            "membership (L_Q)",
            "train (solid)",
            "val (dashed)",
            "epoch",
        ],
    );
    // ln 2 = 0.6931...: the uniform-membership reference of a 2-head atlas.
    assert_svg(
        &plots.join("membership_entropy.svg"),
        &["uniform q: ln 2 = 0.693", "entropy of q (nats)", "2 heads"],
    );
    assert_svg(
        &plots.join("head_share.svg"),
        &["head 0", "head 1", "fraction of val frames"],
    );
    assert_svg(
        &plots.join("probe_f1.svg"),
        &[
            "across categories: F1 0.683, acc 0.707",
            "player_y",
            "ball_x",
            "enemy_score",
            "agent localization",
            "0.950",
        ],
    );
}

#[test]
fn unused_zero_loss_terms_are_left_out() {
    let dir = run_dir(Some(METRICS), None);
    plot_run(dir.path()).unwrap();
    let svg = fs::read_to_string(dir.path().join("plots/losses.svg")).unwrap();
    assert!(!svg.contains("MMD"), "the all-zero MMD term is plotted");
}

#[test]
fn probe_only_dir_gives_only_the_probe_plot() {
    let dir = run_dir(None, Some(PROBE));
    let files = plot_run(dir.path()).unwrap();
    assert_eq!(names(&files), ["probe_f1.png", "probe_f1.svg"]);
}

#[test]
fn losses_only_metrics_give_only_the_loss_plot() {
    let dir = run_dir(
        Some("{\"epoch\":0,\"loss/train_total\":3.0}\n{\"epoch\":1,\"loss/train_total\":2.5}\n"),
        None,
    );
    let files = plot_run(dir.path()).unwrap();
    assert_eq!(names(&files), ["losses.png", "losses.svg"]);
    assert_png(&files[0]);
}

#[test]
fn metrics_without_plottable_values_write_nothing() {
    let dir = run_dir(Some("{\"epoch\":0,\"perf/steps_per_s\":1.0}\n"), None);
    assert!(plot_run(dir.path()).unwrap().is_empty());
    assert!(!dir.path().join("plots").exists());
}

#[test]
fn plotting_twice_overwrites() {
    let dir = run_dir(Some(METRICS), Some(PROBE));
    let first = plot_run(dir.path()).unwrap();
    let second = plot_run(dir.path()).unwrap();
    assert_eq!(first, second);
}

#[test]
fn missing_run_dir_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-run");
    let e = plot_run(&missing).unwrap_err();
    assert!(matches!(e, PlotError::NotARunDir { .. }), "{e}");
    assert!(e.to_string().contains("no-such-run"), "{e}");
}

#[test]
fn empty_run_dir_is_an_error() {
    let dir = run_dir(None, None);
    let e = plot_run(dir.path()).unwrap_err();
    assert!(matches!(e, PlotError::NothingToPlot { .. }), "{e}");
    assert!(e.to_string().contains("metrics.jsonl"), "{e}");
}

#[test]
fn corrupt_metrics_line_is_an_error_with_its_line_number() {
    let dir = run_dir(
        Some("{\"epoch\":0,\"loss/train_total\":1}\nnot json\n"),
        None,
    );
    let e = plot_run(dir.path()).unwrap_err();
    assert!(
        matches!(e, PlotError::BadMetricsLine { line: 2, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("metrics.jsonl"), "{e}");
}

#[test]
fn metrics_line_still_being_written_is_skipped() {
    let dir = run_dir(
        Some("{\"epoch\":0,\"loss/train_total\":1}\n{\"epoch\":1,\"loss/tra"),
        None,
    );
    assert_eq!(plot_run(dir.path()).unwrap().len(), 2);
}

#[test]
fn bad_probe_json_is_an_error() {
    for bad in ["{not json", "[1, 2]", "{\"per_label\": 3}", "{}"] {
        let dir = run_dir(None, Some(bad));
        let e = plot_run(dir.path()).unwrap_err();
        assert!(matches!(e, PlotError::BadProbe { .. }), "{bad}: {e}");
        assert!(e.to_string().contains("probe.json"), "{e}");
    }
}

#[test]
fn unreadable_metrics_is_an_error() {
    // A directory where the file should be: exists, but cannot be read as text.
    let dir = run_dir(None, None);
    fs::create_dir(dir.path().join("metrics.jsonl")).unwrap();
    let e = plot_run(dir.path()).unwrap_err();
    assert!(matches!(e, PlotError::Read { .. }), "{e}");
}

#[test]
fn plots_path_taken_by_a_file_is_an_output_error() {
    let dir = run_dir(Some(METRICS), None);
    fs::write(dir.path().join("plots"), "not a directory").unwrap();
    let e = plot_run(dir.path()).unwrap_err();
    assert!(matches!(e, PlotError::OutputDir { .. }), "{e}");
    assert!(e.to_string().contains("plots"), "{e}");
}

fn sweep() -> Vec<UnitsPoint> {
    let mut points = Vec::new();
    for (i, units) in [256usize, 1024, 4096, 16384].into_iter().enumerate() {
        let x = i as f64;
        points.push(UnitsPoint {
            method: "ST-DIM".into(),
            total_units: units,
            f1_mean: 0.72 - 0.02 * x,
            f1_std: 0.01,
            acc_mean: 0.73 - 0.02 * x,
            acc_std: 0.015,
        });
        points.push(UnitsPoint {
            method: "DIM-UA".into(),
            total_units: units,
            f1_mean: 0.69 + 0.02 * x,
            f1_std: 0.02,
            acc_mean: 0.70 + 0.02 * x,
            acc_std: 0.0,
        });
    }
    points
}

#[test]
fn units_sweep_writes_f1_and_acc_plots() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("figures/sweep");
    let files = plot_units_sweep(&sweep(), &out).unwrap();
    assert_eq!(
        names(&files),
        [
            "f1_vs_units.png",
            "f1_vs_units.svg",
            "acc_vs_units.png",
            "acc_vs_units.svg"
        ]
    );
    assert_png(&out.join("f1_vs_units.png"));
    assert_png(&out.join("acc_vs_units.png"));
    // The paper's axis: every power of two from 256 to 16384 is a tick.
    let ticks = ["256", "512", "1024", "2048", "4096", "8192", "16384"];
    let mut f1_texts = vec!["ST-DIM", "DIM-UA", "Probe F1 vs total hidden units"];
    f1_texts.extend(ticks);
    assert_svg(&out.join("f1_vs_units.svg"), &f1_texts);
    assert_svg(
        &out.join("acc_vs_units.svg"),
        &["ST-DIM", "DIM-UA", "mean probe accuracy"],
    );
}

#[test]
fn units_sweep_single_point_plots() {
    let dir = tempfile::tempdir().unwrap();
    let files = plot_units_sweep(&sweep()[..1], dir.path()).unwrap();
    assert_eq!(files.len(), 4);
}

#[test]
fn units_sweep_rejects_bad_points() {
    let dir = tempfile::tempdir().unwrap();
    let e = plot_units_sweep(&[], dir.path()).unwrap_err();
    assert!(matches!(e, PlotError::BadUnitsPoints { .. }), "{e}");
    type Spoil = fn(&mut UnitsPoint);
    let cases: [(&str, Spoil); 4] = [
        ("total_units", |p| p.total_units = 0),
        ("f1_mean", |p| p.f1_mean = f64::NAN),
        ("acc_std", |p| p.acc_std = -0.1),
        ("f1_std", |p| p.f1_std = f64::INFINITY),
    ];
    for (field, spoil) in cases {
        let mut points = sweep();
        spoil(&mut points[3]);
        let e = plot_units_sweep(&points, dir.path()).unwrap_err();
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "wrote files");
}

#[test]
fn units_sweep_into_a_file_path_is_an_output_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("taken");
    fs::write(&file, "x").unwrap();
    let e = plot_units_sweep(&sweep(), &file.join("sub")).unwrap_err();
    assert!(matches!(e, PlotError::OutputDir { .. }), "{e}");
    assert!(e.to_string().contains("taken"), "{e}");
}
