//! The method seam, exercised from outside the crates: a method defined entirely in this
//! file (a two-step contrastive predictive objective over windows of three consecutive
//! frames, CPC-like) is registered with one line and trains through the real trainer:
//! sequences are sampled, its named loss terms reach `metrics.jsonl` and the checkpoint,
//! its validation loss falls, the exported encoder loads, and a run resumes.

mod common;

use common::{closed_store, SHAPE};
use dimua_model::{
    register_method, Batch, BatchKind, EncoderNet, EncoderSpec, LossInputs, Losses, Method,
    MethodDef, ModelError, Objective, WeightInit,
};
use dimua_train::{resume, train, Control, ProgressEvent, StopReason, TrainConfig};
use tch::{nn, Kind, Tensor};

/// `test-cpc`: encode `x_t, x_t+1, x_t+2`; score `z_t W_k z_{t+k}^T` over the batch and
/// take the InfoNCE of the true future (`k = 1, 2`) against the other samples'.
#[derive(Debug)]
struct TestCpc;

#[derive(Debug)]
struct TestCpcObjective {
    net: EncoderNet,
    predictors: [Tensor; 2],
}

impl MethodDef for TestCpc {
    fn name(&self) -> &'static str {
        "test-cpc"
    }
    fn batch(&self) -> BatchKind {
        BatchKind::Sequences { len: 3 }
    }
    fn default_architecture(&self) -> (usize, usize) {
        (1, 32)
    }
    fn loss_terms(&self) -> &'static [&'static str] {
        &["total", "step_1", "step_2"]
    }
    fn build(
        &self,
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
    ) -> Result<Box<dyn Objective>, ModelError> {
        let net = EncoderNet::with_init(root, spec, init)?;
        let d = spec.units as i64;
        let p = root / "cpc";
        let eye = Tensor::eye(d, (Kind::Float, p.device()));
        let predictors = [p.var_copy("w1", &eye), p.var_copy("w2", &eye)];
        Ok(Box::new(TestCpcObjective { net, predictors }))
    }
}

impl Objective for TestCpcObjective {
    fn net(&self) -> &EncoderNet {
        &self.net
    }

    fn loss(&self, batch: &Batch<'_>, _: LossInputs) -> Result<Losses, ModelError> {
        let b = batch.samples as i64;
        assert_eq!(batch.frames.size()[0], 3 * b, "three frames per sample");
        let trunk = self.net.backbone.forward(batch.frames)?;
        let z = self.net.atlas.coords(&trunk.flat)?.select(1, 0); // [3B, d]
        let z0 = z.narrow(0, 0, b);
        let target = Tensor::arange(b, (Kind::Int64, z.device()));
        let nce = |k: i64| {
            let future = z.narrow(0, k * b, b);
            let scores = z0
                .matmul(&self.predictors[k as usize - 1])
                .matmul(&future.tr());
            scores.cross_entropy_for_logits(&target)
        };
        let (s1, s2) = (nce(1), nce(2));
        Ok(Losses {
            terms: vec![("total", &s1 + &s2), ("step_1", s1), ("step_2", s2)],
            membership_q: None,
        })
    }
}

fn config(method: Method) -> TrainConfig {
    let mut c = TrainConfig::for_method(method);
    c.batch_size = 16;
    c.steps_per_epoch = Some(12);
    c.val_steps = Some(4);
    c.max_epochs = 4;
    c.min_episode_len = 8;
    c.device = "cpu".into();
    c.seed = 3;
    c
}

#[test]
fn a_method_defined_in_a_test_file_trains_through_the_real_trainer() {
    tch::set_num_threads(1);
    let method = register_method(&TestCpc).unwrap(); // the one registration line
    assert_eq!("test-cpc".parse::<Method>().unwrap(), method);
    assert_eq!(method.default_architecture(), (1, 32));
    let store = closed_store();
    let dir = tempfile::tempdir().unwrap();
    let mut quiet = |_: &ProgressEvent<'_>| Control::Continue;
    let report = train(
        store.clone(),
        SHAPE,
        &config(method),
        dir.path(),
        &mut quiet,
    )
    .unwrap();
    assert_eq!(report.stop_reason, StopReason::MaxEpochs);
    assert_eq!(report.global_step, 48);

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    for key in ["loss/train_total", "loss/train_step_1", "loss/val_step_2"] {
        assert!(lines[3][key].as_f64().unwrap().is_finite(), "{key}");
    }
    assert!(lines[3].get("loss/train_mmd").is_none(), "no ST-DIM terms");
    // Three frames per sample: 48 steps x 16 samples x 3.
    assert_eq!(lines[3]["perf/frames_seen"], 48 * 16 * 3);
    // Learning is measurable: the two-step InfoNCE starts near ln(16) = 2.77 per term.
    let first = lines[0]["loss/val_total"].as_f64().unwrap();
    let last = lines[3]["loss/val_total"].as_f64().unwrap();
    eprintln!("test-cpc: val loss {first:.4} -> {last:.4}");
    assert!(last < first, "val loss {first} -> {last} should fall");

    let enc = dimua_model::Encoder::load(dir.path()).unwrap();
    assert_eq!(enc.meta().method, method);

    // Resume a run stopped after one epoch: it finishes with the same history length and
    // the named terms survive the checkpoint.
    let dir2 = tempfile::tempdir().unwrap();
    let mut stop_after_first = |e: &ProgressEvent<'_>| match e {
        ProgressEvent::EpochEnd(_) => Control::Stop,
        _ => Control::Continue,
    };
    let cut = train(
        store.clone(),
        SHAPE,
        &config(method),
        dir2.path(),
        &mut stop_after_first,
    )
    .unwrap();
    assert_eq!(cut.stop_reason, StopReason::Interrupted);
    let done = resume(store, SHAPE, None, dir2.path(), &mut quiet).unwrap();
    assert_eq!(done.epochs_completed, 4);
    let resumed = std::fs::read_to_string(dir2.path().join("metrics.jsonl")).unwrap();
    assert_eq!(resumed.lines().count(), 4);
    assert!(resumed.contains("loss/val_step_1"));
}
