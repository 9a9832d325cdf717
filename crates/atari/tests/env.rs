//! The AtariARI environment against the real emulator: every game runs, labels move,
//! seeding is deterministic, and observations equal an independent MaxAndSkip + gray
//! reference built on ALE's own `getScreenRGB`.

mod common;

use std::collections::BTreeSet;

use dimua_atari::{random_action, rgb_to_gray, Ale, AtariAriEnv, AtariError, EnvConfig, Rom};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn env(name: &str, config: EnvConfig) -> AtariAriEnv {
    AtariAriEnv::new(&common::rom(name), config).unwrap()
}

/// Runs `steps` random agent steps (AtariARI's policy) and returns every (obs, labels).
fn rollout(env: &mut AtariAriEnv, steps: usize, policy_seed: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(policy_seed);
    let mut labels = vec![0u8; env.num_labels()];
    let mut out = Vec::with_capacity(steps);
    env.reset();
    for _ in 0..steps {
        let a = random_action(&mut rng, env.num_actions());
        let o = env.step(a).unwrap();
        env.labels_into(&mut labels).unwrap();
        if o.done {
            env.reset();
        }
        out.push((env.observation().to_vec(), labels.clone()));
    }
    out
}

#[test]
fn every_atariari_game_runs_and_labels_have_the_right_length() {
    for game in dimua_atari::atariari_games() {
        let mut e = env(game.name, EnvConfig::default());
        assert_eq!(e.obs_shape(), [210, 160, 1], "{}", game.name);
        let n = dimua_atari::labels(game).unwrap().len();
        assert_eq!(e.num_labels(), n);
        let trace = rollout(&mut e, 200, 1);
        let mut distinct_obs = BTreeSet::new();
        for (obs, labels) in &trace {
            assert_eq!(obs.len(), 210 * 160, "{}", game.name);
            assert_eq!(labels.len(), n, "{}", game.name);
            distinct_obs.insert(obs.clone());
        }
        assert!(
            distinct_obs.len() > 5,
            "{}: screen barely changes",
            game.name
        );
        let distinct_ram: BTreeSet<&[u8]> = trace.iter().map(|(_, l)| &l[..]).collect();
        assert!(
            distinct_ram.len() > 5,
            "{}: labels barely change",
            game.name
        );
    }
}

fn distinct_label_values(name: &str, label: &str, steps: usize) -> BTreeSet<u8> {
    let game = dimua_atari::resolve_game(name).unwrap();
    let pos = dimua_atari::labels(game)
        .unwrap()
        .iter()
        .position(|l| l.name == label)
        .unwrap();
    let mut e = env(name, EnvConfig::default());
    rollout(&mut e, steps, 5)
        .iter()
        .map(|(_, l)| l[pos])
        .collect()
}

#[test]
fn pong_and_breakout_player_positions_move_under_random_actions() {
    let pong = distinct_label_values("pong", "player_y", 300);
    assert!(pong.len() >= 10, "pong player_y took {pong:?}");
    let breakout = distinct_label_values("breakout", "player_x", 300);
    assert!(breakout.len() >= 10, "breakout player_x took {breakout:?}");
}

#[test]
fn same_seed_same_trajectory_different_seed_differs() {
    let config = |seed| EnvConfig {
        seed,
        ..EnvConfig::default()
    };
    let a = rollout(&mut env("ms_pacman", config(42)), 150, 9);
    let b = rollout(&mut env("ms_pacman", config(42)), 150, 9);
    assert!(a == b, "same seed gave different observations or RAM");
    let c = rollout(&mut env("ms_pacman", config(43)), 150, 9);
    assert!(a != c, "seeds 42 and 43 gave identical rollouts");
}

/// An independent reference of gym's raw env + baselines' `MaxAndSkipEnv` on ALE's RGB
/// screens (no palette tables): the two 210x160x3 slots persist across steps, a game over
/// breaks the frame loop early, and the observation is `cvtColor(max, RGB2GRAY)`.
struct Reference {
    ale: Ale,
    slots: [Vec<u8>; 2],
    early_ends: usize,
}

impl Reference {
    fn new(rom: &Rom, seed: u32) -> Self {
        Reference {
            ale: Ale::new(rom, seed).unwrap(),
            slots: [vec![0; 3 * 33600], vec![0; 3 * 33600]],
            early_ends: 0,
        }
    }
    fn gray(a: &[u8], b: &[u8]) -> Vec<u8> {
        a.chunks(3)
            .zip(b.chunks(3))
            .map(|(x, y)| rgb_to_gray(x[0].max(y[0]), x[1].max(y[1]), x[2].max(y[2])))
            .collect()
    }
    fn reset(&mut self) -> Vec<u8> {
        self.ale.reset_game();
        let mut rgb = vec![0; 3 * 33600];
        self.ale.screen_rgb(&mut rgb).unwrap();
        Self::gray(&rgb, &rgb)
    }
    fn step(&mut self, id: i32) -> (i32, bool, Vec<u8>) {
        let mut reward = 0;
        let mut done = false;
        for i in 0..4 {
            reward += self.ale.act(id).unwrap();
            if i >= 2 {
                self.ale.screen_rgb(&mut self.slots[i - 2]).unwrap();
            }
            if self.ale.game_over() {
                done = true;
                self.early_ends += usize::from(i < 3);
                break;
            }
        }
        (reward, done, Self::gray(&self.slots[0], &self.slots[1]))
    }
}

#[test]
fn observations_match_an_rgb_maxandskip_reference_including_early_game_over() {
    // Plain MaxAndSkip over the raw env: no noops, no life episodes, no FIRE reset.
    let config = EnvConfig {
        seed: 7,
        noop_max: 0,
        episodic_life: false,
        fire_reset: false,
        ..EnvConfig::default()
    };
    let rom = common::rom("breakout");
    let mut e = AtariAriEnv::new(&rom, config.clone()).unwrap();
    let mut r = Reference::new(&rom, dimua_atari::ale_seed_from(config.seed));
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut ram = [0u8; 128];
    e.reset();
    assert_eq!(e.observation(), &r.reset()[..]);
    let mut game_overs = 0;
    for step in 0..3000 {
        let a = random_action(&mut rng, e.num_actions());
        let o = e.step(a).unwrap();
        let (reward, done, obs) = r.step(e.action_set()[a]);
        assert_eq!(
            (o.reward, o.done, o.game_over),
            (reward, done, done),
            "step {step}"
        );
        assert!(
            e.observation() == &obs[..],
            "step {step}: observation differs"
        );
        r.ale.ram(&mut ram);
        assert_eq!(e.ram(), &ram, "step {step}");
        if done {
            game_overs += 1;
            e.reset();
            assert!(e.observation() == &r.reset()[..], "reset after step {step}");
        }
    }
    assert!(game_overs >= 3, "only {game_overs} game overs");
    assert!(
        r.early_ends >= 1,
        "no game over inside a frame skip was exercised"
    );
}

#[test]
fn color_observations_are_the_rgb_max() {
    let config = EnvConfig {
        seed: 3,
        color: true,
        noop_max: 0,
        episodic_life: false,
        fire_reset: false,
        ..EnvConfig::default()
    };
    let rom = common::rom("pong");
    let mut e = AtariAriEnv::new(&rom, config.clone()).unwrap();
    assert_eq!(e.obs_shape(), [210, 160, 3]);
    let mut r = Reference::new(&rom, dimua_atari::ale_seed_from(config.seed));
    e.reset();
    r.reset();
    for a in [1, 2, 3, 4, 5, 2, 2, 3] {
        e.step(a).unwrap();
        r.step(e.action_set()[a]);
        let max: Vec<u8> = r.slots[0]
            .iter()
            .zip(&r.slots[1])
            .map(|(x, y)| *x.max(y))
            .collect();
        assert!(e.observation() == &max[..]);
    }
}

#[test]
fn life_loss_ends_the_episode_and_reset_continues_the_game() {
    // Breakout: 5 lives, FIRE in the minimal set.
    let mut e = env("breakout", EnvConfig::default());
    assert!(e.uses_fire_reset());
    e.reset();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut life_losses = 0;
    for _ in 0..5000 {
        let lives_before = e.lives();
        let o = e.step(random_action(&mut rng, e.num_actions())).unwrap();
        if !o.done {
            continue;
        }
        if o.game_over {
            // A real reset: ALE restarts the episode's frame count.
            e.reset();
            assert!(e.ale().episode_frame_number() < 200);
            break;
        }
        assert!(o.lives < lives_before && o.lives > 0);
        life_losses += 1;
        let frames = e.ale().episode_frame_number();
        e.reset();
        // One NOOP agent step, then FIRE and action 2: three 4-frame steps, no real reset.
        assert_eq!(e.ale().episode_frame_number(), frames + 12);
    }
    assert_eq!(life_losses, 4, "expected four life losses before game over");
}

#[test]
fn real_resets_take_one_to_thirty_noops_from_the_seeded_rng() {
    // Ms. Pac-Man has no FIRE, so a fresh env's first (real) reset is exactly `reset_game`
    // plus the NOOP frames, which ALE's episode frame counter then shows.
    let rom = common::rom("ms_pacman");
    let noops = |seed| {
        let mut e = AtariAriEnv::new(
            &rom,
            EnvConfig {
                seed,
                ..EnvConfig::default()
            },
        )
        .unwrap();
        assert!(!e.uses_fire_reset());
        e.reset();
        e.ale().episode_frame_number()
    };
    let counts: Vec<i32> = (0..25).map(noops).collect();
    assert!(counts.iter().all(|n| (1..=30).contains(n)), "{counts:?}");
    assert!(
        counts.iter().collect::<BTreeSet<_>>().len() >= 10,
        "{counts:?}"
    );
    assert_eq!(counts[..5], (0..5).map(noops).collect::<Vec<_>>()[..]);
}

#[test]
fn bad_input_is_an_error() {
    let mut e = env("pong", EnvConfig::default());
    assert_eq!(e.num_actions(), 6);
    assert!(matches!(
        e.step(6),
        Err(AtariError::InvalidAction { limit: 6, .. })
    ));
    assert!(matches!(
        e.labels_into(&mut [0u8; 3]),
        Err(AtariError::BufferSize { expected: 8, .. })
    ));
    let mut other = env("alien", EnvConfig::default());
    other.step(1).unwrap();
    assert!(matches!(
        other.labels_into(&mut []),
        Err(AtariError::NotAtariAri { game: "alien" })
    ));
    let zero_skip = EnvConfig {
        frame_skip: 0,
        ..EnvConfig::default()
    };
    assert!(matches!(
        AtariAriEnv::new(&common::rom("pong"), zero_skip),
        Err(AtariError::InvalidConfig { .. })
    ));
}

#[test]
fn random_actions_never_noop() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let drawn: BTreeSet<usize> = (0..1000).map(|_| random_action(&mut rng, 6)).collect();
    assert_eq!(drawn, (1..6).collect());
    assert_eq!(random_action(&mut rng, 1), 0);
}
