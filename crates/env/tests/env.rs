//! The presets and `VecEnv` on real ROMs and the real emulator: AtariARI numbers unchanged,
//! the DQN reset / stack / life-loss / truncation semantics against independent
//! reconstructions on ALE, determinism across thread counts, async ordering.

#[path = "../../atari/tests/common/mod.rs"]
mod common;

use dimua_atari::{ale_seed_from, random_action, rgb_to_gray, Ale, AtariAriEnv, EnvConfig};
use dimua_env::{
    AreaResize, EnvError, EnvOptions, Preset, StepBatch, Transition, VecEnv, VecEnvConfig,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

fn vec_env(game: &str, options: EnvOptions, n: usize, threads: usize, batch: usize) -> VecEnv {
    let config = VecEnvConfig {
        num_envs: n,
        threads,
        batch_size: batch,
        seed: 7,
        options,
    };
    VecEnv::new(&common::rom(game), config).unwrap()
}

/// Sync rollout: per env a ChaCha8 policy seeded by its index; returns per step the
/// observations and the batch.
fn sync_rollout(envs: &mut VecEnv, steps: usize) -> Vec<(Vec<u8>, StepBatch)> {
    let n = envs.num_envs();
    let mut rngs: Vec<ChaCha8Rng> = (0..n)
        .map(|i| ChaCha8Rng::seed_from_u64(i as u64))
        .collect();
    let mut obs = vec![0u8; n * envs.obs_len()];
    let mut batch = envs.new_batch(n);
    envs.reset(&mut obs, &mut batch).unwrap();
    let mut out = vec![(obs.clone(), batch.clone())];
    for _ in 0..steps {
        let actions: Vec<usize> = rngs
            .iter_mut()
            .map(|r| r.gen_range(0..envs.num_actions()))
            .collect();
        envs.step(&actions, &mut obs, &mut batch).unwrap();
        out.push((obs.clone(), batch.clone()));
    }
    out
}

#[test]
fn atariari_preset_gives_the_atariari_env_numbers() {
    for game in ["pong", "breakout"] {
        let n = 3;
        let mut envs = vec_env(game, Preset::AtariAri.options(), n, 2, n);
        assert_eq!(envs.obs_shape(), [1, 210, 160, 1]);
        let trace = sync_rollout(&mut envs, 300);
        for i in 0..n {
            let config = EnvConfig {
                seed: 7 + i as u64,
                ..EnvConfig::default()
            };
            let mut env = AtariAriEnv::new(&common::rom(game), config).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
            let mut labels = vec![0u8; env.num_labels()];
            env.reset();
            let len = envs.obs_len();
            assert_eq!(&trace[0].0[i * len..(i + 1) * len], env.observation());
            for (t, (obs, batch)) in trace.iter().enumerate().skip(1) {
                let a = rng.gen_range(0..env.num_actions());
                let o = env.step(a).unwrap();
                env.labels_into(&mut labels).unwrap();
                if o.done {
                    env.reset();
                }
                let tr = batch.transitions[i];
                assert_eq!(
                    &obs[i * len..(i + 1) * len],
                    env.observation(),
                    "{game} env {i} step {t}"
                );
                assert_eq!(
                    (tr.reward, tr.terminated, tr.lives),
                    (o.reward as f32, o.done, o.lives)
                );
                assert_eq!(batch.labels_of(i), &labels[..], "{game} env {i} step {t}");
            }
        }
    }
}

/// Gray of the pixel-wise max of two RGB screens, then the DQN resize.
fn gray_84(a: &[u8], b: &[u8]) -> Vec<u8> {
    let gray: Vec<u8> = a
        .chunks(3)
        .zip(b.chunks(3))
        .map(|(x, y)| rgb_to_gray(x[0].max(y[0]), x[1].max(y[1]), x[2].max(y[2])))
        .collect();
    resize_84(&gray)
}

/// The DQN resize of one 210x160 gray frame.
fn resize_84(gray: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 84 * 84];
    AreaResize::new((210, 160), (84, 84), 1)
        .unwrap()
        .apply(gray, &mut out);
    out
}

/// One agent step on a bare ALE with RGB screens of the last two frames.
fn bare_step(ale: &mut Ale, id: i32) -> (i32, Vec<u8>) {
    let mut slots = [vec![0u8; 3 * 33600], vec![0u8; 3 * 33600]];
    let mut reward = 0;
    for i in 0..4 {
        reward += ale.act(id).unwrap();
        if i >= 2 {
            ale.screen_rgb(&mut slots[i - 2]).unwrap();
        }
    }
    (reward, gray_84(&slots[0], &slots[1]))
}

#[test]
fn dqn_reset_presses_fire_then_up_and_fills_the_stack_then_shifts_oldest_first() {
    let options = EnvOptions {
        noop_max: 0,
        ..Preset::Dqn.options()
    };
    let mut envs = vec_env("breakout", options, 1, 1, 1);
    assert_eq!(envs.obs_shape(), [4, 84, 84, 1]);
    let mut obs = vec![0u8; envs.obs_len()];
    let mut batch = envs.new_batch(1);
    envs.reset(&mut obs, &mut batch).unwrap();

    // Independent: ALE with the env's seed, reset, FIRE for 4 frames, then action index 2.
    let rom = common::rom("breakout");
    let mut ale = Ale::new(&rom, ale_seed_from(7)).unwrap();
    let ids = ale.minimal_action_set().to_vec();
    ale.reset_game();
    bare_step(&mut ale, 1);
    let (_, first) = bare_step(&mut ale, ids[2]);
    let frame = 84 * 84;
    for k in 0..4 {
        assert_eq!(
            &obs[k * frame..(k + 1) * frame],
            &first[..],
            "slot {k} after reset"
        );
    }
    // Three steps of RIGHT: the newest frame is last, older ones move towards slot 0.
    let mut expected = vec![first.clone(); 4];
    for step in 0..3 {
        let prev = obs.clone();
        envs.step(&[2], &mut obs, &mut batch).unwrap();
        let (reward, frame_now) = bare_step(&mut ale, ids[2]);
        expected.remove(0);
        expected.push(frame_now);
        assert_eq!(batch.transitions[0].reward, reward as f32);
        for k in 0..4 {
            assert_eq!(
                &obs[k * frame..(k + 1) * frame],
                &expected[k][..],
                "step {step} slot {k}"
            );
        }
        assert_eq!(
            &obs[..3 * frame],
            &prev[frame..],
            "step {step}: shift by one frame"
        );
    }
}

#[test]
fn machado_reset_is_the_bare_reset_frame_and_sticky_actions_follow_ales_rng() {
    // No no-ops, no FIRE: the first observation is the frame `reset_game` leaves, 4 times.
    let mut envs = vec_env("breakout", Preset::Machado.options(), 1, 1, 1);
    let mut obs = vec![0u8; envs.obs_len()];
    let mut batch = envs.new_batch(1);
    envs.reset(&mut obs, &mut batch).unwrap();
    let rom = common::rom("breakout");
    let mut ale = Ale::with_sticky_actions(&rom, ale_seed_from(7), 0.25).unwrap();
    ale.reset_game();
    let mut rgb = vec![0u8; 3 * 33600];
    ale.screen_rgb(&mut rgb).unwrap();
    let first = gray_84(&rgb, &rgb);
    let frame = 84 * 84;
    for k in 0..4 {
        assert_eq!(&obs[k * frame..(k + 1) * frame], &first[..], "slot {k}");
    }
    // The full action set: index = ALE id; stepping both with the same ids stays in step,
    // sticky draws included.
    for step in 0..40 {
        let a = [1, 3, 4, 11, 12][step % 5];
        envs.step(&[a], &mut obs, &mut batch).unwrap();
        let (reward, newest) = bare_step(&mut ale, a as i32);
        assert_eq!(batch.transitions[0].reward, reward as f32);
        assert_eq!(&obs[3 * frame..], &newest[..], "step {step}");
    }
}

/// One agent step on a bare ALE, pooled as gymnasium does: ALE's own gray screens of the
/// last two frames (`getScreenGrayscale`), their max, then the 84x84 resize; also the same
/// two frames pooled as `dqn` does (RGB max, OpenCV gray), for comparison.
fn bare_step_ale_gray(ale: &mut Ale, id: i32) -> (i32, Vec<u8>, Vec<u8>) {
    let mut slots = [vec![0u8; 33600], vec![0u8; 33600]];
    let mut rgb = [vec![0u8; 3 * 33600], vec![0u8; 3 * 33600]];
    let mut reward = 0;
    for i in 0..4 {
        reward += ale.act(id).unwrap();
        if i >= 2 {
            ale.screen_grayscale(&mut slots[i - 2]).unwrap();
            ale.screen_rgb(&mut rgb[i - 2]).unwrap();
        }
    }
    let max: Vec<u8> = slots[0]
        .iter()
        .zip(&slots[1])
        .map(|(a, b)| *a.max(b))
        .collect();
    (reward, resize_84(&max), gray_84(&rgb[0], &rgb[1]))
}

#[test]
fn gymnasium_preset_pools_ales_own_gray_and_follows_sticky_actions() {
    // No no-ops (they are random), no FIRE: the reset frame in all 4 slots, then each step's
    // newest frame = max of ALE's getScreenGrayscale of frames 3 and 4, resized.
    let options = EnvOptions {
        noop_max: 0,
        ..Preset::Gymnasium.options()
    };
    let mut envs = vec_env("ms_pacman", options, 1, 1, 1);
    assert_eq!(envs.obs_shape(), [4, 84, 84, 1]);
    let mut obs = vec![0u8; envs.obs_len()];
    let mut batch = envs.new_batch(1);
    envs.reset(&mut obs, &mut batch).unwrap();
    let rom = common::rom("ms_pacman");
    let mut ale = Ale::with_sticky_actions(&rom, ale_seed_from(7), 0.25).unwrap();
    let ids = ale.minimal_action_set().to_vec();
    ale.reset_game();
    let mut gray = vec![0u8; 33600];
    ale.screen_grayscale(&mut gray).unwrap();
    let first = resize_84(&gray);
    let frame = 84 * 84;
    for k in 0..4 {
        assert_eq!(&obs[k * frame..(k + 1) * frame], &first[..], "slot {k}");
    }
    let mut differs_from_opencv_gray = false;
    for step in 0..200 {
        let a = [0, 1, 2, 3, 4, 5, 6, 7, 8][(step * 7) % 9];
        envs.step(&[a], &mut obs, &mut batch).unwrap();
        let (reward, newest, opencv) = bare_step_ale_gray(&mut ale, ids[a]);
        assert_eq!(batch.transitions[0].reward, reward as f32, "step {step}");
        assert!(!batch.transitions[0].terminated, "no life signal");
        assert_eq!(&obs[3 * frame..], &newest[..], "step {step}");
        differs_from_opencv_gray |= newest != opencv;
    }
    // The two gray conversions really differ on this game (else the test proves nothing).
    assert!(differs_from_opencv_gray);
}

/// Steps one env with random actions until `stop` says so (at most `limit` steps).
fn run_until(
    envs: &mut VecEnv,
    limit: usize,
    mut stop: impl FnMut(&Transition, &[u8]) -> bool,
) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut obs = vec![0u8; envs.obs_len()];
    let mut batch = envs.new_batch(1);
    envs.reset(&mut obs, &mut batch).unwrap();
    for t in 1..=limit {
        let a = random_action(&mut rng, envs.num_actions());
        envs.step(&[a], &mut obs, &mut batch).unwrap();
        if stop(&batch.transitions[0], &obs) {
            return t;
        }
    }
    panic!("condition not met within {limit} steps");
}

#[test]
fn dqn_life_loss_terminates_without_ending_the_game_and_machado_does_not_terminate() {
    let frame = 84 * 84;
    let mut envs = vec_env("breakout", Preset::Dqn.options(), 1, 1, 1);
    let mut lives = 5;
    let mut score = 0.0;
    let mut length = 0;
    let mut life_losses = 0;
    run_until(&mut envs, 20_000, |t, obs| {
        score += t.reward;
        length += 1;
        if t.lives < lives && t.lives > 0 {
            life_losses += 1;
            assert!(t.terminated && !t.game_ended && !t.truncated, "{t:?}");
            // Auto-reset: every slot holds the first frame after the life's FIRE reset.
            assert!((1..4).all(|k| obs[k * frame..(k + 1) * frame] == obs[..frame]));
        }
        lives = t.lives;
        if t.game_ended {
            assert!(t.terminated && t.lives == 0);
            assert_eq!((t.game_return, t.game_length), (score, length));
            return true;
        }
        false
    });
    assert_eq!(life_losses, 4, "Breakout has 5 lives");

    let mut envs = vec_env("breakout", Preset::Machado.options(), 1, 1, 1);
    assert_eq!(envs.num_actions(), 18);
    let mut lives = 5;
    let mut drops = 0;
    run_until(&mut envs, 40_000, |t, _| {
        if t.lives < lives && t.lives > 0 {
            drops += 1;
            assert!(
                !t.terminated,
                "machado: a lost life does not end the episode"
            );
        }
        lives = t.lives;
        t.terminated
    });
    assert!(drops >= 1);
}

#[test]
fn truncation_at_the_frame_cap_counts_reset_frames_and_starts_a_real_reset() {
    // Pong: FIRE reset = 2 agent steps = 8 frames, then 4 per step; 1000 frames at step 248.
    for (preset, expected_step) in [(Preset::Dqn, 248), (Preset::Machado, 250)] {
        let options = EnvOptions {
            noop_max: 0,
            max_episode_frames: 1000,
            ..preset.options()
        };
        let mut envs = vec_env("pong", options, 1, 1, 1);
        let mut seen_steps = 0;
        let step = run_until(&mut envs, 2000, |t, _| {
            seen_steps += 1;
            assert!(!t.terminated, "{preset}: Pong does not end in 1000 frames");
            if t.truncated {
                assert!(t.game_ended);
                assert_eq!(t.game_length, seen_steps);
            }
            t.truncated
        });
        assert_eq!(step as u32, expected_step, "{preset}");
    }
}

#[test]
fn same_seed_same_trajectories_whatever_the_thread_count() {
    let options = Preset::Dqn.options();
    let reference = sync_rollout(&mut vec_env("breakout", options.clone(), 5, 1, 5), 150);
    for threads in [2, 3, 5] {
        let trace = sync_rollout(
            &mut vec_env("breakout", options.clone(), 5, threads, 5),
            150,
        );
        assert!(trace == reference, "{threads} threads differ from 1 thread");
    }
    // Nor on how long waiting threads poll before sleeping.
    for spin in [Duration::ZERO, Duration::from_millis(5)] {
        let mut envs = vec_env("breakout", options.clone(), 5, 2, 5);
        envs.set_spin_wait(spin);
        assert!(
            sync_rollout(&mut envs, 150) == reference,
            "spin wait {spin:?} changed the trajectories"
        );
    }
    // Sticky actions draw from ALE's seeded RNG: reproducible, and they change the game.
    let machado = Preset::Machado.options();
    let a = sync_rollout(&mut vec_env("breakout", machado.clone(), 2, 2, 2), 150);
    let b = sync_rollout(&mut vec_env("breakout", machado.clone(), 2, 1, 2), 150);
    assert!(a == b);
    let no_sticky = EnvOptions {
        repeat_action_probability: 0.0,
        ..machado
    };
    let c = sync_rollout(&mut vec_env("breakout", no_sticky, 2, 2, 2), 150);
    assert!(a != c, "sticky actions changed nothing");
}

#[test]
fn async_mode_returns_every_envs_steps_in_order() {
    let (n, steps) = (6, 120);
    let options = Preset::Dqn.options();
    let sync = sync_rollout(&mut vec_env("pong", options.clone(), n, 2, n), steps);
    let mut envs = vec_env("pong", options, n, 3, 2);
    let len = envs.obs_len();
    let mut rngs: Vec<ChaCha8Rng> = (0..n)
        .map(|i| ChaCha8Rng::seed_from_u64(i as u64))
        .collect();
    let mut done = vec![0usize; n];
    let mut obs = vec![0u8; 2 * len];
    let mut batch = envs.new_batch(2);
    envs.async_reset().unwrap();
    let mut received = 0;
    while done.iter().any(|&d| d <= steps) {
        envs.recv(&mut obs, &mut batch).unwrap();
        assert!(batch.len >= 1 && batch.len <= 2);
        let (mut ids, mut actions) = (Vec::new(), Vec::new());
        for row in 0..batch.len {
            let id = batch.env_ids[row];
            let t = done[id];
            let (sync_obs, sync_batch) = &sync[t];
            assert_eq!(
                &obs[row * len..(row + 1) * len],
                &sync_obs[id * len..(id + 1) * len],
                "env {id} step {t}"
            );
            assert_eq!(
                batch.transitions[row], sync_batch.transitions[id],
                "env {id} step {t}"
            );
            done[id] += 1;
            received += 1;
            if done[id] <= steps {
                ids.push(id);
                actions.push(rngs[id].gen_range(0..envs.num_actions()));
            }
        }
        if !ids.is_empty() {
            envs.send(&actions, &ids).unwrap();
        }
    }
    assert_eq!(received, n * (steps + 1));
}

#[test]
fn bad_calls_are_refused_with_the_fix() {
    let mut envs = vec_env("pong", Preset::Dqn.options(), 2, 1, 1);
    let mut obs = vec![0u8; 2 * envs.obs_len()];
    let mut batch = envs.new_batch(2);
    envs.reset(&mut obs, &mut batch).unwrap();
    let err = envs.step(&[0, 6], &mut obs, &mut batch).unwrap_err();
    assert!(
        matches!(
            err,
            EnvError::InvalidAction {
                env: 1,
                action: 6,
                limit: 6
            }
        ),
        "{err}"
    );
    envs.send(&[0], &[0]).unwrap();
    let err = envs.send(&[1], &[0]).unwrap_err();
    assert!(err.to_string().contains("in flight"), "{err}");
    let err = envs.step(&[0, 0], &mut obs, &mut batch).unwrap_err();
    assert!(err.to_string().contains("recv"), "{err}");
    envs.recv(&mut obs, &mut batch).unwrap();
    assert!(envs.recv(&mut obs, &mut batch).is_err());
    // A buffer too small is refused before any env moves; the next call works.
    let err = envs.step(&[0, 0], &mut [0u8; 10], &mut batch).unwrap_err();
    assert!(err.to_string().contains("buffers too small"), "{err}");
    envs.step(&[0, 0], &mut obs, &mut batch).unwrap();
    let err = "nature".parse::<Preset>().unwrap_err();
    assert!(err.to_string().contains("atariari, dqn, machado"), "{err}");
    let config = VecEnvConfig {
        num_envs: 2,
        threads: 1,
        batch_size: 3,
        seed: 1,
        options: Preset::Dqn.options(),
    };
    assert!(VecEnv::new(&common::rom("pong"), config).is_err());
    let bad = EnvOptions {
        frame_stack: 0,
        ..Preset::Dqn.options()
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("frame_stack"));
}

/// `dimua bench env --steps 0` printed a result of 0 agent steps/s instead of refusing a
/// benchmark that times nothing.
#[test]
fn bench_env_with_zero_steps_is_refused() {
    let config = VecEnvConfig {
        num_envs: 2,
        threads: 1,
        batch_size: 2,
        seed: 1,
        options: Preset::Dqn.options(),
    };
    let err = dimua_env::bench_env(&common::rom("pong"), config, dimua_env::DEFAULT_SPIN, 0, 0)
        .unwrap_err();
    assert!(
        err.to_string().contains("--steps must be at least 1"),
        "{err}"
    );
}

/// `dimua bench env`'s result on a real ROM: every timed step counted, the rate is steps over
/// seconds, and the construction time is reported apart from the timed part.
#[test]
fn bench_env_counts_every_timed_step_and_reports_the_build_time_apart() {
    let config = VecEnvConfig {
        num_envs: 2,
        threads: 2,
        batch_size: 2,
        seed: 3,
        options: Preset::Dqn.options(),
    };
    let r =
        dimua_env::bench_env(&common::rom("pong"), config, dimua_env::DEFAULT_SPIN, 5, 20).unwrap();
    assert_eq!((r.envs, r.threads, r.batch_size), (2, 2, 2));
    assert_eq!(r.agent_steps, 40);
    assert!(r.seconds > 0.0 && r.agent_steps_per_s > 0.0, "{r:?}");
    assert!((r.agent_steps_per_s - 40.0 / r.seconds).abs() < 1e-6 * r.agent_steps_per_s);
    assert!(r.build_seconds > 0.0, "{r:?}");
}
