//! A safe, owned handle over one ALE 0.6 emulator (`ale-sys`): construction with fixed
//! settings, acting, and reading screen, RAM and lives without allocating.

use std::ffi::CString;
use std::fs;
use std::ptr::NonNull;
use std::sync::Mutex;

use crate::error::AtariError;
use crate::frame::Palette;
use crate::games::Game;
use crate::roms::{check_cartridge_size, md5_hex, Rom, RomSource};

/// Size of the Atari 2600 RAM.
pub const RAM_SIZE: usize = 128;

/// Number of ALE actions (the full action set, ids `0..18`).
pub const NUM_ALE_ACTIONS: usize = 18;

/// ALE action id of FIRE.
pub const ACTION_FIRE: i32 = 1;

/// ALE 0.6 keeps global state (the logger mode, settings parsing) that is not safe to touch
/// from several threads at once, so construction, ROM loading and deletion are serialised.
static ALE_LIFECYCLE: Mutex<()> = Mutex::new(());

fn lifecycle_lock() -> std::sync::MutexGuard<'static, ()> {
    // A panic while holding the lock leaves no ALE state half-built that we rely on.
    ALE_LIFECYCLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// One ALE 0.6 emulator with a loaded game.
///
/// Settings are fixed: `repeat_action_probability` 0 (no sticky actions), the given non-zero
/// `random_seed`, logger mode "errors only", frame skip 1. One instance per thread: `Ale` is
/// `Send` but not `Sync`. Dropping it deletes the emulator and its temporary ROM copy.
pub struct Ale {
    ptr: NonNull<ale_sys::ALEInterface>,
    game: &'static Game,
    seed: u32,
    width: usize,
    height: usize,
    minimal_actions: Vec<i32>,
    /// Bit `i` set: `Palette::ALL[i]` agrees with every screen checked so far.
    palette_candidates: u8,
    /// `getScreenRGB` scratch, used only until one palette is left.
    rgb_scratch: Vec<u8>,
    /// Palette indices already checked against ALE's RGB: the remaining candidates agree on
    /// all of them, so a screen made only of these cannot narrow anything further.
    checked_indices: [bool; 256],
    // ALE 0.6 loads the game from a file named `<game>.bin`; the copy lives as long as `Ale`.
    _rom_dir: tempfile::TempDir,
}

// SAFETY: an ALEInterface has no thread affinity; it may move between threads as long as it
// is used from one at a time, which `&mut`/non-`Sync` guarantee. Shared ALE globals are only
// touched under `ALE_LIFECYCLE`.
unsafe impl Send for Ale {}

impl Ale {
    /// Starts an emulator for `rom` with ALE `random_seed` = `seed`.
    ///
    /// `seed` must be in `1..=i32::MAX`: ALE 0.6 seeds from the clock when given 0 and reads
    /// the seed as a C `int`, so 0 and larger values are refused with
    /// [`AtariError::InvalidSeed`] (use [`crate::ale_seed_from`] to map any `u64`).
    ///
    /// The ROM is re-hashed: its bytes must match `rom.md5`, and the md5 must be the game's
    /// canonical one unless the ROM came from [`RomSource::UnverifiedUserFile`], whose length
    /// must then be a cartridge size ([`crate::roms::CARTRIDGE_SIZES`]).
    pub fn new(rom: &Rom, seed: u32) -> Result<Ale, AtariError> {
        Ale::with_sticky_actions(rom, seed, 0.0)
    }

    /// [`Ale::new`] with ALE's `repeat_action_probability` (sticky actions, Machado et al.
    /// 2018): on every emulated frame ALE keeps the previous frame's action with this
    /// probability instead of the one given to `act`, drawing from its own RNG seeded with
    /// `seed` (so trajectories stay reproducible). `0.0` is what [`Ale::new`] uses; values
    /// outside `0.0..1.0` (or NaN) are refused with [`AtariError::InvalidConfig`].
    pub fn with_sticky_actions(
        rom: &Rom,
        seed: u32,
        repeat_action_probability: f32,
    ) -> Result<Ale, AtariError> {
        let game = rom.game;
        if seed == 0 || seed > i32::MAX as u32 {
            return Err(AtariError::InvalidSeed { seed: seed as u64 });
        }
        if !(0.0..1.0).contains(&repeat_action_probability) {
            return Err(AtariError::InvalidConfig {
                reason: format!(
                    "repeat_action_probability (sticky actions) must be in [0, 1), got \
                     {repeat_action_probability}; Machado et al. recommend 0.25"
                ),
            });
        }
        let md5 = md5_hex(&rom.bytes);
        let opted_in = if let RomSource::UnverifiedUserFile(path) = &rom.source {
            check_cartridge_size(path, rom.bytes.len())?;
            true
        } else {
            false
        };
        if md5 != rom.md5 || (md5 != game.canonical_md5 && !opted_in) {
            return Err(AtariError::NonCanonicalRom {
                path: match &rom.source {
                    RomSource::Store(p) | RomSource::UserFile(p) => p.clone(),
                    RomSource::UnverifiedUserFile(p) => p.clone(),
                    RomSource::Bundled => format!("<bundled {}>", game.rom_file_name()).into(),
                },
                md5,
                expected: game.canonical_md5,
            });
        }

        let rom_dir = tempfile::Builder::new()
            .prefix("dimua-ale-")
            .tempdir()
            .map_err(|e| AtariError::io(std::env::temp_dir(), e))?;
        let rom_path = rom_dir.path().join(game.rom_file_name());
        fs::write(&rom_path, &rom.bytes).map_err(|e| AtariError::io(&rom_path, e))?;
        let c_path = CString::new(rom_path.to_string_lossy().into_owned()).map_err(|_| {
            AtariError::Emulator {
                game: game.name,
                reason: format!("temporary ROM path {} contains NUL", rom_path.display()),
            }
        })?;

        let ptr = {
            let _guard = lifecycle_lock();
            // SAFETY: plain FFI calls on a fresh instance; the key/value strings are
            // NUL-terminated literals and `c_path` outlives the call.
            unsafe {
                ale_sys::setLoggerMode(2);
                let raw = ale_sys::ALE_new();
                let Some(ptr) = NonNull::new(raw) else {
                    return Err(AtariError::Emulator {
                        game: game.name,
                        reason: "ALE_new returned null".into(),
                    });
                };
                ale_sys::setInt(ptr.as_ptr(), c"random_seed".as_ptr(), seed as i32);
                ale_sys::setFloat(
                    ptr.as_ptr(),
                    c"repeat_action_probability".as_ptr(),
                    repeat_action_probability,
                );
                ale_sys::setInt(ptr.as_ptr(), c"frame_skip".as_ptr(), 1);
                ale_sys::setBool(ptr.as_ptr(), c"color_averaging".as_ptr(), false);
                ale_sys::loadROM(ptr.as_ptr(), c_path.as_ptr());
                ptr
            }
        };

        let mut ale = Ale {
            ptr,
            game,
            seed,
            width: 0,
            height: 0,
            minimal_actions: Vec::new(),
            palette_candidates: 0b111,
            rgb_scratch: Vec::new(),
            checked_indices: [false; 256],
            _rom_dir: rom_dir,
        };
        // SAFETY: the instance is live; the buffer is sized from the size query.
        unsafe {
            let n = ale_sys::getMinimalActionSize(ptr.as_ptr());
            if !(1..=NUM_ALE_ACTIONS as i32).contains(&n) {
                return Err(AtariError::Emulator {
                    game: game.name,
                    reason: format!("minimal action set has {n} actions"),
                });
            }
            ale.minimal_actions = vec![0; n as usize];
            ale_sys::getMinimalActionSet(ptr.as_ptr(), ale.minimal_actions.as_mut_ptr());
        }
        let (w, h, ram) = unsafe {
            (
                ale_sys::getScreenWidth(ptr.as_ptr()),
                ale_sys::getScreenHeight(ptr.as_ptr()),
                ale_sys::getRAMSize(ptr.as_ptr()),
            )
        };
        if !(1..=1024).contains(&w) || !(1..=1024).contains(&h) || ram as usize != RAM_SIZE {
            return Err(AtariError::Emulator {
                game: game.name,
                reason: format!("screen {w}x{h}, RAM {ram} bytes; expected 128 bytes of RAM"),
            });
        }
        ale.width = w as usize;
        ale.height = h as usize;
        // Narrow the palette on the start-up screen (ALE ran its reset frames in loadROM).
        let mut screen = vec![0u8; ale.screen_pixels()];
        ale.screen_valid(&mut screen);
        if ale
            .minimal_actions
            .iter()
            .any(|&a| !(0..NUM_ALE_ACTIONS as i32).contains(&a))
        {
            return Err(AtariError::Emulator {
                game: game.name,
                reason: format!("odd minimal action set {:?}", ale.minimal_actions),
            });
        }
        Ok(ale)
    }

    /// Screen width in pixels (160 for every game).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Screen height in pixels (210 for the AtariARI games; a few others differ, e.g.
    /// adventure has 250).
    pub fn height(&self) -> usize {
        self.height
    }

    /// Pixels per screen: `width * height`.
    pub fn screen_pixels(&self) -> usize {
        self.width * self.height
    }

    /// The palette ALE uses for this game, as far as the screens seen so far tell (see
    /// [`Self::palette_resolved`]). Any palette still possible agrees with ALE's RGB on
    /// every screen read so far, so converting those screens with it is exact.
    pub fn palette(&self) -> Palette {
        let i = self.palette_candidates.trailing_zeros() as usize;
        Palette::ALL[i.min(2)]
    }

    /// Whether the screens seen so far single out one palette. Until then each screen read
    /// also reads `getScreenRGB` once to narrow it down (a handful of frames in practice).
    pub fn palette_resolved(&self) -> bool {
        self.palette_candidates.count_ones() == 1
    }

    /// Drops the palettes that disagree with ALE's RGB on the current screen `indices`.
    fn narrow_palette(&mut self, indices: &[u8]) {
        let n = self.screen_pixels();
        self.rgb_scratch.resize(3 * n, 0);
        // SAFETY: live instance; the scratch holds 3*width*height bytes.
        unsafe { ale_sys::getScreenRGB(self.ptr.as_ptr(), self.rgb_scratch.as_mut_ptr()) };
        let mut keep = 0u8;
        for (bit, p) in Palette::ALL.iter().enumerate() {
            if self.palette_candidates & (1 << bit) != 0
                && indices
                    .iter()
                    .zip(self.rgb_scratch.chunks_exact(3))
                    .all(|(&i, rgb)| p.rgb(i) == rgb)
            {
                keep |= 1 << bit;
            }
        }
        if keep == 0 {
            tracing::error!(
                game = self.game.name,
                "no known ALE palette matches getScreenRGB; keeping {:?}",
                self.palette()
            );
            keep = 1 << self.palette_candidates.trailing_zeros();
        }
        self.palette_candidates = keep;
        if keep.count_ones() == 1 {
            self.rgb_scratch = Vec::new();
        }
    }

    /// The game being emulated.
    pub fn game(&self) -> &'static Game {
        self.game
    }

    /// The ALE `random_seed` this instance was created with.
    pub fn seed(&self) -> u32 {
        self.seed
    }

    /// The game's minimal action set (ALE action ids); gym's action `i` is entry `i`.
    pub fn minimal_action_set(&self) -> &[i32] {
        &self.minimal_actions
    }

    /// Emulates one frame with ALE action id `action` (`0..18`) and returns its reward.
    #[inline]
    pub fn act(&mut self, action: i32) -> Result<i32, AtariError> {
        if !(0..NUM_ALE_ACTIONS as i32).contains(&action) {
            return Err(AtariError::InvalidAction {
                game: self.game.name,
                action: action.max(0) as usize,
                limit: NUM_ALE_ACTIONS,
            });
        }
        // SAFETY: live instance, valid action id.
        Ok(unsafe { ale_sys::act(self.ptr.as_ptr(), action) })
    }

    /// Whether the game is over (ALE's `game_over`).
    #[inline]
    pub fn game_over(&self) -> bool {
        // SAFETY: live instance; a read-only query.
        unsafe { ale_sys::game_over(self.ptr.as_ptr()) }
    }

    /// Resets the game (ALE's `reset_game`: a soft reset plus ALE's fixed start-up frames).
    pub fn reset_game(&mut self) {
        // SAFETY: live instance.
        unsafe { ale_sys::reset_game(self.ptr.as_ptr()) }
    }

    /// Lives left as ALE reports them (0 for games without lives).
    #[inline]
    pub fn lives(&self) -> i32 {
        // SAFETY: live instance; a read-only query.
        unsafe { ale_sys::lives(self.ptr.as_ptr()) }
    }

    /// Frames emulated since the ROM was loaded.
    pub fn frame_number(&self) -> i32 {
        // SAFETY: live instance; a read-only query.
        unsafe { ale_sys::getFrameNumber(self.ptr.as_ptr()) }
    }

    /// Frames emulated since the last reset.
    pub fn episode_frame_number(&self) -> i32 {
        // SAFETY: live instance; a read-only query.
        unsafe { ale_sys::getEpisodeFrameNumber(self.ptr.as_ptr()) }
    }

    /// Copies the screen as palette indices (height x width, row-major) into `out`, which
    /// must hold exactly [`Self::screen_pixels`] bytes.
    #[inline]
    pub fn screen(&mut self, out: &mut [u8]) -> Result<(), AtariError> {
        check_len("screen", out.len(), self.screen_pixels())?;
        self.screen_valid(out);
        Ok(())
    }

    /// Copies the screen as RGB (height x width x 3, row-major) into `out`, which must hold
    /// exactly `3 * screen_pixels()` bytes.
    pub fn screen_rgb(&self, out: &mut [u8]) -> Result<(), AtariError> {
        check_len("screen_rgb", out.len(), 3 * self.screen_pixels())?;
        // SAFETY: live instance; `out` holds 3*width*height bytes.
        unsafe { ale_sys::getScreenRGB(self.ptr.as_ptr(), out.as_mut_ptr()) };
        Ok(())
    }

    /// Copies ALE's own grayscale screen (`getScreenGrayscale`: height x width, row-major)
    /// into `out`, which must hold exactly [`Self::screen_pixels`] bytes.
    pub fn screen_grayscale(&self, out: &mut [u8]) -> Result<(), AtariError> {
        check_len("screen_grayscale", out.len(), self.screen_pixels())?;
        // SAFETY: live instance; `out` holds width*height bytes.
        unsafe { ale_sys::getScreenGrayscale(self.ptr.as_ptr(), out.as_mut_ptr()) };
        Ok(())
    }

    /// `act` for an id already known to be valid (from the minimal action set).
    #[inline]
    pub(crate) fn act_valid(&mut self, action: i32) -> i32 {
        debug_assert!((0..NUM_ALE_ACTIONS as i32).contains(&action));
        // SAFETY: live instance; callers pass ids from the validated minimal action set.
        unsafe { ale_sys::act(self.ptr.as_ptr(), action) }
    }

    /// `screen` into a buffer the caller sized to `screen_pixels()`.
    #[inline]
    pub(crate) fn screen_valid(&mut self, out: &mut [u8]) {
        assert_eq!(
            out.len(),
            self.screen_pixels(),
            "internal screen buffer size"
        );
        // SAFETY: live instance; `out` holds width*height bytes.
        unsafe { ale_sys::getScreen(self.ptr.as_ptr(), out.as_mut_ptr()) };
        if self.palette_candidates.count_ones() > 1
            && out.iter().any(|&i| !self.checked_indices[i as usize])
        {
            // Only a colour not seen before can tell the remaining palettes apart (games whose
            // colours look the same in several palettes would otherwise pay for an RGB read on
            // every frame).
            self.narrow_palette(out);
            for &i in out.iter() {
                self.checked_indices[i as usize] = true;
            }
        }
    }

    /// Copies the 128-byte RAM into `out`.
    #[inline]
    pub fn ram(&self, out: &mut [u8; RAM_SIZE]) {
        // SAFETY: live instance; RAM size is 128 (checked at construction).
        unsafe { ale_sys::getRAM(self.ptr.as_ptr(), out.as_mut_ptr()) };
    }
}

impl Drop for Ale {
    fn drop(&mut self) {
        let _guard = lifecycle_lock();
        // SAFETY: the pointer came from ALE_new and is deleted exactly once.
        unsafe { ale_sys::ALE_del(self.ptr.as_ptr()) };
    }
}

impl std::fmt::Debug for Ale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ale")
            .field("game", &self.game.name)
            .field("seed", &self.seed)
            .field("minimal_actions", &self.minimal_actions)
            .finish()
    }
}

fn check_len(what: &'static str, got: usize, expected: usize) -> Result<(), AtariError> {
    if got == expected {
        Ok(())
    } else {
        Err(AtariError::BufferSize {
            what,
            got,
            expected,
        })
    }
}
