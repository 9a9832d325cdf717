//! Bad input, as a table: every row runs the real binary on one bad flag, config, dataset,
//! encoder or output path and must end with exit code 1 (or 2), a message that names the problem,
//! no panic or backtrace, and no file created, changed or removed anywhere in the fixture
//! directory the commands are pointed at. (Exit code 2 is clap's for a flag value it refuses
//! itself.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dimua() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dimua"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.insert(path.clone(), b"<dir>".to_vec());
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn bad_inputs_fail_cleanly_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let p = |name: &str| t.join(name).to_string_lossy().into_owned();

    // Fixtures: a dataset, a finished run, a run with a NaN encoder, bad files.
    check(
        dimua()
            .args([
                "collect",
                "--game",
                "pong",
                "--frames",
                "800",
                "--streams",
                "2",
                "--out",
            ])
            .arg(t.join("ds")),
    );
    check(
        dimua()
            .args(["run", "--config"])
            .arg(root().join("configs/tiny/pong-random-cnn.toml"))
            .arg("--out")
            .arg(t.join("run")),
    );
    std::fs::create_dir_all(t.join("nan-run")).unwrap();
    for f in ["encoder.json", "config.toml"] {
        std::fs::copy(t.join("run").join(f), t.join("nan-run").join(f)).unwrap();
    }
    let poisoned: Vec<(String, tch::Tensor)> =
        tch::Tensor::read_safetensors(t.join("run/encoder.safetensors"))
            .unwrap()
            .into_iter()
            .map(|(n, x)| (n, x.fill(f64::NAN)))
            .collect();
    tch::Tensor::write_safetensors(&poisoned, t.join("nan-run/encoder.safetensors")).unwrap();
    std::fs::create_dir_all(t.join("corrupt-ds")).unwrap();
    std::fs::write(t.join("corrupt-ds/manifest.json"), "{\"version\": 1").unwrap();
    std::fs::create_dir_all(t.join("mine")).unwrap();
    std::fs::write(t.join("mine/thesis.tex"), "x").unwrap();
    std::fs::create_dir_all(t.join("empty")).unwrap();
    std::fs::write(t.join("a-file"), "x").unwrap();
    std::fs::write(t.join("exists.safetensors"), "x").unwrap();
    let toml = |name: &str, text: &str| {
        std::fs::write(t.join(name), text).unwrap();
        p(name)
    };
    let unknown_key = toml("unknown-key.toml", "game = \"pong\"\nbogus = 1\n");
    let not_toml = toml("not-toml.toml", "game = = pong\n");
    let probe_epochs0 = toml("probe-epochs0.toml", "[probe]\nepochs = 0\n");
    let probe_lr = toml("probe-lr.toml", "[probe]\nlr = -1.0\n");
    let st_dim_4 = toml("st-dim-4.toml", "method = \"st-dim\"\nheads = 4\n");
    let bad_sweep = toml("bad-sweep.toml", "games = 3\n");
    let tiny = root()
        .join("configs/tiny/pong-dim-ua.toml")
        .to_string_lossy()
        .into_owned();

    let o = p("out");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["collect", "--game", "pongg", "--frames", "900", "--out", &o],
            "pongg",
        ),
        (
            vec!["collect", "--game", "pong", "--frames", "0", "--out", &o],
            "--frames",
        ),
        (
            vec![
                "collect",
                "--game",
                "pong",
                "--frames",
                "900",
                "--threads",
                "0",
                "--out",
                &o,
            ],
            "--threads",
        ),
        (
            vec![
                "collect",
                "--game",
                "pong",
                "--frames",
                "900",
                "--streams",
                "0",
                "--out",
                &o,
            ],
            "--streams",
        ),
        (
            vec![
                "collect",
                "--game",
                "pong",
                "--frames",
                "900",
                "--entropy-threshold",
                "NaN",
                "--out",
                &o,
            ],
            "--entropy-threshold",
        ),
        (
            vec![
                "collect",
                "--game",
                "pong",
                "--frames",
                "20000",
                "--streams",
                "1000",
                "--out",
                &o,
            ],
            "--streams",
        ),
        (
            vec![
                "collect", "--game", "pong", "--frames", "900", "--format", "hdf5", "--out", &o,
            ],
            "hdf5",
        ),
        (
            vec![
                "collect",
                "--game",
                "pong",
                "--frames",
                "900",
                "--out",
                &p("ds"),
            ],
            "--force",
        ),
        (
            vec![
                "collect",
                "--game",
                "pong",
                "--frames",
                "900",
                "--out",
                &p("a-file"),
            ],
            "not a directory",
        ),
        (
            vec![
                "collect",
                "--game",
                "pong",
                "--frames",
                "900",
                "--force",
                "--out",
                &p("mine"),
            ],
            "thesis.tex",
        ),
        (
            vec!["run", "--config", &p("missing.toml"), "--out", &o],
            "missing.toml",
        ),
        (vec!["run", "--config", &unknown_key, "--out", &o], "bogus"),
        (
            vec!["run", "--config", &not_toml, "--out", &o],
            "not-toml.toml",
        ),
        (
            vec!["run", "--config", &tiny, "--method", "vq-vae", "--out", &o],
            "vq-vae",
        ),
        (
            vec![
                "run", "--config", &tiny, "--method", "st-dim", "--heads", "4", "--out", &o,
            ],
            "4 heads",
        ),
        (
            vec!["run", "--config", &tiny, "--heads", "0", "--out", &o],
            "heads",
        ),
        (
            vec!["run", "--config", &tiny, "--units", "0", "--out", &o],
            "units",
        ),
        (
            vec![
                "run",
                "--config",
                &tiny,
                "--method",
                "cpc",
                "--frames",
                "1000",
                "--streams",
                "20",
                "--out",
                &o,
            ],
            "100 consecutive frames",
        ),
        (
            vec![
                "run", "--config", &tiny, "--method", "vae", "--heads", "4", "--out", &o,
            ],
            "heads",
        ),
        (
            vec!["run", "--config", &tiny, "--protocol", "paper", "--out", &o],
            "protocol",
        ),
        (
            vec![
                "run",
                "--config",
                &tiny,
                "--units",
                "1000000000",
                "--out",
                &o,
            ],
            "--units",
        ),
        (
            vec!["run", "--config", &tiny, "--device", "tpu", "--out", &o],
            "tpu",
        ),
        (
            vec!["run", "--config", &tiny, "--frames", "0", "--out", &o],
            "frames",
        ),
        (
            vec![
                "run",
                "--config",
                &tiny,
                "--game",
                "nosuchgame",
                "--out",
                &o,
            ],
            "nosuchgame",
        ),
        (
            vec!["run", "--config", &probe_epochs0, "--out", &o],
            "epochs",
        ),
        (vec!["run", "--config", &probe_lr, "--out", &o], "lr"),
        (
            vec!["run", "--config", &tiny, "--out", &p("run")],
            "not empty",
        ),
        (
            vec!["run", "--config", &tiny, "--force", "--out", &p("mine")],
            "thesis.tex",
        ),
        (vec!["train", "--dataset", &p("nope"), "--out", &o], "nope"),
        (
            vec!["train", "--dataset", &p("corrupt-ds"), "--out", &o],
            "corrupt-ds",
        ),
        (vec!["train", "--resume", &p("nope")], "nope"),
        (
            vec!["train", "--resume", &p("run"), "--epochs", "3"],
            "--epochs",
        ),
        (
            vec![
                "train", "--config", &tiny, "--method", "majority", "--out", &o,
            ],
            "majority",
        ),
        (
            vec![
                "probe",
                "--encoder",
                &p("missing.safetensors"),
                "--game",
                "pong",
                "--out",
                &o,
            ],
            "missing",
        ),
        (
            vec!["probe", "--run", &p("empty"), "--out", &o],
            "encoder.safetensors",
        ),
        (
            vec!["probe", "--run", &p("run"), "--epochs", "0", "--out", &o],
            "epochs",
        ),
        (
            vec!["probe", "--run", &p("nan-run"), "--out", &o],
            "non-finite",
        ),
        (
            vec![
                "probe",
                "--run",
                &p("run"),
                "--dataset",
                &p("corrupt-ds"),
                "--out",
                &o,
            ],
            "corrupt-ds",
        ),
        (
            vec!["export", "--run", &p("run"), "--out", &p("x.bin")],
            ".safetensors",
        ),
        (
            vec![
                "export",
                "--run",
                &p("run"),
                "--out",
                &p("exists.safetensors"),
            ],
            "already exists",
        ),
        (
            vec!["export", "--run", &p("nope"), "--out", &p("e.safetensors")],
            "encoder.safetensors",
        ),
        (
            vec![
                "export",
                "--run",
                &p("nan-run"),
                "--out",
                &p("e.safetensors"),
            ],
            "non-finite",
        ),
        (vec!["config", "show", &p("missing.toml")], "missing.toml"),
        (vec!["config", "show", "/dev/zero"], "not a dimua config"),
        (vec!["config", "show", &st_dim_4], "4 heads"),
        (vec!["report", &p("empty")], "no finished run"),
        (vec!["report", &p("nope")], "not a directory"),
        (
            vec!["sweep", "--config", &p("missing.toml"), "--out", &o],
            "missing.toml",
        ),
        (
            vec!["sweep", "--config", &bad_sweep, "--out", &o],
            "bad-sweep.toml",
        ),
        (vec!["roms", "import", &p("nope.bin")], "nope.bin"),
        (
            vec!["bench", "train", "--method", "random-cnn"],
            "random-cnn",
        ),
    ]
    .into_iter()
    .map(|(args, needle)| (args.into_iter().map(String::from).collect(), needle))
    .collect();
    assert!(cases.len() >= 40);

    let before = snapshot(t);
    let mut failures = Vec::new();
    for (args, needle) in &cases {
        let out = dimua().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let problems: Vec<&str> = [
            (
                !matches!(out.status.code(), Some(1) | Some(2)),
                "exit code is not 1 (2: a flag clap refused)",
            ),
            (!err.contains(needle), "message does not name the problem"),
            (
                err.contains("panicked") || err.contains("backtrace"),
                "panic",
            ),
        ]
        .into_iter()
        .filter_map(|(bad, what)| bad.then_some(what))
        .collect();
        if !problems.is_empty() {
            failures.push(format!(
                "dimua {}: {} ({:?}, wanted {needle:?}): {err}",
                args.join(" "),
                problems.join(", "),
                out.status.code()
            ));
        }
        let after = snapshot(t);
        if after != before {
            let changed: Vec<_> = after
                .keys()
                .chain(before.keys())
                .filter(|k| after.get(*k) != before.get(*k))
                .collect();
            failures.push(format!("dimua {}: changed {changed:?}", args.join(" ")));
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
