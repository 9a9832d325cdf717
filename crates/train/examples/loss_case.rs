//! Writes one loss case for `benchmarks/crosscheck_loss.py`: the initial weights of a
//! training model, a batch of random frames, the MMD prior samples, the loss terms this
//! crate computes, and the weights after one Adam step, as one safetensors file.
//!
//! `cargo run --release -p dimua-train --example loss_case -- OUT.safetensors METHOD HEADS UNITS`

use dimua_model::init::derive_seed;
use dimua_model::losses::logit_uniform_prior;
use dimua_model::{Batch, EncoderSpec, FrameShape, LossInputs, Method, WeightInit};
use tch::{nn, Device, Kind, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let out = a.first().ok_or("usage: loss_case OUT METHOD HEADS UNITS")?;
    let method: Method = a.get(1).map(String::as_str).unwrap_or("dim-ua").parse()?;
    let heads: usize = a.get(2).map(|s| s.parse()).transpose()?.unwrap_or(4);
    let units: usize = a.get(3).map(|s| s.parse()).transpose()?.unwrap_or(64);
    let b = 8i64;
    let seed = 11u64;
    let vs = nn::VarStore::new(Device::Cpu);
    let spec = EncoderSpec::new(FrameShape::ATARI_GRAY, heads, units)?;
    let model = method.build(&vs.root(), &spec, WeightInit::Seeded(3))?;
    tch::manual_seed(5);
    let frames = Tensor::randint(256, [2 * b, 210, 160, 1], (Kind::Uint8, Device::Cpu));
    let terms = model.loss(
        &Batch::unlabelled(&frames, b as usize),
        LossInputs {
            tau: 0.1,
            vae_beta: 1.0,
            seed,
            training: true,
        },
    )?;
    let mut tensors: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect();
    // One Adam step (lr 3e-4, eps 1e-5) as the trainer takes it.
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let params: Vec<Tensor> = vars.iter().map(|(_, t)| t.shallow_clone()).collect();
    let grads = Tensor::run_backward(&[terms.total()], &params, false, false);
    let mut adam = dimua_optim::Adam::new(&params, 3e-4, 1e-5)?;
    adam.step(&params, &grads)?;
    for (name, p) in &vars {
        tensors.push((format!("after.{name}"), p.detach().copy()));
    }
    tensors.push(("case.frames".into(), frames));
    tensors.push(("case.terms".into(), terms.stacked()?));
    let anchor = logit_uniform_prior(b as usize, units, Device::Cpu, derive_seed(seed, "anchor"))?;
    let target = logit_uniform_prior(b as usize, units, Device::Cpu, derive_seed(seed, "target"))?;
    tensors.push(("case.prior_anchor".into(), anchor));
    tensors.push(("case.prior_target".into(), target));
    tensors.push(("case.heads".into(), Tensor::from_slice(&[heads as i64])));
    Tensor::write_safetensors(&tensors, out)?;
    println!(
        "{method} {heads}x{units}: terms {:?}",
        Vec::<f32>::try_from(&terms.stacked()?)?
    );
    Ok(())
}
