//! Owns one preset environment: an [`AtariAriEnv`] plus the resize, the frame stack, the
//! auto-reset and the whole-game statistics.

use dimua_atari::{AtariAriEnv, Rom};

use crate::error::EnvError;
use crate::options::EnvOptions;
use crate::resize::AreaResize;

/// What one step (or reset) of one environment reports, besides the observation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Transition {
    /// Sum of the raw game rewards over the step's frames.
    pub reward: f32,
    /// The reward's sign (baselines' `ClipRewardEnv`), what DQN-style agents learn from.
    pub clipped_reward: f32,
    /// The learner's episode ended: game over, or a lost life with `episodic_life`.
    pub terminated: bool,
    /// The game hit `max_episode_frames`.
    pub truncated: bool,
    /// Lives after the step (before the auto-reset), as ALE reports them.
    pub lives: i32,
    /// A whole game ended on this step (game over or truncation): its statistics follow.
    pub game_ended: bool,
    /// The ended game's score (sum of raw rewards over all its lives); 0 otherwise.
    pub game_return: f32,
    /// The ended game's length in agent steps; 0 otherwise.
    pub game_length: u32,
}

/// One environment with [`EnvOptions`] semantics. After a step that ends the learner's
/// episode (`terminated` or `truncated`) it resets itself at once, and the observation it
/// holds is the next episode's first (gym's same-step auto-reset; the terminal frame is not
/// kept). Labels are read after the step and before that reset, as AtariARI pairs them.
pub struct PresetEnv {
    env: AtariAriEnv,
    resize: Option<AreaResize>,
    frame_len: usize,
    stack: usize,
    /// Ring of `stack` frames; `head` is the slot of the oldest.
    ring: Vec<u8>,
    head: usize,
    labels: Vec<u8>,
    game_return: f64,
    game_length: u32,
    started: bool,
}

impl PresetEnv {
    /// An environment for `rom` with `options` and env seed `seed`.
    pub fn new(rom: &Rom, options: &EnvOptions, seed: u64) -> Result<Self, EnvError> {
        options.validate()?;
        let env = AtariAriEnv::new(rom, options.env_config(seed))?;
        let [h, w, c] = env.obs_shape();
        let resize = match options.resize {
            Some([rh, rw]) if (rh, rw) != (h, w) => Some(AreaResize::new((h, w), (rh, rw), c)?),
            _ => None,
        };
        let (fh, fw) = resize.as_ref().map_or((h, w), AreaResize::output_size);
        let frame_len = fh * fw * c;
        Ok(PresetEnv {
            labels: vec![0; env.num_labels()],
            env,
            resize,
            frame_len,
            stack: options.frame_stack,
            ring: vec![0; frame_len * options.frame_stack],
            head: 0,
            game_return: 0.0,
            game_length: 0,
            started: false,
        })
    }

    /// Observation shape `[stack, height, width, channels]`.
    pub fn obs_shape(&self) -> [usize; 4] {
        let [h, w, c] = self.env.obs_shape();
        let (h, w) = self.resize.as_ref().map_or((h, w), AreaResize::output_size);
        [self.stack, h, w, c]
    }

    /// Bytes of one observation (the product of [`Self::obs_shape`]).
    pub fn obs_len(&self) -> usize {
        self.frame_len * self.stack
    }

    /// Number of actions.
    pub fn num_actions(&self) -> usize {
        self.env.num_actions()
    }

    /// The underlying single AtariARI-style environment.
    pub fn inner(&self) -> &AtariAriEnv {
        &self.env
    }

    /// The AtariARI labels as of the last step, before any auto-reset (empty for games
    /// without annotations).
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Starts a new game (a real reset) and fills the stack with its first frame.
    pub fn reset(&mut self) -> Transition {
        self.env.reset();
        self.started = true;
        self.game_return = 0.0;
        self.game_length = 0;
        self.read_labels();
        self.fill_stack();
        Transition {
            lives: self.env.lives(),
            ..Transition::default()
        }
    }

    /// One agent step with action index `action` (a fresh env is reset first).
    pub fn step(&mut self, action: usize) -> Result<Transition, EnvError> {
        if !self.started {
            self.reset();
        }
        let outcome = self.env.step(action)?;
        self.read_labels();
        self.game_return += outcome.reward as f64;
        self.game_length += 1;
        let mut t = Transition {
            reward: outcome.reward as f32,
            clipped_reward: outcome.clipped_reward(),
            terminated: outcome.done,
            truncated: outcome.truncated,
            lives: outcome.lives,
            ..Transition::default()
        };
        if outcome.game_over || outcome.truncated {
            t.game_ended = true;
            t.game_return = self.game_return as f32;
            t.game_length = self.game_length;
            self.game_return = 0.0;
            self.game_length = 0;
        }
        if outcome.done || outcome.truncated {
            self.env.reset();
            self.fill_stack();
        } else {
            self.push_frame();
        }
        Ok(t)
    }

    /// Copies the stacked observation, oldest frame first, into `out` (`obs_len` bytes).
    pub fn write_obs(&self, out: &mut [u8]) {
        assert_eq!(out.len(), self.obs_len(), "observation buffer size");
        let n = self.frame_len;
        for (k, chunk) in out.chunks_exact_mut(n).enumerate() {
            let slot = (self.head + k) % self.stack;
            chunk.copy_from_slice(&self.ring[slot * n..(slot + 1) * n]);
        }
    }

    fn read_labels(&mut self) {
        if !self.labels.is_empty() {
            // The game has annotations (checked at construction), so this cannot fail.
            let _ = self.env.labels_into(&mut self.labels);
        }
    }

    /// Renders the current emulator observation (resized) into ring slot `slot`.
    fn render_into(&mut self, slot: usize) {
        let n = self.frame_len;
        let out = &mut self.ring[slot * n..(slot + 1) * n];
        match &mut self.resize {
            Some(r) => r.apply(self.env.observation(), out),
            None => out.copy_from_slice(self.env.observation()),
        }
    }

    fn fill_stack(&mut self) {
        self.render_into(0);
        let (first, rest) = self.ring.split_at_mut(self.frame_len);
        for chunk in rest.chunks_exact_mut(self.frame_len) {
            chunk.copy_from_slice(first);
        }
        self.head = 0;
    }

    fn push_frame(&mut self) {
        // The oldest slot becomes the newest.
        self.render_into(self.head);
        self.head = (self.head + 1) % self.stack;
    }
}

impl std::fmt::Debug for PresetEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresetEnv")
            .field("env", &self.env)
            .field("obs_shape", &self.obs_shape())
            .finish()
    }
}
