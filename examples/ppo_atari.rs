//! Owns the `ppo_atari` example: PPO for Atari in the cleanrl style (`ppo_atari.py`), on
//! dimua's `VecEnv`, with either the Nature CNN trained end to end or a dimua encoder (frozen
//! or fine-tuned) under the policy. One file, top to bottom: arguments, networks, rollout,
//! advantages, update, logging.
//!
//! ```text
//! # (a) end-to-end Nature CNN on the dqn preset (84x84 gray, stack 4)
//! cargo run --release --example ppo_atari -- --game breakout --frames 1000000 --out runs/ppo-nature
//! # (b) a frozen random-init dimua encoder; (c) a frozen pretrained one; (d) fine-tuned
//! cargo run --release --example ppo_atari -- --encoder random --out runs/ppo-random
//! cargo run --release --example ppo_atari -- --encoder runs/breakout-dim-ua --out runs/ppo-dimua
//! cargo run --release --example ppo_atari -- --encoder runs/breakout-dim-ua --finetune --out runs/ppo-ft
//! # the first 500k frames of a 1M-frame run (same learning-rate schedule), for slow variants
//! cargo run --release --example ppo_atari -- --encoder runs/breakout-dim-ua --finetune \
//!     --frames 1000000 --stop-at 500000 --out runs/ppo-ft-500k
//! ```
//!
//! Counting convention: `--frames` are emulator frames (agent steps x 4, summed over envs);
//! logged episode returns are raw game scores of whole games (all lives), as cleanrl's
//! `RecordEpisodeStatistics` reports them; the agent learns from clipped rewards and sees a
//! lost life as an episode end (the `dqn` preset). Writes `returns.csv` (one row per finished
//! game), `updates.jsonl` (losses per update) and `returns.{png,svg}` into `--out`.
//!
//! With `--encoder` the env gives the AtariARI frame format (210x160 gray, no resize) with a
//! stack of 4, each frame goes through the encoder, and the policy sees the 4 feature vectors
//! concatenated, each z-scored per dimension with statistics of 128 x N frames of random
//! play taken before training (`--norm-steps`). Frozen (the default), each new frame is
//! encoded once, under `no_grad`, and the feature stack is kept beside the frame stack;
//! `--finetune` re-encodes the frames of every minibatch with gradients (each distinct frame
//! once: a sample shares 3 of its 4 frames with its neighbours) and trains the encoder with
//! the policy.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use dimua_atari::{load_rom, resolve_game, RomOptions};
use dimua_env::{EnvOptions, Preset, VecEnv, VecEnvConfig};
use dimua_model::mixed::slow_bf16;
use dimua_model::{Encoder, EncoderSpec, FrameShape, Method, Precision};
use dimua_optim::{Adam, LearningRate};
use tch::nn::{self, Init, Module};
use tch::{Device, Kind, Tensor};

/// PPO (cleanrl's Atari hyper-parameters) on dimua's VecEnv.
#[derive(Debug, Parser)]
#[command(name = "ppo_atari")]
struct Args {
    /// Game (AtariARI key, ROM name or gym id).
    #[arg(long, default_value = "breakout")]
    game: String,
    /// Emulator frames to train for (agent steps x 4, all envs together).
    #[arg(long, default_value_t = 1_000_000)]
    frames: u64,
    /// Parallel environments.
    #[arg(long, default_value_t = 8)]
    envs: usize,
    /// Threads stepping the environments.
    #[arg(long, default_value_t = 2)]
    env_threads: usize,
    /// libtorch intra-op threads.
    #[arg(long, default_value_t = 2)]
    torch_threads: i32,
    /// Rollout length per env per update.
    #[arg(long, default_value_t = 128)]
    num_steps: usize,
    /// Adam learning rate, annealed linearly to 0.
    #[arg(long, default_value_t = 2.5e-4)]
    lr: f64,
    /// Discount.
    #[arg(long, default_value_t = 0.99)]
    gamma: f64,
    /// GAE lambda.
    #[arg(long, default_value_t = 0.95)]
    gae_lambda: f64,
    /// Minibatches per epoch.
    #[arg(long, default_value_t = 4)]
    minibatches: usize,
    /// Epochs over each rollout.
    #[arg(long, default_value_t = 4)]
    update_epochs: usize,
    /// PPO clip range (policy and value).
    #[arg(long, default_value_t = 0.1)]
    clip: f64,
    /// Entropy bonus.
    #[arg(long, default_value_t = 0.01)]
    ent_coef: f64,
    /// Value loss weight.
    #[arg(long, default_value_t = 0.5)]
    vf_coef: f64,
    /// Global gradient-norm clip.
    #[arg(long, default_value_t = 0.5)]
    max_grad_norm: f64,
    /// Seed (env i gets seed + i; libtorch's generator: init and action sampling).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A dimua encoder under the policy: a run directory, an encoder file, or `random` (a
    /// seeded random-init encoder, AtariARI's random-cnn: 1 head x 256 units).
    #[arg(long)]
    encoder: Option<String>,
    /// Train the encoder with the policy (default: frozen).
    #[arg(long)]
    finetune: bool,
    /// Arithmetic of the encoder: `fp32`, or `bf16` convolutions and matrix products with
    /// fp32 master weights and Adam state (as `dimua train --precision bf16`; features and
    /// the policy layers stay fp32). Worth it on CPUs with AMX and on GPUs.
    #[arg(long, default_value = "fp32")]
    precision: Precision,
    /// Agent steps per env of uniform random play whose frames set the encoder features'
    /// z-scoring (their emulator frames are not counted in --frames; the env is reset
    /// after them).
    #[arg(long, default_value_t = 128)]
    norm_steps: usize,
    /// Stop after the update that reaches this many emulator frames; the learning-rate
    /// schedule still spans `--frames`, so the run is the first part of a `--frames` run
    /// (for comparing a slow variant with full runs over their first frames).
    #[arg(long)]
    stop_at: Option<u64>,
    /// Output folder (created; must be empty or absent).
    #[arg(long)]
    out: PathBuf,
}

/// Orthogonal init with `gain`, zero bias (cleanrl's `layer_init`).
fn linear(p: nn::Path, i: i64, o: i64, gain: f64) -> nn::Linear {
    let c = nn::LinearConfig {
        ws_init: Init::Orthogonal { gain },
        bs_init: Some(Init::Const(0.0)),
        bias: true,
    };
    nn::linear(p, i, o, c)
}

/// A conv layer with orthogonal weights (gain sqrt 2, over the flattened `[o, i*k*k]`
/// matrix, as PyTorch's `orthogonal_`) and zero bias.
fn conv(p: nn::Path, i: i64, o: i64, k: i64, s: i64) -> Result<nn::Conv2D> {
    let c = nn::ConvConfig {
        stride: s,
        bs_init: Init::Const(0.0),
        ..Default::default()
    };
    let mut layer = nn::conv2d(p, i, o, k, c);
    let w = dimua_model::init::orthogonal(
        dimua_model::WeightInit::Orthogonal,
        "conv",
        o as usize,
        (i * k * k) as usize,
        std::f64::consts::SQRT_2,
        Device::Cpu,
    )?;
    tch::no_grad(|| layer.ws.copy_(&w.view([o, i, k, k])));
    Ok(layer)
}

/// What turns observations into the 512-unit hidden layer.
enum Torso {
    /// Nature CNN on `[B, 4, 84, 84]` u8.
    Nature(nn::Sequential),
    /// A dimua encoder on each of the 4 frames, features z-scored per dimension, then
    /// Linear(4d, 512) + ReLU.
    Encoder {
        encoder: Box<Encoder>,
        norm: FeatureNorm,
        hidden: nn::Linear,
    },
}

struct Agent {
    torso: Torso,
    actor: nn::Linear,
    critic: nn::Linear,
}

impl Agent {
    /// Policy logits and values from the hidden input: stacked frames (Nature) or
    /// concatenated features (encoder).
    fn heads(&self, h: &Tensor) -> (Tensor, Tensor) {
        (
            self.actor.forward(h),
            self.critic.forward(h).squeeze_dim(-1),
        )
    }

    fn hidden_from_features(&self, feats: &Tensor) -> Tensor {
        match &self.torso {
            Torso::Encoder { hidden, .. } => hidden.forward(feats).relu(),
            Torso::Nature(_) => unreachable!("features exist only with an encoder"),
        }
    }

    /// Hidden layer of u8 observations `[B, 4, H, W]` (with gradients into the encoder when
    /// it is trained).
    fn hidden(&self, obs: &Tensor) -> Result<Tensor> {
        match &self.torso {
            Torso::Nature(seq) => Ok(seq.forward(&(obs.to_kind(Kind::Float) / 255.0))),
            Torso::Encoder { encoder, norm, .. } => {
                // Consecutive samples share 3 of their 4 frames (and a reset fills all 4 with
                // one): encode each distinct frame once and gather. Same features and, as
                // the gather sums the gradients of repeated frames, the same gradients.
                let s = obs.size();
                let frames = obs.reshape([s[0] * s[1], s[2] * s[3]]);
                let (distinct, inverse, _) = frames.unique_dim(0, false, true, false);
                let f = encoder
                    .net()
                    .features(&distinct.view([-1, s[2], s[3], 1]))?
                    .index_select(0, &inverse);
                Ok(self.hidden_from_features(&norm.apply(&f).reshape([s[0], -1])))
            }
        }
    }
}

/// Per-dimension z-scoring of encoder features with statistics fixed before training
/// (VecNormalize's rule: `(f - mean) / sqrt(var + 1e-8)`, clipped to ±10). Without it a
/// random-init encoder's features barely move between frames (per-dimension std ~0.016
/// against ~0.43 for a trained DIM-UA encoder on Breakout), and the policy sees almost
/// constant inputs.
struct FeatureNorm {
    mean: Tensor,
    inv_std: Tensor,
}

impl FeatureNorm {
    fn from_features(f: &Tensor) -> Self {
        let mean = f.mean_dim(0, true, Kind::Float);
        let var = f.var_dim(0, false, true);
        FeatureNorm {
            mean,
            inv_std: (var + 1e-8).rsqrt(),
        }
    }

    fn apply(&self, f: &Tensor) -> Tensor {
        ((f - &self.mean) * &self.inv_std).clamp(-10.0, 10.0)
    }
}

/// The feature stacks of the frozen-encoder agent, kept beside the env's frame stacks.
struct FeatureStack {
    feats: Tensor, // [N, 4, d]
}

impl FeatureStack {
    /// Encodes the newest frame of each env; envs that were just reset (or all, `fill`)
    /// get it in all 4 slots, as the env's frame stack does.
    fn update(
        &mut self,
        enc: &Encoder,
        norm: &FeatureNorm,
        obs: &Tensor,
        reset: &[bool],
    ) -> Result<()> {
        let s = obs.size();
        let newest = obs.select(1, s[1] - 1).unsqueeze(-1); // [N, H, W, 1]
        let f = norm.apply(&enc.encode(&newest)?); // [N, d]
        let shifted = Tensor::cat(&[self.feats.narrow(1, 1, 3), f.unsqueeze(1)], 1);
        let filled = f.unsqueeze(1).expand([s[0], 4, -1], false);
        let mask = Tensor::from_slice(reset).view([s[0], 1, 1]);
        self.feats = filled.where_self(&mask, &shifted).contiguous();
        Ok(())
    }
}

/// Feature statistics of `steps` x N frames of uniform random play (newest frame of each
/// env per step); the envs are reset afterwards.
fn feature_norm(enc: &Encoder, envs: &mut VecEnv, steps: usize, seed: u64) -> Result<FeatureNorm> {
    let n = envs.num_envs();
    let [stack, h, w, _] = envs.obs_shape().map(|d| d as i64);
    let mut obs = vec![0u8; n * envs.obs_len()];
    let mut batch = envs.new_batch(n);
    envs.reset(&mut obs, &mut batch)?;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut feats = Vec::with_capacity(steps);
    for _ in 0..steps.max(2) {
        let actions: Vec<usize> = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % envs.num_actions() as u64) as usize
            })
            .collect();
        envs.step(&actions, &mut obs, &mut batch)?;
        let t = Tensor::from_slice(&obs).view([n as i64, stack, h, w]);
        feats.push(enc.encode(&t.select(1, stack - 1).unsqueeze(-1))?);
    }
    let norm = FeatureNorm::from_features(&Tensor::cat(&feats, 0));
    envs.reset(&mut obs, &mut batch)?;
    Ok(norm)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    if args.finetune && args.encoder.is_none() {
        bail!("--finetune needs --encoder (the Nature CNN always trains)");
    }
    if args.precision != Precision::Fp32 && args.encoder.is_none() {
        bail!("--precision applies to a dimua encoder (--encoder); the Nature CNN trains in fp32");
    }
    if !(args.envs * args.num_steps).is_multiple_of(args.minibatches) {
        bail!("--envs x --num-steps must divide into --minibatches");
    }
    if args.out.exists() && args.out.read_dir()?.next().is_some() {
        bail!("{} is not empty: pick a new --out", args.out.display());
    }
    tch::set_num_threads(args.torch_threads);
    tch::manual_seed(args.seed as i64);
    let device = Device::Cpu;

    // Environments: the dqn preset, or its AtariARI-frame variant for an encoder.
    let game = resolve_game(&args.game)?;
    let rom = load_rom(game, &RomOptions::default())?;
    let options = EnvOptions {
        resize: if args.encoder.is_some() {
            None
        } else {
            Some([84, 84])
        },
        ..Preset::Dqn.options()
    };
    let config = VecEnvConfig {
        num_envs: args.envs,
        threads: args.env_threads,
        batch_size: args.envs,
        seed: args.seed * 1000,
        options,
    };
    let mut envs = VecEnv::new(&rom, config)?;
    let n = args.envs as i64;
    let n_actions = envs.num_actions() as i64;
    let [stack, h, w, _] = envs.obs_shape().map(|d| d as i64);

    // The agent.
    let vs = nn::VarStore::new(device);
    let root = vs.root();
    let torso = match &args.encoder {
        None => Torso::Nature(
            nn::seq()
                .add(conv(&root / "c1", 4, 32, 8, 4)?)
                .add_fn(Tensor::relu)
                .add(conv(&root / "c2", 32, 64, 4, 2)?)
                .add_fn(Tensor::relu)
                .add(conv(&root / "c3", 64, 64, 3, 1)?)
                .add_fn(|x| x.relu().flatten(1, -1))
                .add(linear(&root / "fc", 3136, 512, std::f64::consts::SQRT_2))
                .add_fn(Tensor::relu),
        ),
        Some(which) => {
            let encoder = if which == "random" {
                let spec = EncoderSpec::new(FrameShape::ATARI_GRAY, 1, 256)?;
                Encoder::new_seeded(
                    spec,
                    Method::RandomCnn,
                    Some(game.name.into()),
                    device,
                    args.seed,
                )?
            } else {
                Encoder::load_on(which, device)
                    .with_context(|| format!("loading the encoder {which}"))?
            };
            encoder.set_precision(args.precision);
            if let Some(why) = slow_bf16(args.precision, device) {
                eprintln!("warning: {why}");
            }
            let d = encoder.feature_dim() as i64;
            let norm = feature_norm(&encoder, &mut envs, args.norm_steps, args.seed)?;
            let hidden = linear(&root / "hidden", 4 * d, 512, std::f64::consts::SQRT_2);
            Torso::Encoder {
                encoder: Box::new(encoder),
                norm,
                hidden,
            }
        }
    };
    let agent = Agent {
        torso,
        actor: linear(&root / "actor", 512, n_actions, 0.01),
        critic: linear(&root / "critic", 512, 1, 1.0),
    };
    let mut params: Vec<Tensor> = vs.trainable_variables();
    if let (Torso::Encoder { encoder, .. }, true) = (&agent.torso, args.finetune) {
        for v in encoder.var_store().trainable_variables() {
            params.push(v.set_requires_grad(true));
        }
    }
    let mut adam = Adam::new(&params, args.lr, 1e-5)?;
    let frozen_encoder = matches!(agent.torso, Torso::Encoder { .. }) && !args.finetune;

    std::fs::create_dir_all(&args.out)?;
    let mut returns_csv = BufWriter::new(File::create(args.out.join("returns.csv"))?);
    writeln!(returns_csv, "frames,env,return,length")?;
    let mut updates_log = BufWriter::new(File::create(args.out.join("updates.jsonl"))?);

    // Rollout storage. Frozen encoders store the feature stacks instead of the frames.
    let steps = args.num_steps as i64;
    let batch = (n * steps) as usize;
    let obs_len = envs.obs_len();
    let mut obs_buf = vec![0u8; args.envs * obs_len];
    let mut step_batch = envs.new_batch(args.envs);
    envs.reset(&mut obs_buf, &mut step_batch)?;
    let to_tensor = |buf: &[u8]| Tensor::from_slice(buf).view([n, stack, h, w]);
    let mut obs = to_tensor(&obs_buf);
    let mut fstack = match &agent.torso {
        Torso::Encoder { encoder, norm, .. } if frozen_encoder => {
            let d = encoder.feature_dim() as i64;
            let mut fs = FeatureStack {
                feats: Tensor::zeros([n, 4, d], (Kind::Float, device)),
            };
            fs.update(encoder, norm, &obs, &vec![true; args.envs])?;
            Some(fs)
        }
        _ => None,
    };
    let mut next_done = Tensor::zeros([n], (Kind::Float, device));

    let frames_per_update = (batch * 4) as u64;
    let updates = args.frames.div_ceil(frames_per_update).max(1);
    let last_update = match args.stop_at {
        Some(f) => f.div_ceil(frames_per_update).clamp(1, updates),
        None => updates,
    };
    if last_update < updates {
        println!(
            "stopping after update {last_update} ({} frames) of the {updates}-update schedule",
            last_update * frames_per_update
        );
    }
    println!(
        "ppo_atari: {} ({n_actions} actions), {} envs x {} steps x {updates} updates = {} frames, \
         policy {}",
        game.name,
        args.envs,
        args.num_steps,
        updates * frames_per_update,
        match (&args.encoder, args.finetune) {
            (None, _) => "nature-cnn (84x84x4)".to_string(),
            (Some(e), true) => format!("encoder {e} (fine-tuned, {}) x 4 frames", args.precision),
            (Some(e), false) => format!("encoder {e} (frozen, {}) x 4 frames", args.precision),
        }
    );
    let start = Instant::now();
    let mut frames = 0u64;
    let mut finished: Vec<f64> = Vec::new();
    let mb_size = batch / args.minibatches;

    for update in 1..=last_update {
        let frac = 1.0 - (update - 1) as f64 / updates as f64;
        adam.set_lr(LearningRate::Uniform(frac * args.lr));
        let rollout_start = Instant::now();
        let mut s_obs = Vec::with_capacity(args.num_steps);
        let mut s_act = Vec::with_capacity(args.num_steps);
        let mut s_logp = Vec::with_capacity(args.num_steps);
        let mut s_val = Vec::with_capacity(args.num_steps);
        let mut s_rew = Vec::with_capacity(args.num_steps);
        let mut s_done = Vec::with_capacity(args.num_steps);
        for _ in 0..args.num_steps {
            let input = match &fstack {
                Some(fs) => fs.feats.view([n, -1]),
                None => obs.shallow_clone(),
            };
            let (action, logp, value) = tch::no_grad(|| -> Result<_> {
                let hid = match &fstack {
                    Some(_) => agent.hidden_from_features(&input),
                    None => agent.hidden(&input)?,
                };
                let (logits, value) = agent.heads(&hid);
                let logp_all = logits.log_softmax(-1, Kind::Float);
                let action = logp_all.exp().multinomial(1, true);
                let logp = logp_all.gather(1, &action, false).squeeze_dim(1);
                Ok((action.squeeze_dim(1), logp, value))
            })?;
            s_obs.push(input);
            s_done.push(next_done.shallow_clone());
            let acts: Vec<i64> = Vec::try_from(&action)?;
            let acts: Vec<usize> = acts.iter().map(|&a| a as usize).collect();
            envs.step(&acts, &mut obs_buf, &mut step_batch)?;
            frames += (args.envs * 4) as u64;
            let mut rew = vec![0f32; args.envs];
            let mut done = vec![false; args.envs];
            for (i, t) in step_batch.transitions.iter().enumerate() {
                rew[i] = t.clipped_reward;
                done[i] = t.terminated || t.truncated;
                if t.game_ended {
                    writeln!(
                        returns_csv,
                        "{frames},{i},{},{}",
                        t.game_return, t.game_length
                    )?;
                    finished.push(t.game_return as f64);
                }
            }
            obs = to_tensor(&obs_buf);
            if let (Some(fs), Torso::Encoder { encoder, norm, .. }) = (&mut fstack, &agent.torso) {
                fs.update(encoder, norm, &obs, &done)?;
            }
            next_done = Tensor::from_slice(&done).to_kind(Kind::Float);
            s_act.push(action);
            s_logp.push(logp);
            s_val.push(value);
            s_rew.push(Tensor::from_slice(&rew));
        }

        // GAE over the rollout, bootstrapped from V(next obs).
        let next_value = tch::no_grad(|| -> Result<Tensor> {
            let hid = match &fstack {
                Some(fs) => agent.hidden_from_features(&fs.feats.view([n, -1])),
                None => agent.hidden(&obs)?,
            };
            Ok(agent.heads(&hid).1)
        })?;
        let mut adv: Vec<Tensor> = (0..args.num_steps)
            .map(|_| Tensor::zeros([n], (Kind::Float, device)))
            .collect();
        let mut last = Tensor::zeros([n], (Kind::Float, device));
        for t in (0..args.num_steps).rev() {
            let (nonterminal, next_v) = if t + 1 == args.num_steps {
                (1.0 - &next_done, next_value.shallow_clone())
            } else {
                (1.0 - &s_done[t + 1], s_val[t + 1].shallow_clone())
            };
            let delta = &s_rew[t] + args.gamma * &next_v * &nonterminal - &s_val[t];
            last = delta + args.gamma * args.gae_lambda * &nonterminal * &last;
            adv[t] = last.shallow_clone();
        }
        let b_adv = Tensor::cat(&adv, 0);
        let b_val = Tensor::cat(&s_val, 0);
        let b_ret = &b_adv + &b_val;
        let b_obs = Tensor::cat(&s_obs, 0);
        let b_act = Tensor::cat(&s_act, 0);
        let b_logp = Tensor::cat(&s_logp, 0);

        let rollout_s = rollout_start.elapsed().as_secs_f64();
        let update_start = Instant::now();
        // PPO epochs over shuffled minibatches.
        let (mut pg_sum, mut v_sum, mut ent_sum, mut kl_sum, mut count) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for _ in 0..args.update_epochs {
            let perm = Tensor::randperm(batch as i64, (Kind::Int64, device));
            for k in 0..args.minibatches {
                let idx = perm.narrow(0, (k * mb_size) as i64, mb_size as i64);
                let mb_obs = b_obs.index_select(0, &idx);
                let hid = match &fstack {
                    Some(_) => agent.hidden_from_features(&mb_obs),
                    None => agent.hidden(&mb_obs)?,
                };
                let (logits, value) = agent.heads(&hid);
                let logp_all = logits.log_softmax(-1, Kind::Float);
                let mb_act = b_act.index_select(0, &idx).unsqueeze(1);
                let new_logp = logp_all.gather(1, &mb_act, false).squeeze_dim(1);
                let entropy = -(logp_all.exp() * &logp_all).sum_dim_intlist(-1, false, Kind::Float);
                let log_ratio = &new_logp - b_logp.index_select(0, &idx);
                let ratio = log_ratio.exp();
                let approx_kl = tch::no_grad(|| ((&ratio - 1.0) - &log_ratio).mean(Kind::Float));
                let mb_adv = b_adv.index_select(0, &idx);
                let mb_adv = (&mb_adv - mb_adv.mean(Kind::Float)) / (mb_adv.std(true) + 1e-8);
                let pg1 = -&mb_adv * &ratio;
                let pg2 = -&mb_adv * ratio.clamp(1.0 - args.clip, 1.0 + args.clip);
                let pg_loss = pg1.max_other(&pg2).mean(Kind::Float);
                let mb_ret = b_ret.index_select(0, &idx);
                let mb_val = b_val.index_select(0, &idx);
                let v_unclipped = (&value - &mb_ret).square();
                let v_clipped =
                    (&mb_val + (&value - &mb_val).clamp(-args.clip, args.clip) - &mb_ret).square();
                let v_loss = v_unclipped.max_other(&v_clipped).mean(Kind::Float) * 0.5;
                let ent = entropy.mean(Kind::Float);
                let loss: Tensor = &pg_loss - &ent * args.ent_coef + &v_loss * args.vf_coef;
                for p in &params {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.zero_();
                    }
                }
                loss.backward();
                let grads: Vec<Tensor> = params.iter().map(Tensor::grad).collect();
                tch::no_grad(|| {
                    let norm = grads
                        .iter()
                        .filter(|g| g.defined())
                        .map(|g| g.square().sum(Kind::Float))
                        .fold(Tensor::zeros([], (Kind::Float, device)), |a, b| a + b)
                        .sqrt()
                        .double_value(&[]);
                    let scale = args.max_grad_norm / (norm + 1e-6);
                    if scale < 1.0 {
                        for g in grads.iter().filter(|g| g.defined()) {
                            let mut g = g.shallow_clone();
                            let _ = g.f_mul_scalar_(scale);
                        }
                    }
                });
                adam.step(&params, &grads)?;
                pg_sum += pg_loss.double_value(&[]);
                v_sum += v_loss.double_value(&[]);
                ent_sum += ent.double_value(&[]);
                kl_sum += approx_kl.double_value(&[]);
                count += 1.0;
            }
        }
        let recent = &finished[finished.len().saturating_sub(20)..];
        let mean_recent = if recent.is_empty() {
            f64::NAN
        } else {
            recent.iter().sum::<f64>() / recent.len() as f64
        };
        let line = serde_json::json!({
            "update": update, "frames": frames, "seconds": start.elapsed().as_secs_f64(),
            "rollout_s": rollout_s, "update_s": update_start.elapsed().as_secs_f64(),
            "policy_loss": pg_sum / count, "value_loss": v_sum / count,
            "entropy": ent_sum / count, "approx_kl": kl_sum / count,
            "games": finished.len(), "mean_return_last20": mean_recent,
        });
        writeln!(updates_log, "{line}")?;
        if update % 10 == 0 || update == last_update {
            returns_csv.flush()?;
            updates_log.flush()?;
            println!(
                "update {update:>4}/{updates} | frames {frames:>8} | {:>5.0} frames/s | games {:>4} \
                 | mean return (last 20) {mean_recent:>6.2} | entropy {:.3}",
                frames as f64 / start.elapsed().as_secs_f64(),
                finished.len(),
                ent_sum / count
            );
        }
    }
    returns_csv.flush()?;
    updates_log.flush()?;
    plot(&args.out, &args.game)?;
    Ok(())
}

/// `returns.{png,svg}`: the finished games' returns, smoothed over 20 games.
fn plot(out: &Path, game: &str) -> Result<()> {
    let text = std::fs::read_to_string(out.join("returns.csv"))?;
    let rows: Vec<(f64, f64)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.first()?.parse().ok()?, f.get(2)?.parse().ok()?))
        })
        .collect();
    if rows.is_empty() {
        println!("no game finished: nothing to plot");
        return Ok(());
    }
    let points: Vec<(f64, f64, f64)> = (0..rows.len())
        .map(|i| {
            let w = &rows[i.saturating_sub(19)..=i];
            let mean = w.iter().map(|r| r.1).sum::<f64>() / w.len() as f64;
            (rows[i].0, mean, 0.0)
        })
        .collect();
    let curve = dimua_plot::ReturnCurve {
        label: "mean of the last 20 games".into(),
        runs: 1,
        points,
    };
    dimua_plot::plot_returns(&[curve], &format!("PPO on {game}"), out, "returns")?;
    Ok(())
}
