//! End-to-end training tests on a small synthetic-but-structured frame store (a bright
//! square moving smoothly over an episode-specific background), all on the CPU:
//! every method trains and its validation loss falls, DIM-UA's membership entropy falls
//! below ln(n), runs are reproducible, an interrupted run resumes to the same weights,
//! streaming starts before collection ends, and bad input gives clear errors.

use std::path::Path;
use std::time::Duration;

use dimua_buffer::FrameStore;
use dimua_model::{Encoder, FrameShape, Method};
use dimua_train::{
    checkpoint_weights, resume, train, Control, ProgressEvent, StopReason, TrainConfig, TrainError,
};

mod common;
use common::{
    closed_store, store_spec, write_episode, EPISODES_PER_STREAM, EP_LEN, SHAPE, STREAMS,
};

fn config(method: Method) -> TrainConfig {
    let mut c = TrainConfig::for_method(method);
    c.units = if method == Method::StDim { 32 } else { 16 };
    c.heads = if method == Method::StDim || method == Method::RandomCnn {
        1
    } else {
        4
    };
    c.batch_size = 16;
    c.steps_per_epoch = Some(12);
    c.val_steps = Some(4);
    c.max_epochs = 4;
    c.min_episode_len = 8;
    c.device = "cpu".into();
    c.seed = 7;
    c
}

fn quiet(_: &ProgressEvent<'_>) -> Control {
    Control::Continue
}

fn history(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_method_trains_and_val_loss_falls() {
    tch::set_num_threads(1);
    let store = closed_store();
    for method in [
        Method::StDim,
        Method::DimUa,
        Method::MinusUa,
        Method::PlusMmd,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let report = train(
            store.clone(),
            SHAPE,
            &config(method),
            dir.path(),
            &mut quiet,
        )
        .unwrap();
        assert_eq!(report.stop_reason, StopReason::MaxEpochs, "{method}");
        assert_eq!(report.device, "cpu");
        assert_eq!(report.global_step, 48);
        let h = history(dir.path());
        assert_eq!(h.len(), 4, "{method}");
        let first = h[0]["loss/val_total"].as_f64().unwrap();
        let last = h[3]["loss/val_total"].as_f64().unwrap();
        eprintln!(
            "{method}: val loss {first:.4} -> {last:.4}, membership entropy {} -> {}",
            h[0]["atlas/membership_entropy"], h[3]["atlas/membership_entropy"]
        );
        assert!(
            last < first,
            "{method}: val loss {first} -> {last} should fall"
        );
        for key in [
            "epoch",
            "loss/train_total",
            "loss/train_global_local",
            "loss/train_local_local",
            "loss/train_membership",
            "loss/train_mmd",
            "loss/val_total",
            "loss/val_membership",
            "atlas/membership_entropy",
            "atlas/head_share",
            "perf/steps_per_s",
            "perf/frames_seen",
        ] {
            assert!(
                h[3].get(key).is_some(),
                "{method}: metrics line lacks {key}"
            );
        }
        assert_eq!(h[3]["perf/frames_seen"], 48 * 2 * 16);
        let enc = Encoder::load(dir.path()).unwrap();
        assert_eq!(enc.meta().method, method);
        let z = enc
            .encode(&tch::Tensor::zeros(
                [2, 80, 80, 1],
                (tch::Kind::Uint8, tch::Device::Cpu),
            ))
            .unwrap();
        assert_eq!(z.size(), vec![2, config(method).units as i64]);
        if method == Method::DimUa {
            let n = 4f64;
            let e0 = h[0]["atlas/membership_entropy"].as_f64().unwrap();
            let e3 = h[3]["atlas/membership_entropy"].as_f64().unwrap();
            assert!(
                e3 < n.ln() && e3 < e0,
                "membership entropy {e0} -> {e3} (ln n = {})",
                n.ln()
            );
            let share: Vec<f64> = serde_json::from_value(h[3]["atlas/head_share"].clone()).unwrap();
            assert_eq!(share.len(), 4);
            assert!((share.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(h[3]["loss/train_membership"].as_f64().unwrap() < 0.0);
        }
        if method == Method::PlusMmd {
            assert!(h[3]["loss/train_mmd"].as_f64().unwrap() != 0.0);
        }
    }
}

/// bf16 steps (bf16 convolutions and products, fp32 master weights and Adam) learn: the
/// validation loss falls as in fp32, and the exported encoder is fp32.
#[test]
fn bf16_training_lowers_the_val_loss_and_exports_fp32_weights() {
    tch::set_num_threads(1);
    let store = closed_store();
    for method in [Method::StDim, Method::DimUa] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(method);
        cfg.precision = dimua_model::Precision::Bf16;
        let report = train(store.clone(), SHAPE, &cfg, dir.path(), &mut quiet).unwrap();
        assert_eq!(report.global_step, 48);
        let h = history(dir.path());
        let first = h[0]["loss/val_total"].as_f64().unwrap();
        let last = h[3]["loss/val_total"].as_f64().unwrap();
        eprintln!("{method} bf16: val loss {first:.4} -> {last:.4}");
        assert!(last < first, "{method} bf16: val loss {first} -> {last}");
        let enc = Encoder::load(dir.path()).unwrap();
        for (name, t) in enc.var_store().variables() {
            assert_eq!(t.kind(), tch::Kind::Float, "{name}");
        }
    }
}

#[test]
fn random_cnn_saves_the_initialised_encoder() {
    let store = closed_store();
    let dir = tempfile::tempdir().unwrap();
    let report = train(
        store,
        SHAPE,
        &config(Method::RandomCnn),
        dir.path(),
        &mut quiet,
    )
    .unwrap();
    assert_eq!(report.stop_reason, StopReason::NoTraining);
    let enc = Encoder::load(dir.path()).unwrap();
    assert_eq!(enc.meta().method, Method::RandomCnn);
}

/// Same config, same closed store: identical weights. And a run interrupted after epoch 1
/// and resumed ends with exactly the weights (and the losses) of the uninterrupted run.
#[test]
fn runs_are_reproducible_and_resume_matches_an_uninterrupted_run() {
    tch::set_num_threads(1);
    let store = closed_store();
    let cfg = config(Method::DimUa);

    let full = tempfile::tempdir().unwrap();
    train(store.clone(), SHAPE, &cfg, full.path(), &mut quiet).unwrap();
    let again = tempfile::tempdir().unwrap();
    train(store.clone(), SHAPE, &cfg, again.path(), &mut quiet).unwrap();

    let split = tempfile::tempdir().unwrap();
    let mut stop_after_epoch_1 = |ev: &ProgressEvent<'_>| match ev {
        ProgressEvent::EpochEnd(m) if m.epoch == 1 => Control::Stop,
        _ => Control::Continue,
    };
    let r = train(
        store.clone(),
        SHAPE,
        &cfg,
        split.path(),
        &mut stop_after_epoch_1,
    )
    .unwrap();
    assert_eq!(r.stop_reason, StopReason::Interrupted);
    assert_eq!(r.epochs_completed, 2);
    assert_eq!(history(split.path()).len(), 2);
    // Starting afresh over a checkpoint is refused.
    assert!(matches!(
        train(store.clone(), SHAPE, &cfg, split.path(), &mut quiet),
        Err(TrainError::RunDirHasCheckpoint { .. })
    ));
    let r = resume(store.clone(), SHAPE, None, split.path(), &mut quiet).unwrap();
    assert_eq!(r.stop_reason, StopReason::MaxEpochs);
    assert_eq!(r.global_step, 48);

    let a = checkpoint_weights(full.path()).unwrap();
    for other in [again.path(), split.path()] {
        let b = checkpoint_weights(other).unwrap();
        assert_eq!(a.len(), b.len());
        for (name, t) in &a {
            assert!(t.equal(&b[name]), "{name} differs");
        }
        let ea = tch::Tensor::read_safetensors(full.path().join("encoder.safetensors")).unwrap();
        let eb: std::collections::HashMap<_, _> =
            tch::Tensor::read_safetensors(other.join("encoder.safetensors"))
                .unwrap()
                .into_iter()
                .collect();
        for (name, t) in ea {
            assert!(t.equal(&eb[&name]), "encoder {name} differs");
        }
    }
    let (ha, hb) = (history(full.path()), history(split.path()));
    assert_eq!(ha.len(), hb.len());
    for (x, y) in ha.iter().zip(&hb) {
        assert_eq!(x["loss/train_total"], y["loss/train_total"]);
        assert_eq!(x["loss/val_total"], y["loss/val_total"]);
    }
}

#[test]
fn resume_with_a_different_config_is_refused_and_changes_nothing() {
    let store = closed_store();
    let mut cfg = config(Method::StDim);
    cfg.max_epochs = 2;
    let dir = tempfile::tempdir().unwrap();
    let mut stop = |ev: &ProgressEvent<'_>| match ev {
        ProgressEvent::EpochEnd(_) => Control::Stop,
        _ => Control::Continue,
    };
    train(store.clone(), SHAPE, &cfg, dir.path(), &mut stop).unwrap();
    let before: Vec<(String, Vec<u8>)> = [
        "checkpoint.json",
        "checkpoint.safetensors",
        "metrics.jsonl",
        "encoder.safetensors",
    ]
    .iter()
    .map(|f| (f.to_string(), std::fs::read(dir.path().join(f)).unwrap()))
    .collect();
    let other = TrainConfig {
        lr: 1e-3,
        ..cfg.clone()
    };
    let err = resume(store.clone(), SHAPE, Some(&other), dir.path(), &mut quiet).unwrap_err();
    match &err {
        TrainError::ResumeConfigMismatch { field, .. } => assert_eq!(field, "lr"),
        e => panic!("unexpected {e}"),
    }
    assert!(err.to_string().contains("lr"));
    for (f, bytes) in before {
        assert_eq!(
            std::fs::read(dir.path().join(&f)).unwrap(),
            bytes,
            "{f} changed"
        );
    }
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        resume(store, SHAPE, None, empty.path(), &mut quiet),
        Err(TrainError::NoCheckpoint { .. })
    ));
}

#[test]
fn bad_input_gives_clear_errors() {
    let store = closed_store();
    let dir = tempfile::tempdir().unwrap();
    // Batch larger than the data.
    let mut cfg = config(Method::StDim);
    cfg.batch_size = 5000;
    let err = train(store.clone(), SHAPE, &cfg, dir.path(), &mut quiet).unwrap_err();
    assert!(
        matches!(err, TrainError::NotEnoughData { split: "train", .. }),
        "{err}"
    );
    // Frame shape that does not match the store.
    let wrong = FrameShape {
        height: 80,
        width: 80,
        channels: 3,
    };
    let err = train(
        store.clone(),
        wrong,
        &config(Method::StDim),
        dir.path(),
        &mut quiet,
    )
    .unwrap_err();
    assert!(
        matches!(err, TrainError::FrameShapeMismatch { .. }),
        "{err}"
    );
    // Zero heads / units.
    let cfg = TrainConfig {
        heads: 0,
        ..config(Method::DimUa)
    };
    assert!(train(store.clone(), SHAPE, &cfg, dir.path(), &mut quiet).is_err());
    let cfg = TrainConfig {
        units: 0,
        ..config(Method::DimUa)
    };
    assert!(train(store.clone(), SHAPE, &cfg, dir.path(), &mut quiet).is_err());
    // CUDA where there is none.
    if !tch::Cuda::is_available() {
        let cfg = TrainConfig {
            device: "cuda".into(),
            ..config(Method::StDim)
        };
        let err = train(store.clone(), SHAPE, &cfg, dir.path(), &mut quiet).unwrap_err();
        assert!(err.to_string().contains("cuda"), "{err}");
    }
    // Episodes all shorter than the minimum length.
    let cfg = TrainConfig {
        min_episode_len: 100,
        ..config(Method::StDim)
    };
    let err = train(store.clone(), SHAPE, &cfg, dir.path(), &mut quiet).unwrap_err();
    assert!(matches!(err, TrainError::NotEnoughData { .. }), "{err}");
    // A learning rate that blows the loss up: stopped with the step, not a panic.
    let cfg = TrainConfig {
        lr: 1e30,
        ..config(Method::StDim)
    };
    let err = train(store, SHAPE, &cfg, dir.path(), &mut quiet).unwrap_err();
    match err {
        TrainError::NonFiniteLoss {
            epoch, global_step, ..
        } => {
            assert_eq!(epoch, 0);
            assert!(global_step >= 1);
        }
        e => panic!("expected a non-finite loss error, got {e}"),
    }
}

/// The trainer takes its first gradient step while a collector thread is still writing.
#[test]
fn streaming_starts_before_collection_ends() {
    tch::set_num_threads(1);
    let store = FrameStore::new(store_spec()).unwrap();
    let writer_store = store.clone();
    let collector = std::thread::spawn(move || {
        let mut writers: Vec<_> = (0..STREAMS).map(|s| writer_store.writer(s)).collect();
        for k in 0..EPISODES_PER_STREAM {
            for (s, w) in writers.iter_mut().enumerate() {
                write_episode(&writer_store, w, s as u32, k);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        writer_store.close();
    });
    let mut cfg = config(Method::DimUa);
    cfg.max_epochs = 3;
    cfg.target_train_frames = Some(24 * EP_LEN);
    cfg.steps_per_epoch = None;
    let dir = tempfile::tempdir().unwrap();
    let mut first_step_while_open = None;
    let mut waited = false;
    let watch = store.clone();
    let mut cb = |ev: &ProgressEvent<'_>| {
        match ev {
            ProgressEvent::Waiting { .. } => waited = true,
            ProgressEvent::Step { global_step: 1, .. } => {
                first_step_while_open = Some(!watch.is_closed())
            }
            _ => {}
        }
        Control::Continue
    };
    let report = train(store, SHAPE, &cfg, dir.path(), &mut cb).unwrap();
    collector.join().unwrap();
    assert_eq!(
        first_step_while_open,
        Some(true),
        "first step should happen while collecting"
    );
    let _ = waited;
    // steps per epoch from the target: 24 episodes x 32 frames / 16.
    assert_eq!(report.steps_per_epoch, 48);
    assert_eq!(report.epochs_completed, 3);
}

/// `last_weights: true` exports the last epoch's weights (the reference's behaviour).
#[test]
fn last_weights_exports_the_final_epoch() {
    tch::set_num_threads(1);
    let store = closed_store();
    let mut cfg = config(Method::StDim);
    cfg.max_epochs = 2;
    cfg.last_weights = true;
    let dir = tempfile::tempdir().unwrap();
    let report = train(store, SHAPE, &cfg, dir.path(), &mut quiet).unwrap();
    assert!(!report.exported_best);
    let model = checkpoint_weights(dir.path()).unwrap();
    for (name, t) in tch::Tensor::read_safetensors(dir.path().join("encoder.safetensors")).unwrap()
    {
        assert!(t.equal(&model[&name]), "{name}");
    }
}

/// A `kill -9` between the last epoch's checkpoint (already "finished") and the encoder
/// export after it left the previous epoch's `encoder.safetensors` (its sidecar still saying
/// "running"), and `--resume` reported the run finished without writing the final encoder:
/// `a_killed_reproducible_run_resumes_to_the_same_bytes` failed under load on these bytes.
#[test]
fn a_run_killed_between_its_final_checkpoint_and_export_resumes_to_the_final_encoder() {
    tch::set_num_threads(1);
    let store = closed_store();
    let cfg = TrainConfig {
        max_epochs: 2,
        last_weights: true,
        ..config(Method::DimUa)
    };
    let dir = tempfile::tempdir().unwrap();
    let mut stop_after_epoch_0 = |ev: &ProgressEvent<'_>| match ev {
        ProgressEvent::EpochEnd(m) if m.epoch == 0 => Control::Stop,
        _ => Control::Continue,
    };
    train(
        store.clone(),
        SHAPE,
        &cfg,
        dir.path(),
        &mut stop_after_epoch_0,
    )
    .unwrap();
    let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
    let stale = (read("encoder.safetensors"), read("encoder.json"));
    let r = resume(store.clone(), SHAPE, None, dir.path(), &mut quiet).unwrap();
    assert_eq!(r.stop_reason, StopReason::MaxEpochs);
    let last = (read("encoder.safetensors"), read("encoder.json"));
    assert!(
        stale.0 != last.0,
        "epochs 0 and 1 must export different weights"
    );
    // The state a kill after the final checkpoint's rename but before the export leaves.
    std::fs::write(dir.path().join("encoder.safetensors"), &stale.0).unwrap();
    std::fs::write(dir.path().join("encoder.json"), &stale.1).unwrap();
    let r = resume(store, SHAPE, None, dir.path(), &mut quiet).unwrap();
    assert_eq!(r.stop_reason, StopReason::MaxEpochs);
    assert!(read("encoder.safetensors") == last.0, "stale encoder kept");
    assert_eq!(read("encoder.json"), last.1);
    assert!(!Encoder::load(dir.path())
        .unwrap()
        .meta()
        .training_unfinished());
}
