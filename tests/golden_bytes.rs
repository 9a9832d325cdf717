//! Golden bytes: fixed commands must keep writing exactly the bytes recorded before the
//! "one plan, one seam per stage" refactor (recorded with the binary of commit 7f2bcd4 on a
//! 2-core AMD EPYC Zen 5, 2026-11-30). A behaviour change anywhere in collection, training
//! or probing shows up here as a changed sha256.
//!
//! libtorch and MKL pick kernels by CPU and split reductions by thread count, so the
//! commands run with both pinned (one thread, baseline ISA, MKL's compatible code path):
//! the hashes then do not depend on the machine that runs the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Environment that makes libtorch's CPU results independent of the CPU model and core count.
const PORTABLE_NUMERICS: [(&str, &str); 5] = [
    ("ATEN_CPU_CAPABILITY", "default"),
    ("ONEDNN_MAX_CPU_ISA", "SSE41"),
    ("MKL_CBWR", "COMPATIBLE"),
    ("OMP_NUM_THREADS", "1"),
    ("MKL_NUM_THREADS", "1"),
];

/// `dimua run --reproducible --threads 2 --config configs/tiny/pong-dim-ua.toml`.
const DIM_UA: [(&str, &str); 2] = [
    (
        "encoder.safetensors",
        "ba38f827b077d2c4156cdaebe2df08862225fd6e64f73d1e4488afbcc82aa729",
    ),
    (
        "probe.json",
        "0bd4452494ef06625effd2322b81cb97a0a415b6b393dce9004e72ed5808f381",
    ),
];

/// `dimua run --reproducible --threads 2 --config configs/tiny/pong-st-dim.toml`.
const ST_DIM: [(&str, &str); 2] = [
    (
        "encoder.safetensors",
        "32c2bbf8576977ee179bc5b7f36fc6e28c959b8bfb5b0119168fa4af48e28cc8",
    ),
    (
        "probe.json",
        "e806f3aa39e3af08a7daf7b7674edbb743206be60b248f504c1fa5ff514432d7",
    ),
];

/// `dimua collect --game pong --frames 3000 --threads 2 --seed 5` (the same with 1 thread).
const SAFETENSORS_DATASET: [(&str, &str); 2] = [
    (
        "manifest.json",
        "aa6d6d7ef1dd432a8b5c3d1ec3fb610034ae81df64af32e0b5a9e66ac3e056d7",
    ),
    (
        "shard-00000.safetensors",
        "b1e690e16cd42b4469b45a6e4ac3894809992dd3c0563f948fd9c3d624c3deb4",
    ),
];

/// The same with `--format npz`.
const NPZ_DATASET: [(&str, &str); 2] = [
    (
        "manifest.json",
        "3d0b3ebd901b59fc080b9ad5d72710e0e5aa20c870458389e4d43ea720501b02",
    ),
    (
        "shard-00000.npz",
        "c60eaf6f012b844d51a19fd6680bfad697dbf46fc2c2c4e9889c6f22f6ab3801",
    ),
];

fn dimua() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dimua"));
    c.envs(PORTABLE_NUMERICS);
    c
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(mut cmd: Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn tiny_run_hashes(config: &str) -> BTreeMap<&'static str, String> {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut cmd = dimua();
    cmd.args(["run", "--reproducible", "--threads", "2", "--config"])
        .arg(root().join(config))
        .arg("--out")
        .arg(&out);
    check(cmd);
    ["encoder.safetensors", "probe.json"]
        .into_iter()
        .map(|f| (f, sha256(&out.join(f))))
        .collect()
}

fn assert_hashes(what: &str, got: BTreeMap<&'static str, String>, want: &[(&str, &str)]) {
    for (file, hash) in want {
        assert_eq!(
            got.get(file).map(String::as_str),
            Some(*hash),
            "{what}: {file} changed (all: {got:?})"
        );
    }
}

#[test]
fn tiny_dim_ua_run_bytes_are_unchanged() {
    let got = tiny_run_hashes("configs/tiny/pong-dim-ua.toml");
    assert_hashes("dim-ua", got, &DIM_UA);
}

#[test]
fn tiny_st_dim_run_bytes_are_unchanged() {
    let got = tiny_run_hashes("configs/tiny/pong-st-dim.toml");
    assert_hashes("st-dim", got, &ST_DIM);
}

fn collect_hashes(format: &str) -> Vec<(String, String)> {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    let mut cmd = dimua();
    cmd.args([
        "collect",
        "--game",
        "pong",
        "--frames",
        "3000",
        "--threads",
        "2",
    ])
    .args(["--seed", "5", "--format", format, "--out"])
    .arg(&out);
    check(cmd);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| (n.clone(), sha256(&out.join(n))))
        .collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, h)| (n.to_string(), h.to_string()))
        .collect()
}

#[test]
fn collected_dataset_bytes_are_unchanged() {
    assert_eq!(
        collect_hashes("safetensors"),
        owned(&SAFETENSORS_DATASET),
        "the safetensors dataset's files or bytes changed"
    );
    assert_eq!(
        collect_hashes("npz"),
        owned(&NPZ_DATASET),
        "the npz dataset's files or bytes changed"
    );
}
