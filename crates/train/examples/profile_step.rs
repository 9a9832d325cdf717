//! Times the phases of one training step (gather, forward, backward, Adam) on random frames.

use dimua_model::{Batch, EncoderSpec, FrameShape, LossInputs, Method, WeightInit};
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

fn main() {
    tch::set_num_threads(2);
    let vs = nn::VarStore::new(Device::Cpu);
    let spec = EncoderSpec::new(FrameShape::ATARI_GRAY, 4, 512).unwrap();
    let model = Method::DimUa
        .build(&vs.root(), &spec, WeightInit::Seeded(0))
        .unwrap();
    let params: Vec<Tensor> = vs.trainable_variables();
    let mut adam = dimua_optim::Adam::new(&params, 3e-4, 1e-5).unwrap();
    let frames = Tensor::randint(256, [128, 210, 160, 1], (Kind::Uint8, Device::Cpu));
    for it in 0..8 {
        let t0 = Instant::now();
        let terms = model
            .loss(
                &Batch::unlabelled(&frames, 64),
                LossInputs {
                    tau: 0.1,
                    vae_beta: 1.0,
                    seed: 0,
                    training: true,
                },
            )
            .unwrap();
        let _ = terms.total().double_value(&[]);
        let t1 = Instant::now();
        let grads = Tensor::run_backward(&[terms.total()], &params, false, false);
        let t2 = Instant::now();
        adam.step(&params, &grads).unwrap();
        let t3 = Instant::now();
        println!(
            "it {it}: fwd {:.0} ms, bwd {:.0} ms, adam {:.0} ms",
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3,
            (t3 - t2).as_secs_f64() * 1e3
        );
    }
}
