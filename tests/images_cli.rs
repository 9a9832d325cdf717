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
        // A dry run needs no --out (nothing is written): the same list.
        let bare = run(&[
            "images",
            "sweep",
            "--config",
            &format!("configs/images/{config}.toml"),
            "--dry-run",
        ]);
        assert!(bare.status.success(), "{}", text(&bare));
        assert_eq!(text(&bare), t);
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

/// A CIFAR-format folder of `n` train and `m` test records whose class (0..4) is the colour.
fn colour_cifar(dir: &Path, n: usize, m: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let record = |i: usize| {
        let class = (i % 4) as u8;
        let mut r = vec![class];
        for plane in 0..3u8 {
            let on = (class + plane) % 4 < 2;
            r.extend((0..1024).map(|p| if on { 200 } else { (p % 37) as u8 }));
        }
        r
    };
    let file = |k: usize| (0..k).flat_map(record).collect::<Vec<u8>>();
    std::fs::write(dir.join("data_batch_1.bin"), file(n)).unwrap();
    std::fs::write(dir.join("test_batch.bin"), file(m)).unwrap();
}

#[test]
fn a_sweep_skips_its_finished_runs_and_refuses_finished_runs_of_another_config() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    colour_cifar(&data, 48, 8);
    let sweep = tmp.path().join("sweep.toml");
    let sweep_text = format!(
        r#"[base]
method = "simclr"
device = "cpu"
[base.dataset]
format = "cifar10"
path = "{}"
image_size = 8
[base.model]
width = 4
units = 8
[base.train]
epochs = 1
batch_size = 16
[base.eval]
batch_size = 8
epochs = 5
[[grid]]
seed = [1, 2]
"#,
        data.display()
    );
    write(&sweep, &sweep_text);
    let out_dir = tmp.path().join("runs");
    let sweep_args = [
        "images",
        "sweep",
        "--config",
        sweep.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = run(&sweep_args);
    assert!(out.status.success(), "{}", text(&out));
    for seed in [1, 2] {
        assert!(out_dir
            .join(format!("simclr-1x8__s{seed}/eval.json"))
            .is_file());
    }
    let out = run(&sweep_args);
    assert_eq!(
        text(&out).matches("done, skipped").count(),
        2,
        "{}",
        text(&out)
    );
    // The same folders under an edited [base] are not mistaken for this sweep's results.
    write(&sweep, &sweep_text.replace("epochs = 1\n", "epochs = 2\n"));
    let before = std::fs::read(out_dir.join("simclr-1x8__s1/eval.json")).unwrap();
    let out = run(&sweep_args);
    assert!(!out.status.success());
    assert!(text(&out).contains("another config"), "{}", text(&out));
    assert_eq!(
        std::fs::read(out_dir.join("simclr-1x8__s1/eval.json")).unwrap(),
        before
    );
}
