//! Owns the Rust <-> Python encoder interop check: an encoder saved by Rust
//! (`Encoder::save`) and loaded in plain PyTorch by `examples/python_features.py` gives the
//! same features as `Encoder::encode` on real Pong frames (max |diff| <= 1e-5), including
//! which head the argmax membership picks. Needs the project venv (scripts/bootstrap.sh).
//!
//! Run with `cargo test --test python_interop -- --nocapture` to see the measured diffs.

mod common;

use std::path::Path;
use std::process::Command;

use common::{python, root};
use std::sync::Mutex;

use dimua_atari::{load_rom, resolve_game, AtariAriEnv, EnvConfig, RomOptions};
use dimua_model::{Encoder, EncoderSpec, FrameShape, Method};
use tch::{Device, Kind, Tensor};

/// Rust and PyTorch run the same float32 ops in a different order (Rust folds the 1/255 into
/// conv1's weight; the script divides the frames), so they agree to rounding, not bit for bit.
const TOLERANCE: f32 = 1e-5;
/// Frames taken from the Pong rollout.
const FRAMES: usize = 8;

/// A freshly initialised encoder drawn after `tch::manual_seed(seed)`. The seed and the draw
/// happen under one lock because libtorch's generator is global and tests run in parallel.
fn seeded_encoder(seed: i64, method: Method, heads: usize, units: usize) -> Encoder {
    static INIT: Mutex<()> = Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed);
    let spec = EncoderSpec::new(FrameShape::ATARI_GRAY, heads, units).unwrap();
    Encoder::new(spec, method, Some("pong".into()), Device::Cpu).unwrap()
}

/// `FRAMES` real Pong observations `[FRAMES, 210, 160, 1]`: the reset frame, then every 9th
/// frame of a rollout cycling through the non-NOOP actions (so the ball and paddles move).
fn pong_frames() -> Vec<u8> {
    let game = resolve_game("pong").unwrap();
    let rom = load_rom(game, &RomOptions::default()).unwrap_or_else(|e| {
        panic!("no Pong ROM ({e}): run scripts/bootstrap.sh first (it imports the ROMs)")
    });
    let mut env = AtariAriEnv::new(
        &rom,
        EnvConfig {
            seed: 3,
            ..EnvConfig::default()
        },
    )
    .unwrap();
    env.reset();
    let n = env.num_actions();
    let mut frames = env.observation().to_vec();
    let mut step = 0;
    while frames.len() < FRAMES * FrameShape::ATARI_GRAY.bytes() {
        step += 1;
        let outcome = env.step(1 + step % (n - 1)).unwrap();
        if outcome.done {
            env.reset();
        }
        if step % 9 == 0 {
            frames.extend_from_slice(env.observation());
        }
    }
    frames
}

/// Writes a C-order u8 array as NumPy's `.npy` (format 1.0: magic, version, u16 header
/// length, a Python dict literal padded with spaces to a multiple of 64 bytes, then the data).
fn write_npy_u8(path: &Path, data: &[u8], shape: &[usize]) {
    assert_eq!(data.len(), shape.iter().product::<usize>());
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// Reads a little-endian float32 C-order `.npy` (format 1.x or 2.x) as (shape, data).
fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..6],
        b"\x93NUMPY",
        "{} is not a .npy file",
        path.display()
    );
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_else(|| panic!("no shape in {header}"))
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let data: Vec<f32> = bytes[start + len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(data.len(), shape.iter().product::<usize>(), "{header}");
    (shape, data)
}

/// Runs examples/python_features.py on `frames`; returns (features, membership) as
/// (shape, data) pairs.
#[allow(clippy::type_complexity)]
fn python_features(
    encoder_dir: &Path,
    frames: &[u8],
) -> ((Vec<usize>, Vec<f32>), (Vec<usize>, Vec<f32>)) {
    let dir = tempfile::tempdir().unwrap();
    let (input, out, q) = (
        dir.path().join("frames.npy"),
        dir.path().join("features.npy"),
        dir.path().join("membership.npy"),
    );
    write_npy_u8(&input, frames, &[FRAMES, 210, 160, 1]);
    let output = Command::new(python())
        .arg(root().join("examples/python_features.py"))
        .args([encoder_dir, &input, &out])
        .arg("--membership")
        .arg(&q)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python_features.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    print!("python: {stdout}");
    (read_npy_f32(&out), read_npy_f32(&q))
}

fn frames_tensor(frames: &[u8]) -> Tensor {
    Tensor::from_slice(frames).view([FRAMES as i64, 210, 160, 1])
}

/// Rust's soft membership `[B, n]` of `frames`.
fn rust_membership(enc: &Encoder, frames: &Tensor) -> Option<Tensor> {
    tch::no_grad(|| {
        let trunk = enc.net().backbone.forward(frames).unwrap();
        enc.net().atlas.membership(&trunk.flat).unwrap()
    })
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn argmax_rows(q: &[f32], heads: usize) -> Vec<usize> {
    q.chunks(heads)
        .map(|row| {
            (0..heads)
                .max_by(|&i, &j| row[i].total_cmp(&row[j]))
                .unwrap()
        })
        .collect()
}

/// Saves `enc`, runs the Python script, and checks features (and membership) against Rust.
/// Returns the argmax heads Python chose.
fn check_against_python(enc: &Encoder, frames: &[u8], label: &str) -> Vec<usize> {
    let dir = tempfile::tempdir().unwrap();
    enc.save(dir.path()).unwrap();
    let x = frames_tensor(frames);
    let rust = Vec::<f32>::try_from(&enc.encode(&x).unwrap().flatten(0, -1)).unwrap();
    let ((shape, py), (q_shape, py_q)) = python_features(dir.path(), frames);
    let d = enc.feature_dim();
    assert_eq!(shape, vec![FRAMES, d]);
    let diff = max_abs_diff(&rust, &py);
    let scale = rust.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let heads = enc.spec().heads;
    assert_eq!(q_shape, vec![FRAMES, heads]);
    let py_heads = argmax_rows(&py_q, heads);
    let q_diff = match rust_membership(enc, &x) {
        Some(q) => {
            let q = Vec::<f32>::try_from(&q.flatten(0, -1)).unwrap();
            assert_eq!(argmax_rows(&q, heads), py_heads, "argmax heads differ");
            max_abs_diff(&q, &py_q)
        }
        None => 0.0,
    };
    println!(
        "{label}: {FRAMES} Pong frames, features [{FRAMES}, {d}] (max |z| {scale:.3}): \
         max |rust - python| = {diff:.3e}; membership max diff {q_diff:.3e}; argmax heads \
         {py_heads:?}"
    );
    assert!(
        diff <= TOLERANCE,
        "{label}: Rust and Python features differ by {diff:e} > {TOLERANCE:e}"
    );
    assert!(
        q_diff <= TOLERANCE,
        "{label}: membership differs by {q_diff:e}"
    );
    py_heads
}

/// A two-head DIM-UA encoder whose membership bias is shifted so that the argmax picks head
/// 0 for some frames and head 1 for the others: both branches of Eq. 2 are compared.
#[test]
fn python_matches_rust_features_two_heads_argmax() {
    let enc = seeded_encoder(7, Method::DimUa, 2, 16);
    let frames = pong_frames();
    let x = frames_tensor(&frames);

    // Logit gap l0 - l1 per frame; put the decision boundary in the middle of the widest gap
    // between consecutive frames, so rounding cannot flip a frame's head.
    let q = rust_membership(&enc, &x).unwrap();
    let gap = (q.select(1, 0).log() - q.select(1, 1).log()).to_kind(Kind::Double);
    let mut gaps = Vec::<f64>::try_from(&gap).unwrap();
    gaps.sort_by(f64::total_cmp);
    let (lo, hi) = gaps
        .windows(2)
        .map(|w| (w[0], w[1]))
        .max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)))
        .unwrap();
    let margin = (hi - lo) / 2.0;
    assert!(
        margin > 1e-4,
        "Pong frames too alike to split the heads: {gaps:?}"
    );
    let shift = (lo + hi) / 2.0;
    let bias = enc.var_store().variables()["atlas.membership.bias"].shallow_clone();
    tch::no_grad(|| {
        let mut bias = bias;
        let _ = bias
            .f_sub_(&Tensor::from_slice(&[shift as f32, 0.0]))
            .unwrap();
    });
    println!("membership bias shifted by {shift:.4}; logit margin {margin:.4}");

    let heads = check_against_python(&enc, &frames, "dim-ua 2x16");
    assert!(
        heads.contains(&0) && heads.contains(&1),
        "both heads should be chosen: {heads:?}"
    );
}

/// A one-head (ST-DIM) encoder: no membership tensor in the file.
#[test]
fn python_matches_rust_features_single_head() {
    let enc = seeded_encoder(11, Method::StDim, 1, 16);
    let frames = pong_frames();
    check_against_python(&enc, &frames, "st-dim 1x16");
}

/// The .npy writer round-trips through NumPy (shape, dtype and bytes).
#[test]
fn npy_writer_is_read_by_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    let data: Vec<u8> = (0..2 * 3 * 5).map(|i| (i * 7) as u8).collect();
    write_npy_u8(&path, &data, &[2, 3, 5]);
    let out = Command::new(python())
        .arg("-c")
        .arg(
            "import sys, numpy as np; a = np.load(sys.argv[1]); \
             print(a.dtype, a.shape, int(a.astype('int64').sum()), int(a[1, 2, 4]))",
        )
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sum: u64 = data.iter().map(|&b| b as u64).sum();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("uint8 (2, 3, 5) {sum} {}", data[29])
    );
}

/// The Python snippet of docs/encoders.md runs as written (on a freshly saved encoder).
#[test]
fn docs_python_snippet_runs() {
    let enc = seeded_encoder(5, Method::DimUa, 2, 8);
    let dir = tempfile::tempdir().unwrap();
    enc.save(dir.path()).unwrap();
    let docs = std::fs::read_to_string(root().join("docs/encoders.md")).unwrap();
    let snippet = docs
        .split("```python\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("python snippet in docs/encoders.md")
        .replace("/tmp/run-rl", dir.path().to_str().unwrap());
    let script = format!("{snippet}\nprint(tuple(z.shape), tuple(q.shape), meta['method'])\n");
    let out = Command::new(python())
        .current_dir(root())
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "(4, 8) (4, 2) dim-ua"
    );
}
