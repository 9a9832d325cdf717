//! Owns the environment throughput benchmark behind `dimua bench env`.

use std::time::{Duration, Instant};

use dimua_atari::Rom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::EnvError;
use crate::vec::{VecEnv, VecEnvConfig};

/// One timed run of a [`VecEnv`] under uniform random actions.
#[derive(Debug, Clone, Serialize)]
pub struct EnvBenchResult {
    /// Environments.
    pub envs: usize,
    /// Worker threads.
    pub threads: usize,
    /// Results per receive (= envs: sync mode).
    pub batch_size: usize,
    /// Microseconds waiting threads polled before sleeping ([`VecEnv::set_spin_wait`]).
    pub spin_wait_us: u64,
    /// Timed agent steps, all envs together (one env `step` = one agent step = `frame_skip`
    /// emulator frames, plus reset frames when an episode ends).
    pub agent_steps: u64,
    /// Seconds of the timed part.
    pub seconds: f64,
    /// `agent_steps / seconds`.
    pub agent_steps_per_s: f64,
    /// Whole games that ended during the timed part.
    pub games_ended: u64,
    /// Their mean score: the uniform random policy's return (NaN if none ended).
    pub mean_game_return: f64,
    /// Seconds [`VecEnv::new`] took (not timed in `seconds`): ALE 0.6 builds each emulator
    /// under one process-wide lock, and its `loadROM` fills a colour-averaging table of 64^3
    /// entries, so construction costs about 0.1 s per env, one env at a time.
    pub build_seconds: f64,
}

/// Resets, runs `warmup` untimed then `steps` timed agent steps per env with uniform random
/// actions (ChaCha8 seeded by `config.seed`). Sync mode when `batch_size == num_envs`, else
/// async: every received env gets its next action at once, envpool's async loop. `spin` is
/// the envs' [`VecEnv::set_spin_wait`].
pub fn bench_env(
    rom: &Rom,
    config: VecEnvConfig,
    spin: Duration,
    warmup: u64,
    steps: u64,
) -> Result<EnvBenchResult, EnvError> {
    if steps == 0 {
        return Err(EnvError::Usage(
            "--steps must be at least 1: a benchmark of 0 timed agent steps measures nothing \
             (2000 is the default)"
                .into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let (n, b) = (config.num_envs, config.batch_size);
    let built = Instant::now();
    let mut envs = VecEnv::new(rom, config)?;
    envs.set_spin_wait(spin);
    let build_seconds = built.elapsed().as_secs_f64();
    let k = envs.num_actions();
    let mut obs = vec![0u8; n * envs.obs_len()];
    let mut batch = envs.new_batch(n);
    let mut actions = vec![0usize; n];
    let mut games = 0u64;
    let mut score = 0f64;
    let mut done = 0u64;
    let mut start = Instant::now();
    let mut timed_from = 0u64;
    let total = (warmup + steps) * n as u64;
    if b == n {
        envs.reset(&mut obs, &mut batch)?;
        for t in 0..warmup + steps {
            if t == warmup {
                start = Instant::now();
                games = 0;
                score = 0.0;
            }
            actions.iter_mut().for_each(|a| *a = rng.gen_range(0..k));
            envs.step(&actions, &mut obs, &mut batch)?;
            for t in batch.transitions.iter().filter(|t| t.game_ended) {
                games += 1;
                score += t.game_return as f64;
            }
        }
    } else {
        envs.async_reset()?;
        let mut ids = Vec::with_capacity(b);
        while done < total {
            envs.recv(&mut obs, &mut batch)?;
            ids.clear();
            ids.extend_from_slice(&batch.env_ids[..batch.len]);
            for t in batch.transitions[..batch.len]
                .iter()
                .filter(|t| t.game_ended)
            {
                games += 1;
                score += t.game_return as f64;
            }
            let before = done;
            done += batch.len as u64;
            if before < warmup * n as u64 && done >= warmup * n as u64 {
                start = Instant::now();
                games = 0;
                score = 0.0;
                timed_from = done;
            }
            actions.truncate(ids.len());
            actions.resize(ids.len(), 0);
            actions.iter_mut().for_each(|a| *a = rng.gen_range(0..k));
            envs.send(&actions, &ids)?;
        }
        // Drain what is still in flight before timing stops.
        while envs.recv(&mut obs, &mut batch).is_ok() {
            done += batch.len as u64;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let agent_steps = if b == n {
        steps * n as u64
    } else {
        done - timed_from
    };
    Ok(EnvBenchResult {
        envs: n,
        threads: envs.config().threads,
        batch_size: b,
        spin_wait_us: spin.as_micros() as u64,
        agent_steps,
        seconds,
        agent_steps_per_s: agent_steps as f64 / seconds,
        games_ended: games,
        mean_game_return: score / games as f64,
        build_seconds,
    })
}
