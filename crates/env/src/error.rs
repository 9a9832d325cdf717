//! Owns the error type of `dimua-env`.

use dimua_atari::AtariError;

/// What can go wrong building or stepping environments.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// The emulator, ROM or AtariARI layer refused (bad seed, non-canonical ROM, ...).
    #[error(transparent)]
    Atari(#[from] AtariError),
    /// A preset name that does not exist.
    #[error("unknown environment preset `{name}`: use one of {known}")]
    UnknownPreset {
        /// The name given.
        name: String,
        /// The preset names, comma-separated.
        known: String,
    },
    /// Options that cannot work together or are out of range.
    #[error("invalid environment options: {reason}")]
    InvalidOptions {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// An action index outside the action set.
    #[error(
        "env {env}: action {action} is out of range, this game has {limit} actions (0..{limit})"
    )]
    InvalidAction {
        /// Env index.
        env: usize,
        /// The action given.
        action: usize,
        /// Number of actions.
        limit: usize,
    },
    /// A call that does not fit the envs' state (stepping an env already in flight, receiving
    /// with nothing sent, a buffer of the wrong size).
    #[error("{0}")]
    Usage(String),
    /// A worker thread died.
    #[error("an environment worker thread stopped unexpectedly: {0}")]
    Worker(String),
}
