//! Owns the environment options and the named presets (`atariari`, `dqn`, `machado`,
//! `gymnasium`).

use std::fmt;
use std::str::FromStr;

use dimua_atari::{EnvConfig, Gray};
use serde::{Deserialize, Serialize};

use crate::error::EnvError;

/// Every setting of one environment. Start from a [`Preset`] and change fields as needed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvOptions {
    /// A real reset plays a uniform 1..=`noop_max` NOOP frames (0: none).
    pub noop_max: u32,
    /// Emulator frames per agent step (the action is repeated).
    pub frame_skip: u32,
    /// The observation is the pixel-wise max of the last two frames of a step (else the last).
    pub max_pool: bool,
    /// A lost life ends the learner's episode (`terminated`); the game goes on after a NOOP
    /// step. Episode statistics still cover whole games.
    pub episodic_life: bool,
    /// After every reset press FIRE then UP (action 1 then 2), for games whose action set
    /// has FIRE.
    pub fire_reset: bool,
    /// RGB observations (3 channels) instead of grayscale (1 channel).
    pub color: bool,
    /// How gray frames are made: `opencv` (RGB max, then OpenCV's RGB->gray: baselines, SB3,
    /// cleanrl) or `ale` (ALE's gray levels, then the max: gymnasium, envpool).
    #[serde(default)]
    pub gray: Gray,
    /// Area-resize every frame to `[height, width]` (OpenCV `INTER_AREA`); `None` keeps the
    /// emulator's 210x160 (250x160 for a few PAL games).
    pub resize: Option<[usize; 2]>,
    /// Frames stacked per observation (oldest first, newest last); after every reset all
    /// slots hold the reset frame.
    pub frame_stack: usize,
    /// ALE sticky actions: per emulated frame, the probability of repeating the previous
    /// frame's action.
    pub repeat_action_probability: f32,
    /// All 18 ALE actions instead of the game's minimal set.
    pub full_action_set: bool,
    /// Truncate a game after this many emulator frames since its real reset (0: never).
    pub max_episode_frames: u64,
}

/// A named set of [`EnvOptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// AtariARI's data-collection semantics (baselines' `NoopReset` + `MaxAndSkip` +
    /// `EpisodicLife` + `FireReset`, grayscale 210x160, no stack): the frames `dimua
    /// collect` stores.
    AtariAri,
    /// The DQN (Mnih et al. 2015) / cleanrl Atari settings: AtariARI's plus 84x84 area
    /// resize, a stack of 4 and a 108,000-frame cap.
    Dqn,
    /// Machado et al. 2018's recommendations: sticky actions 0.25, the full action set, no
    /// life-loss termination, no no-op starts, no FIRE reset, 108,000-frame cap; observations
    /// as `dqn`.
    Machado,
    /// gymnasium's `AtariPreprocessing` defaults on an `ALE/<Game>-v5` env made with
    /// `frameskip=1` (sticky actions 0.25, minimal action set, 108,000-frame cap), then
    /// `FrameStackObservation(4)`: no-op reset up to 30, frame skip 4 with max, ALE's gray,
    /// 84x84 area resize, no life-loss signal, no FIRE reset.
    Gymnasium,
}

/// Every preset, in the order the docs list them.
pub const PRESETS: [Preset; 4] = [
    Preset::AtariAri,
    Preset::Dqn,
    Preset::Machado,
    Preset::Gymnasium,
];

impl Preset {
    /// The preset's name as the CLI and configs spell it.
    pub fn name(self) -> &'static str {
        match self {
            Preset::AtariAri => "atariari",
            Preset::Dqn => "dqn",
            Preset::Machado => "machado",
            Preset::Gymnasium => "gymnasium",
        }
    }

    /// The preset's options.
    pub fn options(self) -> EnvOptions {
        let atariari = EnvOptions {
            noop_max: 30,
            frame_skip: 4,
            max_pool: true,
            episodic_life: true,
            fire_reset: true,
            color: false,
            gray: Gray::Opencv,
            resize: None,
            frame_stack: 1,
            repeat_action_probability: 0.0,
            full_action_set: false,
            max_episode_frames: 0,
        };
        match self {
            Preset::AtariAri => atariari,
            Preset::Dqn => EnvOptions {
                resize: Some([84, 84]),
                frame_stack: 4,
                max_episode_frames: 108_000,
                ..atariari
            },
            Preset::Machado => EnvOptions {
                noop_max: 0,
                episodic_life: false,
                fire_reset: false,
                resize: Some([84, 84]),
                frame_stack: 4,
                repeat_action_probability: 0.25,
                full_action_set: true,
                max_episode_frames: 108_000,
                ..atariari
            },
            Preset::Gymnasium => EnvOptions {
                episodic_life: false,
                fire_reset: false,
                gray: Gray::Ale,
                resize: Some([84, 84]),
                frame_stack: 4,
                repeat_action_probability: 0.25,
                max_episode_frames: 108_000,
                ..atariari
            },
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = EnvError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        PRESETS
            .into_iter()
            .find(|p| p.name() == wanted)
            .ok_or_else(|| EnvError::UnknownPreset {
                name: s.to_string(),
                known: PRESETS.map(Preset::name).join(", "),
            })
    }
}

impl EnvOptions {
    /// Checks the options on their own (before any emulator starts).
    pub fn validate(&self) -> Result<(), EnvError> {
        let bad = |reason: String| Err(EnvError::InvalidOptions { reason });
        if self.frame_skip == 0 {
            return bad("frame_skip must be at least 1 (4 is the usual value)".into());
        }
        if self.frame_stack == 0 || self.frame_stack > 64 {
            return bad(format!(
                "frame_stack must be in 1..=64, got {} (4 is the usual value)",
                self.frame_stack
            ));
        }
        if !(0.0..1.0).contains(&self.repeat_action_probability) {
            return bad(format!(
                "repeat_action_probability must be in [0, 1), got {} (0.25 is Machado et al.'s)",
                self.repeat_action_probability
            ));
        }
        if let Some([h, w]) = self.resize {
            if h == 0 || w == 0 {
                return bad(format!("resize {h}x{w} has an empty side"));
            }
        }
        Ok(())
    }

    /// The single-env settings for env seed `seed`.
    pub fn env_config(&self, seed: u64) -> EnvConfig {
        EnvConfig {
            seed,
            color: self.color,
            gray: self.gray,
            noop_max: self.noop_max,
            frame_skip: self.frame_skip,
            episodic_life: self.episodic_life,
            fire_reset: self.fire_reset,
            max_pool: self.max_pool,
            repeat_action_probability: self.repeat_action_probability,
            full_action_set: self.full_action_set,
            max_episode_frames: self.max_episode_frames,
        }
    }

    /// Channels per frame: 3 with `color`, else 1.
    pub fn channels(&self) -> usize {
        if self.color {
            3
        } else {
            1
        }
    }
}
