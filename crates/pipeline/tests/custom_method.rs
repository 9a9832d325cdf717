//! The method seam, end to end: a method defined entirely in this file (a two-step
//! contrastive predictive objective over windows of three consecutive frames, CPC-like) is
//! registered with one line and goes through the real pipeline on real Pong frames: the
//! streamed collection feeds windows of 3 to the real trainer, its named loss terms reach
//! `metrics.jsonl` and the checkpoint, its validation loss falls, the encoder it exports is
//! probed on a separately seeded collection, and an interrupted run resumes.

use std::cell::Cell;

use dimua_model::{
    register_method, Batch, BatchKind, Encoder, EncoderNet, EncoderSpec, LossInputs, Losses,
    Method, MethodDef, ModelError, Objective, WeightInit,
};
use dimua_pipeline::{Event, Observer, Quiet, RunConfig, RunPlan};
use dimua_train::ProgressEvent;
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

fn plan(method: Method) -> RunPlan {
    let mut config = RunConfig::load_or_default(None).unwrap();
    config.set_method(method.name());
    config.frames = 3_000;
    config.probe_frames = 2_000;
    config.seed = 4;
    config.device = "cpu".into();
    config.threads = Some(2);
    config.train.epochs = 4;
    config.train.batch_size = 32;
    config.train.steps_per_epoch = Some(10);
    config.train.wait_for_collection = true;
    config.probe.epochs = 5;
    RunPlan::new(config).unwrap()
}

fn metrics(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Stops the run after its first epoch, as Ctrl-C would.
#[derive(Default)]
struct StopAfterOneEpoch(Cell<bool>);

impl Observer for StopAfterOneEpoch {
    fn event(&self, event: &Event<'_>) {
        if let Event::Train(ProgressEvent::EpochEnd(_)) = event {
            self.0.set(true);
        }
    }
    fn interrupted(&self) -> bool {
        self.0.get()
    }
}

#[test]
fn a_method_defined_in_a_test_file_trains_and_probes_through_the_real_pipeline() {
    tch::set_num_threads(1);
    let method = register_method(&TestCpc).unwrap(); // the one registration line
    assert_eq!("test-cpc".parse::<Method>().unwrap(), method);
    let plan = plan(method);
    assert_eq!(
        (plan.heads, plan.units),
        (1, 32),
        "the method's default architecture"
    );
    let rom = dimua_atari::load_rom(plan.game, &Default::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let output = dimua_pipeline::prepare_run_dir(&dir, false).unwrap();

    // Pretraining: streamed real frames, sampled as windows of three.
    let report = dimua_pipeline::pretrain(&plan, Some(&rom), &dir, false, &Quiet).unwrap();
    assert_eq!(report.epochs_completed, 4);
    let lines = metrics(&dir);
    assert_eq!(lines.len(), 4);
    for key in ["loss/train_total", "loss/train_step_1", "loss/val_step_2"] {
        assert!(lines[3][key].as_f64().unwrap().is_finite(), "{key}");
    }
    assert!(lines[3].get("loss/train_mmd").is_none(), "no ST-DIM terms");
    assert_eq!(lines[3]["perf/frames_seen"], 40 * 32 * 3);
    // Measurable learning: each term starts near ln(32) = 3.47.
    let first = lines[0]["loss/val_total"].as_f64().unwrap();
    let last = lines[3]["loss/val_total"].as_f64().unwrap();
    eprintln!("test-cpc on pong: val loss {first:.4} -> {last:.4}");
    assert!(last < first - 0.1, "val loss {first} -> {last} should fall");

    // Probing the exported encoder on a separately seeded collection.
    let encoder = Encoder::load_on(&report.encoder_path, plan.device).unwrap();
    assert_eq!(encoder.meta().method, method);
    let set =
        dimua_pipeline::collect_probe_set(plan.game, &rom, &plan.probe_collection, &Quiet).unwrap();
    let outcome = dimua_pipeline::probe(&set, Some(&encoder), &plan.probe, &Quiet).unwrap();
    dimua_pipeline::write_probe_outputs(&dir, &outcome, &plan.title()).unwrap();
    let f1 = outcome.result.across_categories_f1.unwrap();
    eprintln!("test-cpc on pong: across-categories F1 {f1:.3}");
    assert!(f1.is_finite() && f1 > 0.0);
    let probe: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("probe.json")).unwrap()).unwrap();
    assert!(probe["per_label"]
        .as_object()
        .is_some_and(|m| !m.is_empty()));

    // Interrupted after one epoch, then resumed: same number of epochs as the full run, and
    // the named terms survive the checkpoint.
    let cut = tmp.path().join("cut");
    let cut_output = dimua_pipeline::prepare_run_dir(&cut, false).unwrap();
    let stopped = dimua_pipeline::pretrain(
        &plan,
        Some(&rom),
        &cut,
        false,
        &StopAfterOneEpoch::default(),
    );
    assert!(stopped.is_err() || stopped.as_ref().unwrap().epochs_completed < 4);
    let done = dimua_pipeline::pretrain(&plan, Some(&rom), &cut, true, &Quiet).unwrap();
    assert_eq!(done.epochs_completed, 4);
    cut_output.commit().unwrap();
    output.commit().unwrap();
    let resumed = metrics(&cut);
    assert_eq!(resumed.len(), 4);
    assert!(resumed[3]["loss/val_step_1"].as_f64().unwrap().is_finite());
}
