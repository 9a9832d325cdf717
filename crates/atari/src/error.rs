//! The crate's error type: every failure names what went wrong and where.

use std::path::PathBuf;

/// Everything that can go wrong in `dimua-atari`.
///
/// Variants carry the game, path or value involved so that a message printed at the top of
/// the binary is enough to act on. Nothing in this crate panics on bad input; it returns one
/// of these instead.
#[derive(Debug, thiserror::Error)]
pub enum AtariError {
    /// A game name that matches none of the 76 games ALE 0.6 supports.
    #[error("unknown game `{name}`; known games (ROM names): {}", known.join(", "))]
    UnknownGame {
        /// The name as given.
        name: String,
        /// Every supported ROM name, in registry order.
        known: Vec<&'static str>,
    },

    /// No canonical ROM for the game could be found anywhere.
    #[error("no canonical ROM for `{game}`: {hint}")]
    MissingRom {
        /// ROM name of the game.
        game: &'static str,
        /// What to run to fix it.
        hint: String,
    },

    /// A ROM file whose md5 is not the canonical dump for its game.
    #[error(
        "{} is not the canonical ROM: md5 {md5}, expected {expected}; refusing to load it \
         (a non-canonical dump can crash ALE 0.6 and changes the data). Fix: \
         `dimua roms import <path to ale-py wheel or ROM folder>`, or pass \
         --allow-unknown-rom to load it anyway",
        path.display()
    )]
    NonCanonicalRom {
        /// The file that was checked.
        path: PathBuf,
        /// Its md5.
        md5: String,
        /// The canonical md5 of the game.
        expected: &'static str,
    },

    /// A ROM file whose length is no Atari 2600 cartridge size: ALE 0.6's cartridge code
    /// would read past its end (shorter files), ignore part of it (longer ones) or, for an
    /// empty file, emulate a Supercharger without a tape, so it is refused even with
    /// `--allow-unknown-rom`.
    #[error(
        "{} is {bytes} bytes, which is no Atari 2600 cartridge size ({}, or a multiple of \
         8448 for Supercharger tapes); ALE 0.6 would misread it. Fix: use the \
         canonical dump (`dimua roms import <path to ale-py wheel or ROM folder>`), or a \
         complete image of the cartridge",
        path.display(),
        crate::roms::CARTRIDGE_SIZES.map(|n| n.to_string()).join(", ")
    )]
    BadRomSize {
        /// The file.
        path: PathBuf,
        /// Its length.
        bytes: usize,
    },

    /// A file in the ROM store whose content no longer matches its name (truncated, edited
    /// or damaged on disk).
    #[error(
        "ROM store file {} is corrupt: md5 {md5}, expected {expected} for `{game}`; delete it \
         and re-run `dimua roms import <path to ale-py wheel or ROM folder>`",
        path.display()
    )]
    CorruptRom {
        /// Game the file claims to be.
        game: &'static str,
        /// Path of the damaged file.
        path: PathBuf,
        /// md5 found.
        md5: String,
        /// md5 expected.
        expected: &'static str,
    },

    /// An AtariARI-only operation on a game without RAM annotations.
    #[error(
        "`{game}` has no AtariARI RAM annotations; AtariARI covers: {}",
        crate::games::atariari_games().map(|g| g.name).collect::<Vec<_>>().join(", ")
    )]
    NotAtariAri {
        /// ROM name of the game.
        game: &'static str,
    },

    /// A file or directory operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A zip/wheel archive could not be read.
    #[error("cannot read archive {}: {reason}", path.display())]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What the zip reader said.
        reason: String,
    },

    /// An import source that is neither a directory nor a zip/wheel file.
    #[error(
        "cannot import ROMs from {}: expected a directory of .bin files or an ale-py wheel / zip file",
        path.display()
    )]
    BadImportSource {
        /// The path given.
        path: PathBuf,
    },

    /// A seed the emulator cannot use (ALE 0.6 seeds from the clock on 0 and takes a C `int`).
    #[error("invalid ALE seed {seed}: must be in 1..={max}", max = i32::MAX)]
    InvalidSeed {
        /// The seed given.
        seed: u64,
    },

    /// An action outside the valid range.
    #[error("invalid action {action} for `{game}`: must be below {limit}")]
    InvalidAction {
        /// Game being played.
        game: &'static str,
        /// The action given (raw ALE id or minimal-set index, see the call).
        action: usize,
        /// Exclusive upper bound.
        limit: usize,
    },

    /// A caller-supplied buffer of the wrong size.
    #[error("buffer for {what} has length {got}, expected {expected}")]
    BufferSize {
        /// Which buffer.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length needed.
        expected: usize,
    },

    /// The emulator returned something impossible (null handle, odd screen size, ...).
    #[error("ALE failure for `{game}`: {reason}")]
    Emulator {
        /// Game being played.
        game: &'static str,
        /// What was wrong.
        reason: String,
    },

    /// An environment configuration that cannot work.
    #[error("invalid env config: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
}

impl AtariError {
    /// Wraps an `io::Error` with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AtariError::Io {
            path: path.into(),
            source,
        }
    }
}
