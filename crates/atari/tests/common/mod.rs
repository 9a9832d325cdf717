//! Shared test fixtures: a temporary ROM store filled with the canonical ROMs that
//! scripts/bootstrap.sh fetched (the ale-py wheel, or a folder of its ROMs).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use dimua_atari::{load_rom, resolve_game, Rom, RomOptions, RomStore};

/// The workspace's `.cache` directory.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache")
}

/// The ale-py wheel downloaded by scripts/bootstrap.sh, if present.
pub fn wheel() -> Option<PathBuf> {
    let dir = cache_dir().join("wheels");
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ale_py-") && n.ends_with(".whl"))
        })
        .collect();
    wheels.sort();
    wheels.pop()
}

/// A folder of canonical ROMs, if present.
pub fn rom_folder() -> Option<PathBuf> {
    let dir = cache_dir().join("canonical_roms");
    dir.is_dir().then_some(dir)
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: RomStore,
}

/// A temporary store holding every canonical ROM (imported once per test binary).
pub fn store() -> &'static RomStore {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    &FIXTURE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = RomStore::new(dir.path().join("roms"));
            let source = rom_folder().or_else(wheel).unwrap_or_else(|| {
                panic!(
                    "no canonical ROMs found under {}: run scripts/bootstrap.sh first \
                     (it downloads the ale-py wheel into .cache/wheels)",
                    cache_dir().display()
                )
            });
            let report = store.import(&source).expect("import canonical ROMs");
            assert_eq!(
                report.imported.len(),
                76,
                "{} lacks some canonical ROMs: {report:?}",
                source.display()
            );
            Fixture { _dir: dir, store }
        })
        .store
}

/// The canonical ROM of `name`, from the fixture store (never a bundled dump).
pub fn rom(name: &str) -> Rom {
    let game = resolve_game(name).expect("known game");
    let options = RomOptions {
        rom_dir: Some(store().dir().to_path_buf()),
        no_bundled: true,
        ..RomOptions::default()
    };
    load_rom(game, &options).expect("canonical ROM in the fixture store")
}
