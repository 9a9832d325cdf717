//! The CUDA paths, end to end, on a machine with a GPU (each test says "skipped" and passes
//! where libtorch sees none, so the suite runs everywhere; `scripts/gpu-check.sh` runs these
//! on a GPU): a streamed run on the GPU (the device-side frame mirror, the trainer, the
//! batched probes) in fp32 and in bf16, and the encoder's GPU features against its CPU ones.

use std::path::Path;
use std::process::Command;

use tch::{Device, Kind, Tensor};

fn cuda() -> bool {
    let there = tch::Cuda::is_available();
    if !there {
        eprintln!("skipped: libtorch sees no CUDA device on this machine");
    }
    there
}

fn run_on_cuda(precision: &str, dir: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_dimua"))
        .args(["run", "--config"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny/pong-dim-ua.toml"))
        .args(["--device", "cuda", "--precision", precision, "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{precision}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(dir.join("probe.json")).unwrap()).unwrap()
}

#[test]
fn a_streamed_run_trains_and_probes_on_the_gpu_in_fp32_and_bf16() {
    if !cuda() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for precision in ["fp32", "bf16"] {
        let dir = tmp.path().join(precision);
        let probe = run_on_cuda(precision, &dir);
        let f1 = probe["across_categories_f1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&f1), "{precision}: F1 {f1}");
        let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = metrics
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let first = lines[0]["loss/train_total"].as_f64().unwrap();
        assert!(first.is_finite(), "{precision}: first train loss {first}");
        eprintln!("{precision} on cuda: first train loss {first:.4}, F1 {f1:.3}");
    }
}

#[test]
fn gpu_features_match_cpu_features_and_bf16_stays_close() {
    if !cuda() {
        return;
    }
    let spec = dimua_model::EncoderSpec::new(dimua_model::FrameShape::ATARI_GRAY, 4, 64).unwrap();
    let cpu =
        dimua_model::Encoder::new(spec, dimua_model::Method::DimUa, None, Device::Cpu).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    cpu.save(tmp.path().join("encoder.safetensors")).unwrap();
    let gpu = dimua_model::Encoder::load_on(tmp.path(), Device::Cuda(0)).unwrap();
    tch::manual_seed(0);
    let frames = Tensor::randint(256, [64, 210, 160, 1], (Kind::Uint8, Device::Cpu));
    let a = cpu.encode(&frames).unwrap();
    let b = gpu.encode(&frames).unwrap().to_device(Device::Cpu);
    let cos = |x: &Tensor, y: &Tensor| {
        Tensor::cosine_similarity(x, y, 1, 1e-8)
            .min()
            .double_value(&[])
    };
    // TF32 may be on for CUDA matmuls; fp32 CPU vs GPU agree to a few 1e-4.
    assert!(cos(&a, &b) > 0.999, "fp32 GPU vs CPU: {}", cos(&a, &b));
    gpu.set_precision(dimua_model::Precision::Bf16);
    let c = gpu.encode(&frames).unwrap();
    assert_eq!(c.kind(), Kind::Float);
    let c = c.to_device(Device::Cpu);
    assert!(cos(&a, &c) > 0.99, "bf16 GPU vs fp32 CPU: {}", cos(&a, &c));
}
