//! The one-probe-at-a-time reference path: an `nn::Linear` and a tch `Adam` per label, the
//! way AtariARI's `ProbeTrainer` builds them. It exists to check the batched path (same init,
//! same batches → same probes) and to measure what batching buys.

use tch::nn::{self, Module, OptimizerConfig};
use tch::{Kind, Reduction, Tensor};

use crate::data::{prepare, Prepared, ProbeData};
use crate::error::Result;
use crate::probe::{
    check_train, dup, finish, init_label, EvalFrames, LabelState, ProbeConfig, ProbeRun,
};
use crate::sampling::BatchSampler;

/// Trains the K probes one after another, each with its own `nn::Linear(D, 256)` and tch
/// (libtorch) Adam, autograd cross-entropy, and the same init, batch sequence, scheduler,
/// early stopping and restore rule as [`crate::train_probes`]; scores them the same way.
/// Slow by design. Note: tch's optimizer panics if libtorch fails inside `step`.
pub fn train_probes_one_by_one(data: &ProbeData<'_>, config: &ProbeConfig) -> Result<ProbeRun> {
    config.validate()?;
    let p = prepare(data)?;
    check_train(&p, config)?;
    let (d, k, c) = (p.d as i64, p.k as i64, p.c as i64);
    let out_w = Tensor::f_zeros([d, k, c], (p.kind, p.device))?;
    let out_b = Tensor::f_zeros([k, c], (p.kind, p.device))?;
    let mut states = Vec::with_capacity(p.k);
    for label in 0..p.k {
        let (w, b, st) = train_one(data, &p, config, label)?;
        tch::no_grad(|| -> Result<()> {
            out_w.f_select(1, label as i64)?.f_copy_(&w.f_tr()?)?;
            out_b.f_select(0, label as i64)?.f_copy_(&b)?;
            Ok(())
        })?;
        states.push(st);
    }
    finish(data, &p, out_w, out_b, &states, config)
}

/// Trains probe `label`; returns its chosen weight `[256, D]`, bias `[256]` and bookkeeping.
fn train_one(
    data: &ProbeData<'_>,
    p: &Prepared,
    config: &ProbeConfig,
    label: usize,
) -> Result<(Tensor, Tensor, LabelState)> {
    let (d, c, bs) = (p.d as i64, p.c as i64, config.batch_size as i64);
    let n_batches = p.n_train() / config.batch_size;
    let mut val_frames = EvalFrames::val(data, p, config)?;
    let mut vs = nn::VarStore::new(p.device);
    let lin = nn::linear(vs.root() / "probe", d, c, Default::default());
    if p.kind == Kind::Double {
        vs.double();
    }
    let (wi, bi) = init_label(p.d, p.c, label, config.seed);
    tch::no_grad(|| -> Result<()> {
        let to = |v: &[f64]| -> Result<Tensor> {
            Ok(Tensor::f_from_slice(v)?
                .f_to_kind(p.kind)?
                .f_to_device(p.device)?)
        };
        lin.ws.shallow_clone().f_copy_(&to(&wi)?.f_view([c, d])?)?;
        let bias = lin.bs.as_ref().map(Tensor::shallow_clone);
        if let Some(mut bias) = bias {
            bias.f_copy_(&to(&bi)?)?;
        }
        Ok(())
    })?;
    let bias_of = |lin: &nn::Linear| -> Result<Tensor> {
        Ok(match &lin.bs {
            Some(b) => dup(b)?,
            None => Tensor::f_zeros([c], (p.kind, p.device))?,
        })
    };
    let mut opt = nn::Adam {
        eps: config.adam_eps,
        ..Default::default()
    }
    .build(&vs, config.lr)?;
    let y_tr = p.train_y.f_select(1, label as i64)?;
    let y_val = p.val_y.f_select(1, label as i64)?;
    let mut sampler = BatchSampler::new(p.n_train(), &data.sampling, config.seed)?;
    let mut st = LabelState::new(config);
    let mut best = (dup(&lin.ws)?, bias_of(&lin)?);
    let name = &data.labels[label].name;

    for epoch in 0..config.epochs {
        let idx = Tensor::f_from_slice(&sampler.epoch(n_batches, config.batch_size))?
            .f_to_device(p.device)?;
        let mut loss_sum = Tensor::f_zeros([], (p.kind, p.device))?;
        for bi in 0..n_batches as i64 {
            let rows = idx.f_narrow(0, bi * bs, bs)?;
            let x = p.train_x.f_index_select(0, &rows)?;
            let y = y_tr.f_index_select(0, &rows)?;
            let loss = lin.forward(&x).f_log_softmax(-1, p.kind)?.f_nll_loss(
                &y,
                None::<Tensor>,
                Reduction::Mean,
                -100,
            )?;
            opt.backward_step(&loss);
            let _ = loss_sum.f_add_(&loss.f_detach()?)?;
        }
        let train_loss = loss_sum.f_double_value(&[])? / n_batches as f64;
        let (val_x, val_y, n_val) = val_frames.next(&p.val_x, &y_val)?;
        let correct = tch::no_grad(|| -> Result<i64> {
            let pred = lin.forward(&val_x).f_argmax(-1, false)?;
            Ok(pred
                .f_eq_tensor(&val_y)?
                .f_sum(Kind::Int64)?
                .f_int64_value(&[])?)
        })?;
        let acc = correct as f64 / n_val;
        if st.end_epoch(name, epoch, train_loss, acc)? && config.restore_best {
            best = (dup(&lin.ws)?, bias_of(&lin)?);
        }
        opt.set_lr(st.plateau.lr);
        if st.stopped() {
            break;
        }
    }
    let chosen = if config.restore_best {
        best
    } else {
        (dup(&lin.ws)?, bias_of(&lin)?)
    };
    Ok((chosen.0, chosen.1, st))
}
