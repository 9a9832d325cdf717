//! `dimua images` and `dimua report` on image runs, through the real binary: the paper's
//! Table 2 / 5 / 6 sweeps listed with --dry-run, a run on a dimua AtariARI dataset (real
//! emulator, Pong) with one RAM label as the class, the Table 2 layout, and refusals.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dimua"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("dimua runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_table_sweeps_list_their_runs_without_writing_anything() {
    let tmp = tempfile::tempdir().unwrap();
    for (config, runs, one) in [
        ("table2", 63, "[63/63] simclr-ua-8x1024__s3: to run"),
        (
            "table5",
            8,
            "simclr-ua-4x512__clamp-true__fc1-false__fc2-true__s1: to run",
        ),
        (
            "table6",
            8,
            "simclr-ua-8x512__tau-0.02__tau_linear-true__s1: to run",
        ),
    ] {
        let out_dir = tmp.path().join(config);
        let out = run(&[
            "images",
            "sweep",
            "--config",
            &format!("configs/images/{config}.toml"),
            "--out",
            out_dir.to_str().unwrap(),
            "--dry-run",
        ]);
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        assert_eq!(
            t.lines().filter(|l| l.ends_with(": to run")).count(),
            runs,
            "{t}"
        );
        assert!(t.contains(one), "{t}");
        assert!(!out_dir.exists(), "--dry-run wrote {}", out_dir.display());
    }
}

/// `dimua images run --config CONFIG --out OUT`.
fn images_run(config: &Path, out: &Path) -> Output {
    run(&[
        "images",
        "run",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn an_atari_dataset_trains_as_an_image_set_and_reports_as_table_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("pong");
    let out = run(&[
        "collect",
        "--game",
        "pong",
        "--frames",
        "3000",
        "--seed",
        "4",
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let config = tmp.path().join("pong-images.toml");
    write(
        &config,
        &format!(
            r#"method = "simclr-ua"
seed = 2
device = "cpu"
[dataset]
format = "atari"
path = "{}"
label = "enemy_score"
image_size = 32
max_train = 512
[model]
width = 8
heads = 2
units = 16
[train]
epochs = 1
batch_size = 64
[augment]
flip = 0.0
[eval]
batch_size = 32
epochs = 10
"#,
            data.display()
        ),
    );
    let runs = tmp.path().join("runs");
    let run_dir = runs.join("ua");
    let out = images_run(&config, &run_dir);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("simclr-ua: linear-eval accuracy"), "{t}");
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["image_size"], 32);
    assert_eq!(eval["images"][0], 512);
    assert!(eval["classes"].as_u64().unwrap() >= 2);
    // A second run into the same directory is refused and changes nothing.
    let before = std::fs::read(run_dir.join("eval.json")).unwrap();
    let out = images_run(&config, &run_dir);
    assert!(!out.status.success());
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(std::fs::read(run_dir.join("eval.json")).unwrap(), before);
    // `dimua report` makes the Table 2 layout.
    let out = run(&["report", runs.to_str().unwrap()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("Table 2 layout") && t.contains("| simclr-ua | 2 |"),
        "{t}"
    );
    // A label the game does not have is named with the ones it has.
    write(
        &config,
        &std::fs::read_to_string(&config)
            .unwrap()
            .replace("enemy_score", "lives"),
    );
    let out = images_run(&config, &tmp.path().join("bad"));
    let t = text(&out);
    assert!(!out.status.success());
    assert!(t.contains("\"lives\"") && t.contains("enemy_score"), "{t}");
    assert!(!tmp.path().join("bad").exists());
}
