//! `dimua replay` through the real binary (Pong, the real emulator): the `.npy` files hold
//! exactly what a `VecEnv` with the same preset, seed and actions produced, and bad input is
//! refused before anything is written.

use std::path::Path;
use std::process::{Command, Output};

use dimua_atari::{load_rom, resolve_game, RomOptions};
use dimua_core::npy::parse_npy;
use dimua_env::{EnvOptions, Preset, VecEnv, VecEnvConfig};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dimua"))
        .args(args)
        .output()
        .expect("dimua runs")
}

/// `dimua replay --game pong --actions ACTIONS --out OUT EXTRA...`.
fn replay(actions: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "replay",
        "--game",
        "pong",
        "--actions",
        actions.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn npy(path: &Path) -> (String, Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let (descr, shape, offset) = parse_npy(&bytes).unwrap();
    (descr, shape, bytes[offset..].to_vec())
}

/// Obs, raw rewards, terminated and lives of a 1-env VecEnv (seed 42, as replay's default).
fn reference(options: EnvOptions, actions: &[usize]) -> (Vec<u8>, Vec<f32>, Vec<bool>, Vec<i32>) {
    let rom = load_rom(resolve_game("pong").unwrap(), &RomOptions::default()).unwrap();
    let config = VecEnvConfig {
        num_envs: 1,
        threads: 1,
        batch_size: 1,
        seed: 42,
        options,
    };
    let mut env = VecEnv::new(&rom, config).unwrap();
    let mut frame = vec![0u8; env.obs_len()];
    let mut batch = env.new_batch(1);
    env.reset(&mut frame, &mut batch).unwrap();
    let mut obs = frame.clone();
    let (mut rewards, mut terminated, mut lives) = (vec![], vec![], vec![]);
    for &a in actions {
        env.step(&[a], &mut frame, &mut batch).unwrap();
        obs.extend_from_slice(&frame);
        rewards.push(batch.transitions[0].reward);
        terminated.push(batch.transitions[0].terminated);
        lives.push(batch.transitions[0].lives);
    }
    (obs, rewards, terminated, lives)
}

#[test]
fn replay_writes_what_the_vec_env_produced() {
    let tmp = tempfile::tempdir().unwrap();
    let actions: Vec<usize> = (0..400).map(|i| (i * 7 + i / 13) % 6).collect();
    let file = tmp.path().join("actions.txt");
    let text: String = actions.iter().map(|a| format!("{a}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let out = tmp.path().join("obs.npy");
    let o = replay(&file, &out, &["--preset", "dqn", "--noop-max", "0"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let options = EnvOptions {
        noop_max: 0,
        ..Preset::Dqn.options()
    };
    let (obs, rewards, terminated, lives) = reference(options, &actions);
    let (descr, shape, data) = npy(&out);
    assert_eq!((descr.as_str(), shape), ("|u1", vec![401, 4, 84, 84]));
    assert!(data == obs, "observations differ from the VecEnv's");
    let (descr, shape, data) = npy(&tmp.path().join("obs_rewards.npy"));
    assert_eq!((descr.as_str(), shape), ("<f4", vec![400]));
    let got: Vec<f32> = data
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(got, rewards);
    assert!(
        rewards.iter().any(|&r| r != 0.0),
        "400 Pong steps score a point"
    );
    let (_, _, data) = npy(&tmp.path().join("obs_terminated.npy"));
    assert_eq!(data.iter().map(|&b| b == 1).collect::<Vec<_>>(), terminated);
    let (_, _, data) = npy(&tmp.path().join("obs_lives.npy"));
    let got: Vec<i32> = data
        .chunks(4)
        .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(got, lives);
    for part in ["clipped_rewards", "truncated"] {
        assert!(tmp.path().join(format!("obs_{part}.npy")).is_file());
    }

    // An existing output is refused without --force, and left as it was.
    std::fs::write(&out, b"mine").unwrap();
    let o = replay(&file, &out, &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"mine");
}

#[test]
fn replay_refuses_bad_actions_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("obs.npy");
    for (content, expected) in [
        ("1\n2\nseven\n", "actions.txt:3"),
        ("1\n6\n", "action 6 (action 2 of"),
        ("\n\n", "holds no actions"),
    ] {
        let file = tmp.path().join("actions.txt");
        std::fs::write(&file, content).unwrap();
        let o = replay(&file, &out, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(expected),
            "{content:?}: {err}"
        );
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "nothing written"
        );
    }
    let file = tmp.path().join("actions.txt");
    let o = replay(&file, &out, &["--preset", "nature"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("atariari, dqn, machado"));
}
