//! End-to-end tests of `dimua collect` / `dimua games` / `dimua roms` through the real binary:
//! real emulator, canonical ROMs (Pong's bundled dump is the canonical one), datasets on disk.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dimua_collect::Dataset;

fn dimua() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dimua"))
}

fn run(args: &[&str]) -> Output {
    dimua().args(args).output().expect("dimua runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn collect(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["collect", "--game", "pong", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args)
}

/// Starts a collection long enough (100k frames, one thread: minutes) to be interrupted.
fn spawn_long_collect(dir: &Path, extra: &[&str]) -> std::process::Child {
    dimua()
        .args([
            "collect",
            "--game",
            "pong",
            "--frames",
            "100000",
            "--threads",
            "1",
        ])
        .args(extra)
        .arg("--out")
        .arg(dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn shard_hashes(dir: &Path) -> Vec<(String, String)> {
    let m = Dataset::read_manifest(dir).expect("manifest");
    m.shards.into_iter().map(|s| (s.file, s.sha256)).collect()
}

#[test]
fn same_seed_gives_identical_shards_with_1_and_4_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("t1");
    let b = tmp.path().join("t4");
    let c = tmp.path().join("other-seed");
    let common = [
        "--frames",
        "1200",
        "--streams",
        "4",
        "--seed",
        "7",
        "--shard-mib",
        "4",
    ];
    for (dir, threads, seed) in [(&a, "1", "7"), (&b, "4", "7"), (&c, "2", "8")] {
        let mut args: Vec<&str> = common.to_vec();
        args[5] = seed;
        args.extend(["--threads", threads]);
        let out = collect(dir, &args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let ha = shard_hashes(&a);
    assert!(ha.len() > 1, "expected several shards, got {ha:?}");
    assert_eq!(ha, shard_hashes(&b), "thread count changed the data");
    assert_ne!(ha, shard_hashes(&c), "a different seed gave the same data");
    // The manifests match byte for byte too (no timestamps, no thread-dependent order).
    assert_eq!(
        std::fs::read(a.join("manifest.json")).unwrap(),
        std::fs::read(b.join("manifest.json")).unwrap()
    );
}

#[test]
fn dataset_round_trips_and_is_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    let out = collect(
        &dir,
        &["--frames", "800", "--streams", "2", "--threads", "2"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ds = Dataset::open(&dir).expect("reads back");
    let m = &ds.manifest;
    assert_eq!(m.game, "pong");
    assert_eq!(m.frame_shape, [210, 160, 1]);
    assert_eq!(ds.frames.len(), ds.len() * 210 * 160);
    assert_eq!(ds.labels.len(), ds.len() * m.labels.len());
    assert_eq!(m.counts.frames as usize, ds.len());
    assert_eq!(
        m.counts.train_frames + m.counts.val_frames + m.counts.test_frames,
        m.counts.frames
    );
    // Pong's AtariARI labels: the paddle moves under random actions, so player_y survives the
    // entropy filter; player_x / enemy_x are constant in Pong and are dropped.
    let names: Vec<_> = m.labels.iter().map(|l| l.name.as_str()).collect();
    assert!(names.contains(&"player_y"), "{names:?}");
    let dropped: Vec<_> = m.dropped_labels.iter().map(|l| l.name.as_str()).collect();
    assert!(dropped.contains(&"player_x"), "{dropped:?}");
    for l in &m.labels {
        assert!(l.entropy >= m.entropy_threshold);
    }
    // Labels are the RAM bytes: player_y takes several values.
    let col = names.iter().position(|&n| n == "player_y").unwrap();
    let mut values: Vec<u8> = (0..ds.len()).map(|i| ds.label_row(i)[col]).collect();
    values.sort_unstable();
    values.dedup();
    assert!(values.len() > 5, "player_y took only {values:?}");
    // Loading straight into a frame store gives the same episodes, frames, labels and splits.
    let (_, store) = Dataset::open_into_store(&dir).expect("loads into a store");
    assert!(store.is_closed());
    let episodes = store.episodes();
    assert_eq!(episodes.len(), m.episodes.len());
    for (info, entry) in episodes.iter().zip(&m.episodes) {
        assert_eq!(info.split.name(), entry.split);
        assert_eq!(info.len(), entry.length as usize);
        for (t, &slot) in info.slots.iter().enumerate() {
            let i = entry.first_frame as usize + t;
            assert_eq!(store.frame(slot), ds.frame(i));
            assert_eq!(store.labels(slot), ds.label_row(i));
        }
    }
    // Episodes are contiguous, longer than the minimum, with steps counting from 0.
    for e in &m.episodes {
        assert!(e.length as usize > m.min_episode_length || e.split == "test");
        let first = e.first_frame as usize;
        assert_eq!(ds.step[first], 0);
        assert!(ds.episode[first..first + e.length as usize]
            .iter()
            .all(|&x| x == e.id));
    }
}

#[test]
fn bad_input_gets_clear_errors_and_no_dataset() {
    let tmp = tempfile::tempdir().unwrap();

    // Unknown game: the error lists known names.
    let out = run(&[
        "collect",
        "--game",
        "pongg",
        "--frames",
        "10",
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("pongg") && err.contains("ms_pacman"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // --frames 0.
    let out = collect(&tmp.path().join("zero"), &["--frames", "0"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--frames"), "{}", stderr(&out));
    assert!(!tmp.path().join("zero").join("manifest.json").exists());

    // Non-empty --out without --force.
    let full = tmp.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("keep.txt"), b"mine").unwrap();
    let out = collect(&full, &["--frames", "1000"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read(full.join("keep.txt")).unwrap(), b"mine");

    // Unwritable --out (a path under a regular file).
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = collect(&file.join("sub"), &["--frames", "100"]);
    assert!(!out.status.success());
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    // A non-canonical ROM file is refused, naming the md5 problem.
    let pong = dimua_atari::resolve_game("pong").unwrap();
    let rom = dimua_atari::load_rom(pong, &Default::default()).unwrap();
    let mut bytes = rom.bytes.to_vec();
    bytes[100] ^= 0xff;
    let bad_rom = tmp.path().join("pong.bin");
    std::fs::write(&bad_rom, &bytes).unwrap();
    let out = collect(
        &tmp.path().join("badrom"),
        &["--frames", "100", "--rom-file", bad_rom.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("md5"), "{err}");
    assert!(!tmp.path().join("badrom").join("manifest.json").exists());

    // A game with no canonical ROM available (empty store; its bundled dump is not canonical).
    let empty = tmp.path().join("empty-store");
    std::fs::create_dir_all(&empty).unwrap();
    let out = dimua()
        .args(["collect", "--game", "tennis", "--frames", "100", "--out"])
        .arg(tmp.path().join("tennis"))
        .env("DIMUA_ROM_DIR", &empty)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("tennis") && err.contains("roms import"),
        "{err}"
    );
}

fn small_dataset(tmp: &Path) -> PathBuf {
    let dir = tmp.join("ds");
    let out = collect(
        &dir,
        &["--frames", "400", "--streams", "2", "--shard-mib", "4"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    dir
}

#[test]
fn truncated_or_tampered_shards_are_refused_on_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_dataset(tmp.path());
    let shard = dir.join(&Dataset::read_manifest(&dir).unwrap().shards[0].file);
    let original = std::fs::read(&shard).unwrap();

    // Tampered: same size, one byte flipped in the frame data.
    let mut tampered = original.clone();
    let n = tampered.len();
    tampered[n / 2] ^= 1;
    std::fs::write(&shard, &tampered).unwrap();
    let err = Dataset::open(&dir).unwrap_err().to_string();
    assert!(
        err.contains("sha256") && err.contains("dimua collect"),
        "{err}"
    );

    // Truncated.
    std::fs::write(&shard, &original[..n - 1000]).unwrap();
    let err = Dataset::open(&dir).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");

    // Restored: reads again.
    std::fs::write(&shard, &original).unwrap();
    Dataset::open(&dir).expect("intact dataset reads");

    // Not a dataset at all.
    let err = Dataset::open(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("manifest.json"), "{err}");
}

#[test]
fn force_replaces_an_existing_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_dataset(tmp.path());
    let out = collect(&dir, &["--frames", "300", "--streams", "1", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(ds.manifest.counts.frames_collected, 300);
}

#[test]
fn ctrl_c_during_collect_leaves_no_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("interrupted");
    let child = spawn_long_collect(&dir, &[]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: sending SIGINT to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "an interrupted collect must not report success"
    );
    assert!(!dir.join("manifest.json").exists());
    if dir.exists() {
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
    }
}

#[test]
fn games_lists_atariari_games_with_labels() {
    let out = run(&["games"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("* pong") && text.contains("player_y"),
        "{text}"
    );
    assert!(text.contains("* video_pinball"));
    assert_eq!(text.lines().filter(|l| l.starts_with("* ")).count(), 24);
}

/// The Python snippet of docs/datasets.md, run with the project venv's numpy + safetensors.
#[test]
fn python_reads_the_dataset_like_docs_say() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/bootstrap.sh first",
        python.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_dataset(tmp.path());
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/datasets.md"))
            .unwrap();
    let snippet = docs
        .split("```python\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("python snippet in docs/datasets.md")
        .replace("DIR", dir.to_str().unwrap());
    let script = format!(
        "{snippet}\nprint(frames.shape, labels.shape, int(frames.astype('int64').sum()), int(labels.astype('int64').sum()))\n"
    );
    let out = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ds = Dataset::open(&dir).unwrap();
    let frame_sum: u64 = ds.frames.iter().map(|&b| b as u64).sum();
    let label_sum: u64 = ds.labels.iter().map(|&b| b as u64).sum();
    let expected = format!(
        "({}, 210, 160, 1) ({}, {}) {frame_sum} {label_sum}",
        ds.len(),
        ds.len(),
        ds.manifest.labels.len()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
}

/// `--format npz` holds the same data as safetensors: Rust reads both identically, and numpy
/// reads the npz shards to the same sums as Rust.
#[test]
fn npz_and_safetensors_hold_the_same_data() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/venv/bin/python");
    assert!(python.exists(), "run scripts/bootstrap.sh first");
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("st");
    let npz = tmp.path().join("npz");
    for (dir, format) in [(&st, "safetensors"), (&npz, "npz")] {
        let out = collect(
            dir,
            &["--frames", "1000", "--shard-mib", "4", "--format", format],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let a = Dataset::open(&st).unwrap();
    let b = Dataset::open(&npz).unwrap();
    assert!(b.manifest.shards[0].file.ends_with(".npz"));
    assert_eq!(a.frames, b.frames);
    assert_eq!(a.labels, b.labels);
    assert_eq!(
        (a.episode.clone(), a.step.clone(), a.split.clone()),
        (b.episode.clone(), b.step.clone(), b.split.clone())
    );
    let script = format!(
        "import json, numpy as np\nd='{}'\nm=json.load(open(d+'/manifest.json'))\nz=[np.load(d+'/'+s['file']) for s in m['shards']]\n\
         f=np.concatenate([x['frames'] for x in z]); l=np.concatenate([x['labels'] for x in z]); e=np.concatenate([x['episode'] for x in z])\n\
         print(f.shape, int(f.astype('int64').sum()), int(l.astype('int64').sum()), int(e.astype('int64').sum()))",
        npz.display()
    );
    let out = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let sum = |v: &[u8]| v.iter().map(|&x| x as u64).sum::<u64>();
    let expected = format!(
        "({}, 210, 160, 1) {} {} {}",
        b.len(),
        sum(&b.frames),
        sum(&b.labels),
        b.episode.iter().map(|&x| x as u64).sum::<u64>()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
    // A tampered npz shard is refused like a safetensors one.
    let shard = npz.join(&b.manifest.shards[0].file);
    let mut bytes = std::fs::read(&shard).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    std::fs::write(&shard, &bytes).unwrap();
    assert!(Dataset::open(&npz)
        .unwrap_err()
        .to_string()
        .contains("sha256"));
}

/// Issue "Never lose a user's data", items 5 and 7: `--entropy-threshold NaN` wrote a manifest
/// dimua's own reader then called corrupt, and `--streams 1000` collected for a minute before
/// failing with an error that could be predicted up front. Both now fail at once, before
/// anything is collected or written.
#[test]
fn impossible_collect_requests_fail_before_collecting() {
    let tmp = tempfile::tempdir().unwrap();
    for (extra, needle) in [
        (
            &["--frames", "3000", "--entropy-threshold", "NaN"][..],
            "--entropy-threshold",
        ),
        (
            &["--frames", "3000", "--entropy-threshold=-1"][..],
            "--entropy-threshold",
        ),
        (&["--frames", "20000", "--streams", "1000"][..], "--streams"),
    ] {
        let out = tmp.path().join("data");
        let started = std::time::Instant::now();
        let result = collect(&out, extra);
        let err = stderr(&result);
        assert_eq!(result.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists(), "{extra:?}: --out was created");
        assert!(
            started.elapsed().as_secs() < 20,
            "{extra:?} took {:?}",
            started.elapsed()
        );
    }
}

/// Issue "Never lose a user's data", items 1 and 2: `collect --force` emptied a complete
/// dataset before collecting, so an interrupted or failed replacement lost it; two collects
/// into one `--out` both reported success.
#[test]
fn an_interrupted_force_keeps_the_old_dataset_and_out_is_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_dataset(tmp.path());
    let before = shard_hashes(&dir);
    let child = spawn_long_collect(&dir, &["--force"]);
    // Wait until it holds the lock and is collecting (a slow start must not race the test).
    let started = std::time::Instant::now();
    while !dir.join(".dimua.lock").exists() && started.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    // While it runs, a second collect into the same --out is refused.
    let second = collect(&dir, &["--frames", "300", "--streams", "1", "--force"]);
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("in use by another dimua process"),
        "{}",
        stderr(&second)
    );
    // SAFETY: sending SIGINT to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert_eq!(shard_hashes(&dir), before, "the old dataset changed");
    Dataset::open(&dir).unwrap();
    let stray: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("dimua-"))
        .collect();
    assert!(
        stray.is_empty(),
        "{stray:?}; the interrupted collect ({:?}) said: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue "Never lose a user's data", item 7: a large collection ignored Ctrl-C for seconds.
/// Committing the frame store's memory (100k Pong frames: 3.4 GB, about 3 s here) did not
/// look at the interrupt flag; now Ctrl-C at any point ends the process within a second.
#[test]
fn ctrl_c_ends_a_large_collection_within_a_second_even_while_memory_is_committed() {
    let tmp = tempfile::tempdir().unwrap();
    // Right after `--out` appears (the store is being committed next), then mid-collection.
    for (i, delay_ms) in [0u64, 5000].into_iter().enumerate() {
        let dir = tmp.path().join(format!("big{i}"));
        let child = spawn_long_collect(&dir, &[]);
        let started = std::time::Instant::now();
        while !dir.exists() {
            assert!(started.elapsed().as_secs() < 60, "--out never appeared");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let sent = std::time::Instant::now();
        // SAFETY: sending SIGINT to our own child process.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        let out = child.wait_with_output().unwrap();
        let took = sent.elapsed();
        assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
        assert!(
            took.as_secs_f64() < 1.0,
            "Ctrl-C {delay_ms} ms after the start took {took:?} to end the process"
        );
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}
