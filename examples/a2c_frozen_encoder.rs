//! Owns the `a2c_frozen_encoder` example: A2C (a small actor-critic MLP on top of a FROZEN
//! dimua encoder's features) on K AtariARI environments driven from Rust.
//!
//! ```text
//! cargo run --release --example a2c_frozen_encoder -- --steps 2000
//! cargo run --release --example a2c_frozen_encoder -- --encoder runs/pong__dim-ua__0 --envs 8
//! ```
//!
//! The encoder never trains: frames are encoded under `no_grad` (`Encoder::encode`) and only
//! the head's own `VarStore` is handed to Adam. The environments are AtariARI's (no-op reset,
//! 4-frame max-skip, episodic life, fire reset, grayscale), rewards are clipped to their sign
//! for learning (`ClipRewardEnv`), and the printed episode returns are the raw game scores of
//! whole games (what baselines' `Monitor` logs). Counting convention: one agent step = one
//! `step` of one env = 4 emulator frames; `--steps` is per env.
//!
//! The encoder sees one frame, not a stack of 4 as usual A2C agents do, so the policy cannot
//! see the ball's velocity; this example shows the plumbing, not a tuned Pong agent.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use dimua_atari::{load_rom, resolve_game, AtariAriEnv, EnvConfig, RomOptions, StepOutcome};
use dimua_model::{parse_device, Encoder, EncoderSpec, FrameShape, Method};
use tch::nn::{self, Init, LinearConfig, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// A2C on the features of a frozen dimua encoder (AtariARI environments).
#[derive(Debug, Parser)]
#[command(name = "a2c_frozen_encoder")]
struct Args {
    /// Game (AtariARI name such as `pong`, or a gym id such as `PongNoFrameskip-v4`).
    #[arg(long, default_value = "pong")]
    game: String,
    /// Encoder to freeze: a run directory (encoder.safetensors + encoder.json) or either file.
    /// Without it a randomly initialised encoder (`random-cnn`) is built.
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Heads of the random-init encoder (ignored with --encoder).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    heads: u32,
    /// Units per head of the random-init encoder (ignored with --encoder).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    units: u32,
    /// Agent steps each environment takes (total transitions = steps x envs).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    steps: u64,
    /// Parallel environments.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    envs: u32,
    /// Threads stepping the environments (0: one per core, at most one per env).
    #[arg(long, default_value_t = 0)]
    env_threads: usize,
    /// libtorch intra-op threads for encoding (0: libtorch's default, one per core). 1 is
    /// the default because OpenMP's spinning threads stall badly when the cores are shared
    /// (with the env threads or another job): 2 threads measured ~200 ms per batch on a
    /// loaded 2-core machine where 1 thread took ~8 ms.
    #[arg(long, default_value_t = 1)]
    torch_threads: i32,
    /// Seed of libtorch (random encoder, head init, action sampling); env `i` gets seed + i.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Device for the encoder and the heads: auto, cpu, cuda, cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Rollout length per update (n of the n-step returns).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=4096))]
    n_steps: u32,
    /// Discount factor.
    #[arg(long, default_value_t = 0.99)]
    gamma: f64,
    /// Adam learning rate (heads only).
    #[arg(long, default_value_t = 7e-4)]
    lr: f64,
    /// Entropy bonus coefficient.
    #[arg(long, default_value_t = 0.01)]
    ent_coef: f64,
    /// Value loss coefficient.
    #[arg(long, default_value_t = 0.5)]
    vf_coef: f64,
    /// Global gradient-norm clip of the heads (0 disables).
    #[arg(long, default_value_t = 0.5)]
    max_grad_norm: f64,
    /// Hidden units of the actor-critic MLP (0: linear heads on the features).
    #[arg(long, default_value_t = 64)]
    hidden: u32,
    /// Updates between progress lines (0: none).
    #[arg(long, default_value_t = 100)]
    log_every: u64,
    /// Episodes in the running mean of returns.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    mean_window: u32,
}

impl Args {
    /// Range checks clap cannot express for floats.
    fn validate(&self) -> Result<()> {
        let unit = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(anyhow!("--{name} must be in [0, 1], got {v}"))
            }
        };
        unit("gamma", self.gamma)?;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr must be a positive number, got {}", self.lr);
        }
        for (name, v) in [
            ("ent-coef", self.ent_coef),
            ("vf-coef", self.vf_coef),
            ("max-grad-norm", self.max_grad_norm),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("--{name} must be a non-negative number, got {v}");
            }
        }
        Ok(())
    }
}

/// Policy and value heads on the encoder's features, all in their own `VarStore`.
struct ActorCritic {
    hidden: Option<nn::Linear>,
    policy: nn::Linear,
    value: nn::Linear,
}

impl ActorCritic {
    /// cleanrl's init: orthogonal, gain sqrt 2 for the hidden layer, 0.01 for the policy
    /// (near-uniform first policy), 1 for the value; zero biases.
    fn new(p: &nn::Path, features: i64, hidden: i64, actions: i64) -> Self {
        let cfg = |gain: f64| LinearConfig {
            ws_init: Init::Orthogonal { gain },
            bs_init: Some(Init::Const(0.0)),
            bias: true,
        };
        let (hidden, width) = if hidden > 0 {
            let h = nn::linear(
                p / "hidden",
                features,
                hidden,
                cfg(std::f64::consts::SQRT_2),
            );
            (Some(h), hidden)
        } else {
            (None, features)
        };
        ActorCritic {
            hidden,
            policy: nn::linear(p / "policy", width, actions, cfg(0.01)),
            value: nn::linear(p / "value", width, 1, cfg(1.0)),
        }
    }

    /// (logits `[B, A]`, values `[B]`) of features `[B, d]`.
    fn forward(&self, z: &Tensor) -> (Tensor, Tensor) {
        let h = match &self.hidden {
            Some(l) => l.forward(z).tanh(),
            None => z.shallow_clone(),
        };
        (
            self.policy.forward(&h),
            self.value.forward(&h).squeeze_dim(-1),
        )
    }
}

/// K environments plus their current observations, packed `[K, H, W, C]` for the encoder.
struct VecEnv {
    envs: Vec<AtariAriEnv>,
    obs: Vec<u8>,
    frame_bytes: usize,
    threads: usize,
}

impl VecEnv {
    fn new(envs: Vec<AtariAriEnv>, threads: usize) -> Self {
        let frame_bytes = envs[0].observation().len();
        let mut v = VecEnv {
            obs: vec![0; frame_bytes * envs.len()],
            envs,
            frame_bytes,
            threads: threads.max(1),
        };
        for (env, slot) in v.envs.iter_mut().zip(v.obs.chunks_mut(frame_bytes)) {
            env.reset();
            slot.copy_from_slice(env.observation());
        }
        v
    }

    /// Steps env `i` with `actions[i]`; an env whose episode ended is reset (as AtariARI's
    /// vector env does), so its slot then holds the next episode's first observation.
    fn step(&mut self, actions: &[i64], out: &mut [Option<StepOutcome>]) -> Result<()> {
        fn run(
            envs: &mut [AtariAriEnv],
            actions: &[i64],
            obs: &mut [u8],
            out: &mut [Option<StepOutcome>],
        ) -> Result<()> {
            let fb = obs.len() / envs.len();
            for (i, env) in envs.iter_mut().enumerate() {
                let outcome = env.step(actions[i] as usize)?;
                if outcome.done {
                    env.reset();
                }
                obs[i * fb..(i + 1) * fb].copy_from_slice(env.observation());
                out[i] = Some(outcome);
            }
            Ok(())
        }
        if self.threads == 1 {
            return run(&mut self.envs, actions, &mut self.obs, out);
        }
        let per = self.envs.len().div_ceil(self.threads);
        let fb = self.frame_bytes;
        std::thread::scope(|s| {
            let workers: Vec<_> = self
                .envs
                .chunks_mut(per)
                .zip(actions.chunks(per))
                .zip(self.obs.chunks_mut(per * fb))
                .zip(out.chunks_mut(per))
                .map(|(((e, a), o), r)| s.spawn(move || run(e, a, o, r)))
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join()
                    .map_err(|_| anyhow!("an environment thread panicked"))?
            })
        })
    }
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
    args.validate()?;
    let device = parse_device(&args.device)?;
    if args.torch_threads > 0 {
        tch::set_num_threads(args.torch_threads);
    }
    tch::manual_seed(args.seed as i64);

    let game = resolve_game(&args.game)?;
    let encoder = match &args.encoder {
        Some(path) => {
            let enc = Encoder::load_on(path, device)
                .with_context(|| format!("loading the encoder {}", path.display()))?;
            let meta = enc.meta();
            println!(
                "encoder: {} ({} {}x{}, trained on {}), frozen",
                path.display(),
                meta.method,
                meta.architecture.heads,
                meta.architecture.units,
                meta.game.as_deref().unwrap_or("an unknown game"),
            );
            if meta.game.as_deref().is_some_and(|g| g != game.name) {
                println!(
                    "warning: the encoder was trained on {}, the agent plays {}",
                    meta.game.as_deref().unwrap_or_default(),
                    game.name
                );
            }
            enc
        }
        None => {
            let spec = EncoderSpec::new(
                FrameShape::ATARI_GRAY,
                args.heads as usize,
                args.units as usize,
            )?;
            println!(
                "encoder: none given (--encoder), so a RANDOMLY INITIALISED one (random-cnn, \
                 {}x{}, seed {}), frozen",
                args.heads, args.units, args.seed
            );
            Encoder::new(spec, Method::RandomCnn, Some(game.name.to_string()), device)?
        }
    };
    let shape = encoder.frame_shape();

    let rom = load_rom(game, &RomOptions::default())?;
    let k = args.envs as usize;
    let envs = (0..k)
        .map(|i| {
            let config = EnvConfig {
                seed: args.seed + i as u64,
                color: shape.channels == 3,
                ..EnvConfig::default()
            };
            AtariAriEnv::new(&rom, config)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let obs_shape = envs[0].obs_shape();
    if obs_shape != [shape.height, shape.width, shape.channels] {
        bail!(
            "the encoder takes {shape} frames but {} gives {}x{}x{}",
            game.name,
            obs_shape[0],
            obs_shape[1],
            obs_shape[2]
        );
    }
    let n_actions = envs[0].num_actions();
    let threads = match args.env_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    }
    .min(k);
    let mut venv = VecEnv::new(envs, threads);

    let d = encoder.feature_dim() as i64;
    let vs = nn::VarStore::new(device);
    let ac = ActorCritic::new(&vs.root(), d, args.hidden as i64, n_actions as i64);
    let mut opt = nn::Adam::default().build(&vs, args.lr)?;

    let n = args.n_steps as usize;
    let updates = args.steps.div_ceil(n as u64);
    let transitions = updates * (n * k) as u64;
    println!(
        "a2c: {} ({n_actions} actions), {k} envs x {} steps = {transitions} transitions \
         ({} emulator frames), features {d}, head {}, device {}, {threads} env threads",
        game.name,
        updates * n as u64,
        transitions * 4,
        if args.hidden > 0 {
            format!("MLP {d}-{}-({n_actions}+1)", args.hidden)
        } else {
            format!("linear {d}-({n_actions}+1)")
        },
        encoder.device_name(),
    );

    let encode = |obs: &[u8]| -> Result<Tensor> {
        let frames = Tensor::from_slice(obs).view([
            k as i64,
            shape.height as i64,
            shape.width as i64,
            shape.channels as i64,
        ]);
        Ok(encoder.encode(&frames)?)
    };

    let mut z = encode(&venv.obs)?;
    let mut outcomes = vec![None; k];
    let mut game_return = vec![0i64; k];
    let mut game_len = vec![0u64; k];
    let mut recent: VecDeque<f64> = VecDeque::new();
    let mut all_returns: Vec<f64> = Vec::new();
    let start = Instant::now();

    for update in 1..=updates {
        let mut zs = Vec::with_capacity(n);
        let mut acts = Vec::with_capacity(n);
        let mut rewards = vec![0f32; n * k];
        let mut masks = vec![0f32; n * k];
        for t in 0..n {
            let a = tch::no_grad(|| {
                let (logits, _) = ac.forward(&z);
                logits
                    .softmax(-1, Kind::Float)
                    .multinomial(1, true)
                    .squeeze_dim(-1)
            });
            let a_cpu = Vec::<i64>::try_from(&a.to_device(Device::Cpu))?;
            venv.step(&a_cpu, &mut outcomes)?;
            for (i, o) in outcomes.iter().enumerate() {
                let o = o.ok_or_else(|| anyhow!("env {i} returned no outcome"))?;
                rewards[t * k + i] = o.clipped_reward();
                masks[t * k + i] = if o.done { 0.0 } else { 1.0 };
                game_return[i] += o.reward as i64;
                game_len[i] += 1;
                if o.game_over {
                    let r = game_return[i] as f64;
                    all_returns.push(r);
                    recent.push_back(r);
                    if recent.len() > args.mean_window as usize {
                        recent.pop_front();
                    }
                    let mean = recent.iter().sum::<f64>() / recent.len() as f64;
                    println!(
                        "episode {:>4} | env {i} | step {:>7} | return {r:+5.0} | length {:>5} | \
                         mean(last {}) {mean:+7.2}",
                        all_returns.len(),
                        (update - 1) * (n * k) as u64 + ((t + 1) * k) as u64,
                        game_len[i],
                        recent.len(),
                    );
                    game_return[i] = 0;
                    game_len[i] = 0;
                }
            }
            zs.push(std::mem::replace(&mut z, encode(&venv.obs)?));
            acts.push(a);
        }

        // n-step returns, bootstrapped from V(s_{t+n}) and cut at episode ends.
        let bootstrap = tch::no_grad(|| ac.forward(&z).1.to_device(Device::Cpu));
        let mut ret = Vec::<f32>::try_from(&bootstrap)?;
        let mut returns = vec![0f32; n * k];
        for t in (0..n).rev() {
            for i in 0..k {
                ret[i] = rewards[t * k + i] + args.gamma as f32 * masks[t * k + i] * ret[i];
                returns[t * k + i] = ret[i];
            }
        }
        let returns = Tensor::from_slice(&returns).to_device(device);

        let (logits, values) = ac.forward(&Tensor::cat(&zs, 0));
        let log_probs = logits.log_softmax(-1, Kind::Float);
        let taken = log_probs
            .gather(1, &Tensor::cat(&acts, 0).unsqueeze(1), false)
            .squeeze_dim(1);
        let advantages = (&returns - &values).detach();
        let policy_loss = -(taken * advantages).mean(Kind::Float);
        let value_loss = (&returns - &values).square().mean(Kind::Float);
        let entropy = -(log_probs.exp() * &log_probs)
            .sum_dim_intlist(-1, false, Kind::Float)
            .mean(Kind::Float);
        let loss = &policy_loss + args.vf_coef * &value_loss - args.ent_coef * &entropy;
        if args.max_grad_norm > 0.0 {
            opt.backward_step_clip_norm(&loss, args.max_grad_norm);
        } else {
            opt.backward_step(&loss);
        }

        if args.log_every > 0 && (update % args.log_every == 0 || update == updates) {
            let steps = update * (n * k) as u64;
            let secs = start.elapsed().as_secs_f64();
            println!(
                "update {update:>5}/{updates} | steps {steps:>7}/{transitions} | \
                 perf/steps_per_s {:>6.0} | loss/policy {:+.4} | loss/value {:.4} | \
                 policy/entropy {:.3}",
                steps as f64 / secs,
                policy_loss.double_value(&[]),
                value_loss.double_value(&[]),
                entropy.double_value(&[]),
            );
        }
    }

    let secs = start.elapsed().as_secs_f64();
    println!(
        "finished: {transitions} transitions in {secs:.1} s ({:.0} steps/s, {:.0} emulator \
         frames/s)",
        transitions as f64 / secs,
        4.0 * transitions as f64 / secs
    );
    if all_returns.is_empty() {
        println!(
            "no game finished; partial returns of the running games: {game_return:?} \
             (raise --steps; a near-random Pong game lasts about 800-1200 agent steps)"
        );
    } else {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let half = all_returns.len() / 2;
        let (first, last) = all_returns.split_at(half);
        println!(
            "{} games: mean return {:+.2}{}; running games' partial returns {game_return:?}",
            all_returns.len(),
            mean(&all_returns),
            if half > 0 {
                format!(
                    " (first {} {:+.2}, last {} {:+.2})",
                    first.len(),
                    mean(first),
                    last.len(),
                    mean(last)
                )
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
