//! Canonical ROMs: the on-disk ROM store (import from an ale-py wheel or a folder, matched by
//! md5), and `load_rom`, which finds a verified dump for a game or says how to get one.

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dimua_core::fs::write_atomic;
use md5::{Digest, Md5};

use crate::error::AtariError;
use crate::games::{all_games, game_by_md5, Game};

/// Environment variable that overrides the ROM store directory.
pub const ROM_DIR_ENV: &str = "DIMUA_ROM_DIR";

/// What to run when a canonical ROM is missing.
pub const IMPORT_HINT: &str = "dimua roms import <path to ale-py wheel or ROM folder>";

/// Files larger than this are not Atari 2600 ROMs (the largest supported dump is 32 KiB); they
/// are reported as unknown without being read.
const MAX_ROM_BYTES: u64 = 1 << 20;

/// lower-case hex md5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Where a loaded ROM came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RomSource {
    /// The ROM store (`<dir>/<game>.bin`), md5-verified.
    Store(PathBuf),
    /// A dump bundled in the `ale` crate whose md5 is canonical.
    Bundled,
    /// A file the user named, md5-verified as canonical.
    UserFile(PathBuf),
    /// A file the user named whose md5 is NOT canonical, loaded because the user opted in
    /// with `allow_unknown_rom`. Results made with it are not comparable with AtariARI.
    UnverifiedUserFile(PathBuf),
}

impl fmt::Display for RomSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RomSource::Store(p) => write!(f, "ROM store {}", p.display()),
            RomSource::Bundled => f.write_str("dump bundled in the `ale` crate"),
            RomSource::UserFile(p) => write!(f, "user file {}", p.display()),
            RomSource::UnverifiedUserFile(p) => {
                write!(f, "UNVERIFIED user file {}", p.display())
            }
        }
    }
}

/// A game's ROM image, ready to hand to [`crate::Ale::new`].
#[derive(Clone)]
pub struct Rom {
    /// The game this ROM is loaded as.
    pub game: &'static Game,
    /// The ROM image (shared, cheap to clone into many emulator threads).
    pub bytes: Arc<[u8]>,
    /// lower-case hex md5 of `bytes`.
    pub md5: String,
    /// Where it came from.
    pub source: RomSource,
}

impl Rom {
    /// Whether the md5 is the game's canonical one.
    pub fn is_canonical(&self) -> bool {
        self.md5 == self.game.canonical_md5
    }
}

impl fmt::Debug for Rom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rom")
            .field("game", &self.game.name)
            .field("len", &self.bytes.len())
            .field("md5", &self.md5)
            .field("source", &self.source)
            .finish()
    }
}

/// How [`load_rom`] looks for a ROM.
#[derive(Debug, Clone, Default)]
pub struct RomOptions {
    /// Use this file instead of the store; it is md5-checked against the game's canonical md5.
    pub rom_file: Option<PathBuf>,
    /// Load `rom_file` even if its md5 is not canonical (at your own risk: some
    /// non-canonical dumps crash ALE 0.6, and others change the data).
    pub allow_unknown_rom: bool,
    /// ROM store directory; `None` means [`RomStore::default_dir`].
    pub rom_dir: Option<PathBuf>,
    /// Do not fall back to the `ale` crate's bundled dumps (even canonical ones).
    pub no_bundled: bool,
}

/// Outcome of [`RomStore::import`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Games newly written to the store (or rewritten over a corrupt file), by ROM name.
    pub imported: Vec<&'static str>,
    /// Games whose canonical file was already in the store.
    pub already_present: Vec<&'static str>,
    /// Files (`path` or `archive!entry`) whose md5 matches no supported game.
    pub unknown: Vec<String>,
}

impl ImportReport {
    fn add_imported(&mut self, g: &'static Game) {
        if !self.imported.contains(&g.name) && !self.already_present.contains(&g.name) {
            self.imported.push(g.name);
        }
    }
    fn add_present(&mut self, g: &'static Game) {
        if !self.imported.contains(&g.name) && !self.already_present.contains(&g.name) {
            self.already_present.push(g.name);
        }
    }
}

/// State of one game in the store, from [`RomStore::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEntry {
    /// `<game>.bin` is present with the canonical md5.
    Canonical,
    /// `<game>.bin` is absent.
    Missing,
    /// `<game>.bin` is present but its md5 is wrong (it will be refused).
    Corrupt {
        /// md5 found.
        md5: String,
    },
}

/// A directory of canonical ROMs named `<game>.bin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RomStore {
    dir: PathBuf,
}

impl RomStore {
    /// A store in `dir` (created on first import).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RomStore { dir: dir.into() }
    }

    /// The default store directory: `$DIMUA_ROM_DIR` if set, else
    /// `$XDG_CACHE_HOME/dimua/roms`, else `$HOME/.cache/dimua/roms`; `None` if none of these
    /// variables is set (non-empty).
    pub fn default_dir() -> Option<PathBuf> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(d) = var(ROM_DIR_ENV) {
            return Some(PathBuf::from(d));
        }
        if let Some(d) = var("XDG_CACHE_HOME") {
            return Some(PathBuf::from(d).join("dimua").join("roms"));
        }
        var("HOME").map(|h| PathBuf::from(h).join(".cache").join("dimua").join("roms"))
    }

    /// The store at [`RomStore::default_dir`].
    pub fn open_default() -> Result<Self, AtariError> {
        Self::default_dir()
            .map(RomStore::new)
            .ok_or_else(|| AtariError::InvalidConfig {
                reason: format!(
                    "no ROM store directory: set {ROM_DIR_ENV}, XDG_CACHE_HOME or HOME"
                ),
            })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the store keeps `game`'s ROM.
    pub fn path_of(&self, game: &Game) -> PathBuf {
        self.dir.join(game.rom_file_name())
    }

    /// The game's verified ROM from the store: `Ok(None)` if the file is absent,
    /// `Err(CorruptRom)` if it is present with the wrong md5 (it is never loaded then).
    pub fn get(&self, game: &'static Game) -> Result<Option<Rom>, AtariError> {
        let path = self.path_of(game);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AtariError::io(path, e)),
        };
        let md5 = md5_hex(&bytes);
        if md5 != game.canonical_md5 {
            return Err(AtariError::CorruptRom {
                game: game.name,
                path,
                md5,
                expected: game.canonical_md5,
            });
        }
        Ok(Some(Rom {
            game,
            bytes: bytes.into(),
            md5,
            source: RomSource::Store(path),
        }))
    }

    /// State of every supported game in the store, in registry order.
    pub fn status(&self) -> Vec<(&'static Game, StoreEntry)> {
        all_games()
            .iter()
            .map(|g| {
                let entry = match fs::read(self.path_of(g)) {
                    Err(_) => StoreEntry::Missing,
                    Ok(b) => {
                        let md5 = md5_hex(&b);
                        if md5 == g.canonical_md5 {
                            StoreEntry::Canonical
                        } else {
                            StoreEntry::Corrupt { md5 }
                        }
                    }
                };
                (g, entry)
            })
            .collect()
    }

    /// Imports canonical ROMs from `source`: a directory (searched recursively for `*.bin`),
    /// a wheel/zip file (every `*.bin` entry), or a single `.bin` file.
    ///
    /// Files are matched to games by md5 only (names are not trusted) and written atomically
    /// as `<game>.bin`. A corrupt store file is replaced. Files matching no canonical md5 are
    /// listed in [`ImportReport::unknown`] and not written.
    pub fn import(&self, source: &Path) -> Result<ImportReport, AtariError> {
        let meta = fs::metadata(source).map_err(|e| AtariError::io(source, e))?;
        let mut report = ImportReport::default();
        if meta.is_dir() {
            let mut files = Vec::new();
            collect_bins(source, &mut files)?;
            files.sort();
            for f in files {
                let size = fs::metadata(&f).map_err(|e| AtariError::io(&f, e))?.len();
                if size > MAX_ROM_BYTES {
                    report.unknown.push(f.display().to_string());
                    continue;
                }
                let bytes = fs::read(&f).map_err(|e| AtariError::io(&f, e))?;
                self.import_bytes(&bytes, f.display().to_string(), &mut report)?;
            }
        } else if is_bin(source) {
            let bytes = fs::read(source).map_err(|e| AtariError::io(source, e))?;
            self.import_bytes(&bytes, source.display().to_string(), &mut report)?;
        } else if meta.is_file() {
            self.import_zip(source, &mut report)?;
        } else {
            return Err(AtariError::BadImportSource {
                path: source.to_path_buf(),
            });
        }
        Ok(report)
    }

    fn import_zip(&self, path: &Path, report: &mut ImportReport) -> Result<(), AtariError> {
        let file = fs::File::open(path).map_err(|e| AtariError::io(path, e))?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| match e {
            zip::result::ZipError::InvalidArchive(_) => AtariError::BadImportSource {
                path: path.to_path_buf(),
            },
            other => AtariError::Archive {
                path: path.to_path_buf(),
                reason: other.to_string(),
            },
        })?;
        let archive_err = |e: zip::result::ZipError| AtariError::Archive {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(archive_err)?;
            if !entry.is_file() || !entry.name().to_ascii_lowercase().ends_with(".bin") {
                continue;
            }
            let label = format!("{}!{}", path.display(), entry.name());
            if entry.size() > MAX_ROM_BYTES {
                report.unknown.push(label);
                continue;
            }
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            (&mut entry)
                .take(MAX_ROM_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| AtariError::Archive {
                    path: path.to_path_buf(),
                    reason: format!("reading {}: {e}", entry.name()),
                })?;
            self.import_bytes(&bytes, label, report)?;
        }
        Ok(())
    }

    fn import_bytes(
        &self,
        bytes: &[u8],
        label: String,
        report: &mut ImportReport,
    ) -> Result<(), AtariError> {
        let md5 = md5_hex(bytes);
        let Some(game) = game_by_md5(&md5) else {
            report.unknown.push(label);
            return Ok(());
        };
        let dest = self.path_of(game);
        if let Ok(existing) = fs::read(&dest) {
            if md5_hex(&existing) == game.canonical_md5 {
                report.add_present(game);
                return Ok(());
            }
        }
        // Atomically, so a reader never sees a partial ROM.
        fs::create_dir_all(&self.dir).map_err(|e| AtariError::io(&self.dir, e))?;
        write_atomic(&dest, bytes).map_err(|e| AtariError::io(e.path, e.source))?;
        report.add_imported(game);
        Ok(())
    }
}

fn is_bin(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("bin"))
}

/// Every `*.bin` file under `dir`; symlinked directories are not followed (no cycles).
fn collect_bins(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), AtariError> {
    let rd = fs::read_dir(dir).map_err(|e| AtariError::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| AtariError::io(dir, e))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| AtariError::io(&path, e))?;
        if ft.is_dir() {
            collect_bins(&path, out)?;
        } else if is_bin(&path) && (ft.is_file() || path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

/// The `ale` crate's bundled dump of `game`, if it bundles one (whatever its md5).
pub fn bundled_dump(game: &Game) -> Option<&'static [u8]> {
    use ale::BundledRom as B;
    let rom = match game.name {
        "adventure" => B::Adventure,
        "air_raid" => B::AirRaid,
        "alien" => B::Alien,
        "amidar" => B::Amidar,
        "assault" => B::Assault,
        "asterix" => B::Asterix,
        "asteroids" => B::Asteroids,
        "atlantis" => B::Atlantis,
        "bank_heist" => B::BankHeist,
        "battle_zone" => B::BattleZone,
        "beam_rider" => B::BeamRider,
        "berzerk" => B::Berzerk,
        "bowling" => B::Bowling,
        "boxing" => B::Boxing,
        "breakout" => B::Breakout,
        "carnival" => B::Carnival,
        "centipede" => B::Centipede,
        "chopper_command" => B::ChopperCommand,
        "crazy_climber" => B::CrazyClimber,
        "defender" => B::Defender,
        "demon_attack" => B::DemonAttack,
        "double_dunk" => B::DoubleDunk,
        "elevator_action" => B::ElevatorAction,
        "enduro" => B::Enduro,
        "fishing_derby" => B::FishingDerby,
        "freeway" => B::Freeway,
        "frostbite" => B::Frostbite,
        "gopher" => B::Gopher,
        "gravitar" => B::Gravitar,
        "hero" => B::Hero,
        "ice_hockey" => B::IceHockey,
        "jamesbond" => B::JamesBond,
        "journey_escape" => B::JourneyEscape,
        "kaboom" => B::Kaboom,
        "kangaroo" => B::Kangaroo,
        "krull" => B::Krull,
        "kung_fu_master" => B::KungFuMaster,
        "montezuma_revenge" => B::MontezumaRevenge,
        "ms_pacman" => B::MsPacman,
        "name_this_game" => B::NameThisGame,
        "phoenix" => B::Phoenix,
        "pitfall" => B::Pitfall,
        "pong" => B::Pong,
        "pooyan" => B::Pooyan,
        "private_eye" => B::PrivateEye,
        "qbert" => B::QBert,
        "riverraid" => B::RiverRaid,
        "road_runner" => B::RoadRunner,
        "robotank" => B::RoboTank,
        "seaquest" => B::Seaquest,
        "skiing" => B::Skiing,
        "space_invaders" => B::SpaceInvaders,
        "star_gunner" => B::StarGunner,
        "tennis" => B::Tennis,
        "time_pilot" => B::TimePilot,
        "tutankham" => B::Tutankham,
        "up_n_down" => B::UpNDown,
        "venture" => B::Venture,
        "video_pinball" => B::VideoPinball,
        "wizard_of_wor" => B::WizardOfWor,
        "yars_revenge" => B::YarsRevenge,
        "zaxxon" => B::Zaxxon,
        _ => return None,
    };
    Some(rom.data())
}

/// The `ale` crate's bundled dump of `game` if (and only if) its md5 is canonical.
pub fn canonical_bundled(game: &'static Game) -> Option<Rom> {
    let data = bundled_dump(game)?;
    let md5 = md5_hex(data);
    (md5 == game.canonical_md5).then(|| Rom {
        game,
        bytes: Arc::from(data),
        md5,
        source: RomSource::Bundled,
    })
}

/// The image sizes, in bytes, for which ALE 0.6's cartridge detection (Stella's
/// `Cartridge::autodetectType`) picks a bank-switching scheme that reads within the image:
/// 2K, 4K, 8K, the three 10K Pitfall II (DPC) dumps, 12K, 16K, 32K, 64K and 128K. Multiples of
/// 8448 (Supercharger tapes) are accepted too. Every canonical dump has one of these sizes.
pub const CARTRIDGE_SIZES: [usize; 11] = [
    2048, 4096, 8192, 10240, 10495, 10496, 12288, 16384, 32768, 65536, 131072,
];

/// Refuses a ROM image whose length is no cartridge size ([`CARTRIDGE_SIZES`]) with
/// [`AtariError::BadRomSize`] naming `path`.
pub fn check_cartridge_size(path: &Path, bytes: usize) -> Result<(), AtariError> {
    if CARTRIDGE_SIZES.contains(&bytes) || (bytes > 0 && bytes.is_multiple_of(8448)) {
        Ok(())
    } else {
        Err(AtariError::BadRomSize {
            path: path.to_path_buf(),
            bytes,
        })
    }
}

/// Finds a ROM for `game`: the user's `rom_file` if given (md5-checked; refused if not
/// canonical unless `allow_unknown_rom`), else the store's verified `<game>.bin` (a corrupt
/// one is an error), else the `ale` crate's bundled dump if its md5 is canonical (unless
/// `no_bundled`), else [`AtariError::MissingRom`] saying how to import one.
pub fn load_rom(game: &'static Game, options: &RomOptions) -> Result<Rom, AtariError> {
    if let Some(path) = &options.rom_file {
        let bytes = fs::read(path).map_err(|e| AtariError::io(path, e))?;
        let md5 = md5_hex(&bytes);
        let source = if md5 == game.canonical_md5 {
            RomSource::UserFile(path.clone())
        } else if options.allow_unknown_rom {
            check_cartridge_size(path, bytes.len())?;
            tracing::warn!(
                game = game.name,
                path = %path.display(),
                md5,
                expected = game.canonical_md5,
                "loading a non-canonical ROM because allow_unknown_rom is set"
            );
            RomSource::UnverifiedUserFile(path.clone())
        } else {
            return Err(AtariError::NonCanonicalRom {
                path: path.clone(),
                md5,
                expected: game.canonical_md5,
            });
        };
        return Ok(Rom {
            game,
            bytes: bytes.into(),
            md5,
            source,
        });
    }
    let store = options
        .rom_dir
        .clone()
        .or_else(RomStore::default_dir)
        .map(RomStore::new);
    if let Some(store) = &store {
        if let Some(rom) = store.get(game)? {
            return Ok(rom);
        }
    }
    if !options.no_bundled {
        if let Some(rom) = canonical_bundled(game) {
            return Ok(rom);
        }
    }
    let where_ = match &store {
        Some(s) => format!("not in the ROM store {}", s.dir().display()),
        None => format!("no ROM store directory ({ROM_DIR_ENV}, XDG_CACHE_HOME and HOME unset)"),
    };
    let bundled = if bundled_dump(game).is_some() {
        "the `ale` crate's bundled dump is not the canonical one"
    } else {
        "the `ale` crate bundles no dump of it"
    };
    Err(AtariError::MissingRom {
        game: game.name,
        hint: format!(
            "{where_} and {bundled}. Fix: run `{IMPORT_HINT}` (e.g. the wheel from \
             `pip download --no-deps ale-py==0.12.1`; scripts/bootstrap.sh does this), or pass \
             a canonical `{}` with --rom-file",
            game.rom_file_name()
        ),
    })
}
