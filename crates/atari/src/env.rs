//! The AtariARI environment: baselines' `NoopResetEnv` + `MaxAndSkipEnv` + `EpisodicLifeEnv`
//! + `FireResetEnv` + grayscale, reproduced step for step on top of one [`Ale`].

use dimua_core::seed::splitmix64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ale::{Ale, ACTION_FIRE, NUM_ALE_ACTIONS, RAM_SIZE};
use crate::annotations::{labels, Label};
use crate::error::AtariError;
use crate::frame::{max_gray, max_rgb, Gray, Palette};
use crate::games::Game;
use crate::roms::Rom;

/// Settings of one [`AtariAriEnv`]; the defaults are AtariARI's.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvConfig {
    /// Seeds both the emulator (via [`ale_seed_from`]) and the env's own RNG (no-op counts).
    /// AtariARI uses `42 + rank` for env `rank`.
    pub seed: u64,
    /// Keep RGB observations (210x160x3) instead of grayscale (210x160x1) (`--color`).
    pub color: bool,
    /// How grayscale observations are made ([`Gray::Opencv`], AtariARI's and baselines').
    pub gray: Gray,
    /// A real reset takes a uniform 1..=`noop_max` NOOP frames (30); 0 takes none.
    pub noop_max: u32,
    /// Raw frames per agent step; the observation is the max of the last two (4).
    pub frame_skip: u32,
    /// A lost life (lives decrease and stay > 0) ends the episode (true).
    pub episodic_life: bool,
    /// On reset press FIRE (action 1) then action 2, for games whose minimal action set has
    /// FIRE (true). With `full_action_set` every game has FIRE as action 1.
    pub fire_reset: bool,
    /// The observation is the max of the last two raw frames of a step (true, baselines'
    /// `MaxAndSkipEnv`); false: the last raw frame alone.
    pub max_pool: bool,
    /// ALE's sticky actions: each emulated frame keeps the previous frame's action with this
    /// probability (0.0; Machado et al. 2018 recommend 0.25).
    pub repeat_action_probability: f32,
    /// Play with all 18 ALE actions (action index = ALE id) instead of the game's minimal
    /// set (false).
    pub full_action_set: bool,
    /// Truncate the episode once this many emulator frames have run since the last real
    /// reset (no-op and FIRE frames included); 0 = never (AtariARI's data sizes never reach
    /// gym's limit). The DQN and Machado settings use 108,000 (30 minutes at 60 Hz).
    pub max_episode_frames: u64,
}

impl Default for EnvConfig {
    fn default() -> Self {
        EnvConfig {
            seed: 42,
            color: false,
            gray: Gray::Opencv,
            noop_max: 30,
            frame_skip: 4,
            episodic_life: true,
            fire_reset: true,
            max_pool: true,
            repeat_action_probability: 0.0,
            full_action_set: false,
            max_episode_frames: 0,
        }
    }
}

/// Result of one agent step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepOutcome {
    /// Sum of the raw ALE rewards over the skipped frames (unclipped).
    pub reward: i32,
    /// Episode end as the learner sees it: game over, or (with `episodic_life`) a lost life.
    pub done: bool,
    /// The game itself is over (the next reset is a real one).
    pub game_over: bool,
    /// Lives after the step, as ALE reports them.
    pub lives: i32,
    /// The episode hit [`EnvConfig::max_episode_frames`] without ending (never together
    /// with `done`); the next reset is a real one.
    pub truncated: bool,
}

impl StepOutcome {
    /// baselines' `ClipRewardEnv`: the sign of the reward.
    pub fn clipped_reward(&self) -> f32 {
        self.reward.signum() as f32
    }
}

/// The ALE `random_seed` used for an env seed: a SplitMix64 hash of `seed` reduced to
/// `1..=i32::MAX` (ALE 0.6 treats 0 as "seed from the clock" and reads a C `int`).
pub fn ale_seed_from(seed: u64) -> u32 {
    let h = (splitmix64(seed) & i32::MAX as u64) as u32;
    h.max(1)
}

/// AtariARI's random policy: a uniform action index in `1..n` (never NOOP). Returns 0 when
/// `n < 2`.
pub fn random_action<R: Rng + ?Sized>(rng: &mut R, n: usize) -> usize {
    if n < 2 {
        0
    } else {
        rng.gen_range(1..n)
    }
}

/// One AtariARI environment (`{Game}NoFrameskip-v4` under `make_atari` + `wrap_deepmind`
/// without downsampling), reproducing baselines' wrappers exactly:
///
/// - **step(a)**: minimal-set action `a` is repeated `frame_skip` raw frames, rewards summed,
///   stopping early at game over. The observation is the pixel-wise RGB max of the raw
///   frames `frame_skip-1` and `frame_skip`, then OpenCV gray unless `color` (with
///   [`Gray::Ale`]: the max of ALE's gray levels of the two frames). As in
///   `MaxAndSkipEnv`, the two frame slots persist across steps (zeros = black at first): if
///   the game ends on frame 1 or 2 the max is of the previous step's two frames; if it ends on
///   frame 3 it is of the new frame 3 and the previous step's frame 4. The RAM is read after
///   the step. `done` = game over, or (`episodic_life`) lives decreased and are still > 0.
/// - **reset()**: after a game over (or always without `episodic_life`) a real reset: ALE
///   `reset_game`, then 1..=`noop_max` NOOP frames (count from the env's seeded RNG;
///   `reset_game` again if one ends the game); its observation is the last single raw frame.
///   After a lost life instead: one NOOP agent step. Then, if FIRE is in the game's minimal
///   action set (and `fire_reset`), an agent step with action 1 and one with action 2, each
///   followed by a reset if it ends the episode; the observation is action 2's. The RAM is
///   read at the end.
///
/// Beyond AtariARI (all off by default): sticky actions, the full action set, the last frame
/// instead of the max of two, and a per-episode emulator-frame cap
/// ([`EnvConfig::max_episode_frames`]: the step that reaches it reports `truncated`, and the
/// next reset is a real one).
///
/// Not reproduced: gym's `TimeLimit` (400,000 raw frames per game) by default, which cannot
/// trigger at AtariARI's data sizes, and `ClipRewardEnv` (see
/// [`StepOutcome::clipped_reward`]). The
/// no-op counts come from a ChaCha8 RNG seeded with `seed`, not numpy's, so trajectories
/// are AtariARI-distributed but not bit-identical to a Python run.
///
/// The first `step` of a fresh env resets it first if `reset` was not called. After `done`,
/// call `reset` (as AtariARI's vector env does) to get the next episode's first observation.
pub struct AtariAriEnv {
    ale: Ale,
    config: EnvConfig,
    rng: ChaCha8Rng,
    actions: Vec<i32>,
    fire: bool,
    /// `MaxAndSkipEnv._obs_buffer`, as palette indices.
    frames: [Box<[u8]>; 2],
    /// The single raw frame a real reset returns.
    single: Box<[u8]>,
    obs: Box<[u8]>,
    saved_obs: Box<[u8]>,
    ram: [u8; RAM_SIZE],
    label_indices: Vec<usize>,
    labels: Option<&'static [Label]>,
    lives: i32,
    was_real_done: bool,
    needs_reset: bool,
    /// Emulator frames since the last real reset (`ale.reset_game`).
    episode_frames: u64,
}

impl AtariAriEnv {
    /// An env for `rom` with `config`. Nothing is emulated until the first `reset`/`step`.
    pub fn new(rom: &Rom, config: EnvConfig) -> Result<Self, AtariError> {
        if config.frame_skip == 0 {
            return Err(AtariError::InvalidConfig {
                reason: "frame_skip must be at least 1".into(),
            });
        }
        let ale = Ale::with_sticky_actions(
            rom,
            ale_seed_from(config.seed),
            config.repeat_action_probability,
        )?;
        let actions = if config.full_action_set {
            (0..NUM_ALE_ACTIONS as i32).collect()
        } else {
            ale.minimal_action_set().to_vec()
        };
        let fire = config.fire_reset && actions.contains(&ACTION_FIRE);
        if fire && actions.len() < 3 {
            return Err(AtariError::Emulator {
                game: rom.game.name,
                reason: format!("FIRE reset needs 3 actions, minimal set is {actions:?}"),
            });
        }
        let channels = if config.color { 3 } else { 1 };
        let pixels = ale.screen_pixels();
        let labels = labels(rom.game);
        Ok(AtariAriEnv {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            actions,
            fire,
            frames: [
                vec![0; pixels].into_boxed_slice(),
                vec![0; pixels].into_boxed_slice(),
            ],
            single: vec![0; pixels].into_boxed_slice(),
            obs: vec![0; pixels * channels].into_boxed_slice(),
            saved_obs: vec![0; pixels * channels].into_boxed_slice(),
            ram: [0; RAM_SIZE],
            label_indices: labels
                .map(|ls| ls.iter().map(|l| l.ram_index as usize).collect())
                .unwrap_or_default(),
            labels,
            lives: 0,
            was_real_done: true,
            needs_reset: true,
            episode_frames: 0,
            ale,
            config,
        })
    }

    /// The game being played.
    pub fn game(&self) -> &'static Game {
        self.ale.game()
    }

    /// The configuration.
    pub fn config(&self) -> &EnvConfig {
        &self.config
    }

    /// Number of actions (size of the game's minimal action set, or 18 with
    /// `full_action_set`).
    pub fn num_actions(&self) -> usize {
        self.actions.len()
    }

    /// The action set as ALE action ids (action index `i` plays entry `i`): the minimal set,
    /// or `0..18` with `full_action_set`.
    pub fn action_set(&self) -> &[i32] {
        &self.actions
    }

    /// Whether resets press FIRE (see [`EnvConfig::fire_reset`]).
    pub fn uses_fire_reset(&self) -> bool {
        self.fire
    }

    /// Observation shape `[H, W, C]`: `[210, 160, 1]`, or `[210, 160, 3]` with `color`
    /// (every AtariARI game is 210x160; a few other games have more rows).
    pub fn obs_shape(&self) -> [usize; 3] {
        [
            self.ale.height(),
            self.ale.width(),
            if self.config.color { 3 } else { 1 },
        ]
    }

    /// The current observation, H x W x C row-major `u8` (all zeros before the first reset).
    pub fn observation(&self) -> &[u8] {
        &self.obs
    }

    /// The RAM as of the end of the last `step` or `reset`.
    pub fn ram(&self) -> &[u8; RAM_SIZE] {
        &self.ram
    }

    /// The AtariARI labels of the game (`None` if it has none).
    pub fn labels(&self) -> Option<&'static [Label]> {
        self.labels
    }

    /// Number of AtariARI labels (0 for a game without annotations).
    pub fn num_labels(&self) -> usize {
        self.label_indices.len()
    }

    /// Writes the AtariARI label values (`ram[index]` in the game's label order) of the RAM
    /// from the last `step`/`reset` into `out`, which must hold [`Self::num_labels`] bytes.
    ///
    /// AtariARI pairs the observation returned after an auto-reset with the labels of the
    /// terminal step: to reproduce that, call this after `step` and before `reset`.
    pub fn labels_into(&self, out: &mut [u8]) -> Result<(), AtariError> {
        if self.labels.is_none() {
            return Err(AtariError::NotAtariAri {
                game: self.game().name,
            });
        }
        if out.len() != self.label_indices.len() {
            return Err(AtariError::BufferSize {
                what: "labels",
                got: out.len(),
                expected: self.label_indices.len(),
            });
        }
        for (o, &i) in out.iter_mut().zip(&self.label_indices) {
            *o = self.ram[i];
        }
        Ok(())
    }

    /// Lives as ALE reports them now.
    pub fn lives(&self) -> i32 {
        self.ale.lives()
    }

    /// Emulator frames since the last real reset (no-op and FIRE frames included): what
    /// [`EnvConfig::max_episode_frames`] is compared with.
    pub fn episode_frames(&self) -> u64 {
        self.episode_frames
    }

    /// The underlying emulator (read-only).
    pub fn ale(&self) -> &Ale {
        &self.ale
    }

    /// Starts the next episode (see the type's docs for what that means after a game over
    /// and after a lost life).
    pub fn reset(&mut self) {
        if self.fire {
            self.life_reset();
            if self.life_step(1).1 {
                self.life_reset();
            }
            if self.life_step(2).1 {
                // FireResetEnv returns action 2's observation even when it resets after it;
                // the label is the RAM of that observation, read before the extra reset.
                self.ale.ram(&mut self.ram);
                std::mem::swap(&mut self.obs, &mut self.saved_obs);
                self.life_reset();
                std::mem::swap(&mut self.obs, &mut self.saved_obs);
                self.needs_reset = false;
                return;
            }
        } else {
            self.life_reset();
        }
        self.ale.ram(&mut self.ram);
        self.needs_reset = false;
    }

    /// One agent step with minimal-set action index `action` (`< num_actions()`).
    pub fn step(&mut self, action: usize) -> Result<StepOutcome, AtariError> {
        if action >= self.actions.len() {
            return Err(AtariError::InvalidAction {
                game: self.game().name,
                action,
                limit: self.actions.len(),
            });
        }
        if self.needs_reset {
            self.reset();
        }
        let (reward, done) = self.life_step(action);
        self.ale.ram(&mut self.ram);
        let cap = self.config.max_episode_frames;
        let truncated = !self.was_real_done && cap > 0 && self.episode_frames >= cap;
        if truncated {
            // gym's TimeLimit ends the whole game: the next reset is a real one.
            self.was_real_done = true;
            self.needs_reset = true;
        }
        Ok(StepOutcome {
            reward,
            done: done && !truncated,
            game_over: self.was_real_done && !truncated,
            lives: self.lives,
            truncated,
        })
    }

    /// `EpisodicLifeEnv.step` over `MaxAndSkipEnv.step`.
    fn life_step(&mut self, action: usize) -> (i32, bool) {
        let (reward, game_over) = self.skip_step(action);
        self.was_real_done = game_over;
        let lives = self.ale.lives();
        let life_lost = self.config.episodic_life && lives < self.lives && lives > 0;
        self.lives = lives;
        (reward, game_over || life_lost)
    }

    /// `EpisodicLifeEnv.reset`: a real reset after a game over, else one NOOP agent step.
    fn life_reset(&mut self) {
        if !self.config.episodic_life || self.was_real_done {
            self.noop_reset();
        } else {
            self.skip_step(0);
        }
        self.lives = self.ale.lives();
    }

    /// `MaxAndSkipEnv.step`: returns (summed reward, game over).
    fn skip_step(&mut self, action: usize) -> (i32, bool) {
        let id = self.actions[action];
        let skip = self.config.frame_skip as usize;
        let mut reward = 0;
        let mut game_over = false;
        for i in 0..skip {
            reward += self.ale.act_valid(id);
            self.episode_frames += 1;
            if i + 2 == skip {
                self.ale.screen_valid(&mut self.frames[0]);
            } else if i + 1 == skip {
                self.ale.screen_valid(&mut self.frames[1]);
            }
            if self.ale.game_over() {
                game_over = true;
                break;
            }
        }
        let older = if self.config.max_pool {
            &self.frames[0]
        } else {
            &self.frames[1]
        };
        render_into(
            &mut self.obs,
            self.ale.palette(),
            self.config.color,
            self.config.gray,
            older,
            &self.frames[1],
        );
        (reward, game_over)
    }

    /// `NoopResetEnv.reset` over the raw env: `reset_game`, then the NOOP frames; the
    /// observation is the last raw frame alone (no max).
    fn noop_reset(&mut self) {
        self.ale.reset_game();
        self.episode_frames = 0;
        let noops = if self.config.noop_max == 0 {
            0
        } else {
            self.rng.gen_range(1..=self.config.noop_max)
        };
        for _ in 0..noops {
            self.ale.act_valid(self.actions[0]);
            self.episode_frames += 1;
            if self.ale.game_over() {
                self.ale.reset_game();
                self.episode_frames = 0;
            }
        }
        self.ale.screen_valid(&mut self.single);
        render_into(
            &mut self.obs,
            self.ale.palette(),
            self.config.color,
            self.config.gray,
            &self.single,
            &self.single,
        );
    }
}

fn render_into(obs: &mut [u8], palette: Palette, color: bool, gray: Gray, a: &[u8], b: &[u8]) {
    if color {
        max_rgb(palette, a, b, obs);
    } else {
        max_gray(palette, gray, a, b, obs);
    }
}

impl std::fmt::Debug for AtariAriEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtariAriEnv")
            .field("game", &self.game().name)
            .field("config", &self.config)
            .field("actions", &self.actions)
            .field("fire_reset", &self.fire)
            .field("lives", &self.lives)
            .finish()
    }
}
