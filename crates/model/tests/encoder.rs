//! Encoder-level tests: inference output selection, save/load round trip, input validation,
//! and the per-method pair loss on real-size frames.

use dimua_model::net::inference_output;
use dimua_model::{
    Batch, Encoder, EncoderSpec, FrameShape, LossInputs, Method, ModelError, WeightInit,
};
use tch::{nn, Device, Kind, Tensor};

const SMALL: FrameShape = FrameShape {
    height: 84,
    width: 80,
    channels: 1,
};

fn random_frames(b: i64, shape: FrameShape) -> Tensor {
    Tensor::randint(
        256,
        [
            b,
            shape.height as i64,
            shape.width as i64,
            shape.channels as i64,
        ],
        (Kind::Uint8, Device::Cpu),
    )
}

#[test]
fn inference_output_is_the_argmax_heads_slice() {
    tch::manual_seed(1);
    let (b, n, d) = (5, 3, 4);
    let coords = Tensor::randn([b, n, d], (Kind::Float, Device::Cpu));
    let q = Tensor::randn([b, n], (Kind::Float, Device::Cpu)).softmax(-1, Kind::Float);
    let out = inference_output(&coords, Some(&q)).unwrap();
    assert_eq!(out.size(), vec![b, d]);
    for i in 0..b {
        let head = q.get(i).argmax(0, false).int64_value(&[]);
        let expected = coords.get(i).get(head);
        assert!(out.get(i).equal(&expected), "row {i}");
    }
    // One head: that head.
    let one = Tensor::randn([b, 1, d], (Kind::Float, Device::Cpu));
    assert!(inference_output(&one, None)
        .unwrap()
        .equal(&one.squeeze_dim(1)));
}

#[test]
fn encoder_features_are_the_argmax_head_of_the_atlas() {
    tch::manual_seed(2);
    let spec = EncoderSpec::new(SMALL, 4, 8).unwrap();
    let enc = Encoder::new(spec, Method::DimUa, None, Device::Cpu).unwrap();
    let frames = random_frames(6, SMALL);
    let z = enc.encode(&frames).unwrap();
    assert_eq!(z.size(), vec![6, 8]);
    let (coords, q) = tch::no_grad(|| {
        let t = enc.net().backbone.forward(&frames).unwrap();
        let a = enc.net().atlas.forward(&t.flat).unwrap();
        (a.coords, a.membership.unwrap())
    });
    let idx = q.argmax(1, false);
    for i in 0..6 {
        let h = idx.int64_value(&[i]);
        assert!(z.get(i).allclose(&coords.get(i).get(h), 1e-6, 1e-6, false));
    }
}

#[test]
fn save_load_round_trip_gives_identical_features() {
    tch::manual_seed(3);
    let dir = tempfile::tempdir().unwrap();
    let spec = EncoderSpec::new(FrameShape::ATARI_GRAY, 2, 16).unwrap();
    let mut enc = Encoder::new(spec, Method::MinusUa, None, Device::Cpu).unwrap();
    enc.set_game(Some("pong".into()));
    enc.save(dir.path()).unwrap();
    assert!(dir.path().join("encoder.safetensors").exists());
    assert!(dir.path().join("encoder.json").exists());
    let loaded = Encoder::load(dir.path()).unwrap();
    assert_eq!(loaded.meta(), enc.meta());
    assert_eq!(loaded.feature_dim(), 16);
    assert_eq!(loaded.device(), Device::Cpu);
    let frames = random_frames(3, FrameShape::ATARI_GRAY);
    assert!(enc
        .encode(&frames)
        .unwrap()
        .equal(&loaded.encode(&frames).unwrap()));
    // A single frame gives a single feature vector.
    let one = loaded.encode(&frames.get(0)).unwrap();
    assert_eq!(one.size(), vec![16]);
    // Also loadable through the weights file or the sidecar path.
    Encoder::load(dir.path().join("encoder.safetensors")).unwrap();
    Encoder::load(dir.path().join("encoder.json")).unwrap();

    // Checkpoint keys are the named paths.
    let keys: Vec<String> = tch::Tensor::read_safetensors(dir.path().join("encoder.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for k in [
        "encoder.conv1.weight",
        "encoder.conv4.bias",
        "atlas.coords.weight",
        "atlas.membership.weight",
    ] {
        assert!(keys.iter().any(|x| x == k), "missing {k} in {keys:?}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("encoder.json")).unwrap()).unwrap();
    assert_eq!(
        json["architecture"]["in_shape"],
        serde_json::json!([210, 160, 1])
    );
    assert_eq!(json["architecture"]["flat_dim"], 3456);
    assert_eq!(json["method"], "minus-ua");
    assert_eq!(json["game"], "pong");
}

#[test]
fn seeded_encoders_are_identical() {
    let spec = EncoderSpec::new(SMALL, 3, 8).unwrap();
    let a = Encoder::new_seeded(spec, Method::DimUa, None, Device::Cpu, 9).unwrap();
    let b = Encoder::new_seeded(spec, Method::DimUa, None, Device::Cpu, 9).unwrap();
    let c = Encoder::new_seeded(spec, Method::DimUa, None, Device::Cpu, 10).unwrap();
    let frames = random_frames(4, SMALL);
    assert!(a
        .encode(&frames)
        .unwrap()
        .equal(&b.encode(&frames).unwrap()));
    assert!(!a
        .encode(&frames)
        .unwrap()
        .equal(&c.encode(&frames).unwrap()));
}

#[test]
fn bad_inputs_are_errors() {
    tch::manual_seed(4);
    let spec = EncoderSpec::new(SMALL, 1, 8).unwrap();
    let enc = Encoder::new(spec, Method::StDim, None, Device::Cpu).unwrap();
    let wrong_kind = Tensor::zeros([2, 84, 80, 1], (Kind::Float, Device::Cpu));
    assert!(matches!(
        enc.encode(&wrong_kind),
        Err(ModelError::WrongDtype { .. })
    ));
    let wrong_shape = Tensor::zeros([2, 80, 84, 1], (Kind::Uint8, Device::Cpu));
    assert!(matches!(
        enc.encode(&wrong_shape),
        Err(ModelError::WrongShape { .. })
    ));
    let nchw = Tensor::zeros([2, 1, 84, 80], (Kind::Uint8, Device::Cpu));
    assert!(matches!(
        enc.encode(&nchw),
        Err(ModelError::WrongShape { .. })
    ));
    assert!(matches!(
        EncoderSpec::new(SMALL, 0, 8),
        Err(ModelError::ZeroHeads)
    ));
    assert!(matches!(
        EncoderSpec::new(SMALL, 2, 0),
        Err(ModelError::ZeroUnits)
    ));

    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Encoder::load(dir.path()),
        Err(ModelError::Io { .. })
    ));
    enc.save(dir.path()).unwrap();
    // A sidecar from another format version.
    let path = dir.path().join("encoder.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["format_version"] = 99.into();
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    assert!(matches!(
        Encoder::load(dir.path()),
        Err(ModelError::FormatVersion { found: 99, .. })
    ));
    // Weights that do not fit the architecture in the sidecar.
    json["format_version"] = 1.into();
    json["architecture"]["units"] = 9.into();
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    assert!(matches!(
        Encoder::load(dir.path()),
        Err(ModelError::WeightsMismatch { .. })
    ));
}

#[test]
fn pair_loss_for_every_method_is_finite_with_gradients() {
    for (method, heads) in [
        (Method::StDim, 1),
        (Method::DimUa, 3),
        (Method::MinusUa, 3),
        (Method::PlusMmd, 3),
    ] {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let spec = EncoderSpec::new(FrameShape::ATARI_GRAY, heads, 16).unwrap();
        let model = method
            .build(&vs.root(), &spec, WeightInit::Seeded(5))
            .unwrap();
        let frames = random_frames(8, FrameShape::ATARI_GRAY);
        let terms = model
            .loss(
                &Batch::unlabelled(&frames, 4),
                LossInputs {
                    tau: 0.1,
                    vae_beta: 1.0,
                    seed: 0,
                    training: true,
                },
            )
            .unwrap();
        let total = terms.total().double_value(&[]);
        assert!(total.is_finite(), "{method}: {total}");
        // Initial InfoNCE is close to ln(B) = ln 4 for an untrained model... within a margin.
        let gl = terms.term("global_local").unwrap().double_value(&[]);
        assert!(gl > 0.0 && gl < 50.0, "{method}: L1 = {gl}");
        let lq = terms.term("membership").unwrap().double_value(&[]);
        let mmd = terms.term("mmd").unwrap().double_value(&[]);
        if method == Method::StDim {
            assert_eq!((lq, mmd), (0.0, 0.0));
        } else if method == Method::PlusMmd {
            assert!(lq <= 0.0 && mmd != 0.0);
        } else {
            assert!(lq <= 0.0 && mmd == 0.0);
        }
        let expected = terms.term("global_local").unwrap().double_value(&[])
            + terms.term("local_local").unwrap().double_value(&[])
            + 0.1 * lq
            + mmd;
        assert!(
            (total - expected).abs() < 1e-4,
            "{method}: {total} vs {expected}"
        );
        terms.total().backward();
        for (name, var) in vs.variables() {
            let g = var.grad();
            assert!(g.defined(), "{method}: no gradient for {name}");
        }
    }
}

#[test]
fn pair_loss_rejects_bad_batches() {
    let vs = nn::VarStore::new(Device::Cpu);
    let spec = EncoderSpec::new(SMALL, 2, 8).unwrap();
    let model = Method::DimUa
        .build(&vs.root(), &spec, WeightInit::Seeded(6))
        .unwrap();
    assert!(matches!(
        model.loss(
            &Batch::unlabelled(&random_frames(7, SMALL), 4),
            LossInputs {
                tau: 0.1,
                vae_beta: 1.0,
                seed: 0,
                training: true,
            }
        ),
        Err(ModelError::WrongShape { .. })
    ));
    assert!(matches!(
        model.loss(
            &Batch::unlabelled(&random_frames(2, SMALL), 4),
            LossInputs {
                tau: 0.1,
                vae_beta: 1.0,
                seed: 0,
                training: true,
            }
        ),
        Err(ModelError::WrongShape { .. })
    ));
    let f = random_frames(8, SMALL).to_kind(Kind::Float);
    assert!(matches!(
        model.loss(
            &Batch::unlabelled(&f, 4),
            LossInputs {
                tau: 0.1,
                vae_beta: 1.0,
                seed: 0,
                training: true,
            }
        ),
        Err(ModelError::WrongDtype { .. })
    ));
    assert!(matches!(
        Method::StDim.build(
            &vs.root(),
            &EncoderSpec::new(SMALL, 2, 8).unwrap(),
            WeightInit::Zeros
        ),
        Err(ModelError::UnsupportedArchitecture { .. })
    ));
}

#[test]
fn dilated_target_leaves_membership_to_the_q_loss() {
    // With dim-ua and tau = 0, the membership head gets no gradient signal (zero gradient),
    // because the dilated target does not depend on q.
    tch::manual_seed(6);
    let vs = nn::VarStore::new(Device::Cpu);
    let spec = EncoderSpec::new(SMALL, 3, 8).unwrap();
    let model = Method::DimUa
        .build(&vs.root(), &spec, WeightInit::Seeded(6))
        .unwrap();
    let terms = model
        .loss(
            &Batch::unlabelled(&random_frames(8, SMALL), 4),
            LossInputs {
                tau: 0.0,
                vae_beta: 1.0,
                seed: 0,
                training: true,
            },
        )
        .unwrap();
    terms.total().backward();
    let vars = vs.variables();
    let g = vars["atlas.membership.weight"].grad();
    assert_eq!(g.abs().sum(Kind::Float).double_value(&[]), 0.0);
}

/// `dimua probe --encoder weights.pt` (a file that is not an exported encoder) answered
/// "weights.pt/encoder.json: Not a directory", and a path that does not exist was reported as
/// a missing `encoder.json` inside it: both now name the path given and what to give instead.
#[test]
fn an_encoder_path_that_is_a_plain_file_gets_an_error_naming_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weights.pt");
    std::fs::write(&file, b"not an encoder").unwrap();
    let err = Encoder::load(&file).unwrap_err().to_string();
    assert!(
        err.starts_with(&file.display().to_string())
            && err.contains("is not an encoder")
            && err.contains("dimua export"),
        "{err}"
    );
    let missing = dir.path().join("nowhere");
    let err = Encoder::load(&missing).unwrap_err().to_string();
    assert!(
        err.starts_with(&missing.display().to_string()) && !err.contains("encoder.json"),
        "{err}"
    );
    // A run directory without an encoder still names the missing file.
    let err = Encoder::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("encoder.json"), "{err}");
}
