//! Env-step speed versus a bare ALE loop (4 `act` + one RGB screen + one RAM read per agent
//! step, resetting on game over), same actions, one thread.
//! Run: `cargo run --release -p dimua-atari --example env_speed [game] [steps]`.
//! Needs the canonical ROM in the ROM store (`dimua roms import ...`) or `DIMUA_ROM_DIR`.
//!
//! Counting convention: agent steps (4 emulator frames each). The env also emulates its
//! reset frames (1-30 NOOPs, FIRE steps, the NOOP step after a lost life), which the bare
//! loop does not; they are part of its cost. Time is the thread's on-CPU time from
//! `/proc/thread-self/schedstat` when available (robust on a busy machine), else wall time;
//! the two loops alternate in chunks so drift hits both alike.

use std::time::Instant;

use dimua_atari::{
    ale_seed_from, load_rom, random_action, resolve_game, Ale, AtariAriEnv, EnvConfig, RomOptions,
};
use rand::SeedableRng;

/// Seconds of CPU time of this thread, or wall time since `start` if unavailable.
fn now(start: Instant) -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(|ns| ns as f64 * 1e-9)
        .unwrap_or_else(|| start.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let game = resolve_game(args.get(1).map(String::as_str).unwrap_or("breakout"))?;
    let steps: usize = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let rom = load_rom(game, &RomOptions::default())?;
    let config = EnvConfig::default();
    let start = Instant::now();

    let mut env = AtariAriEnv::new(&rom, config.clone())?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let n = env.num_actions();
    let actions: Vec<usize> = (0..steps).map(|_| random_action(&mut rng, n)).collect();
    let ids = env.action_set().to_vec();
    let mut labels = vec![0u8; env.num_labels()];
    env.reset();

    let mut ale = Ale::new(&rom, ale_seed_from(config.seed))?;
    let mut rgb = vec![0u8; 3 * ale.screen_pixels()];
    let mut ram = [0u8; 128];

    let (mut t_bare, mut t_env) = (0.0, 0.0);
    for chunk in actions.chunks(500) {
        let t0 = now(start);
        for &a in chunk {
            for _ in 0..4 {
                ale.act(ids[a])?;
            }
            ale.screen_rgb(&mut rgb)?;
            ale.ram(&mut ram);
            if ale.game_over() {
                ale.reset_game();
            }
        }
        std::hint::black_box((&rgb, &ram));
        let t1 = now(start);
        for &a in chunk {
            let o = env.step(a)?;
            if !labels.is_empty() {
                env.labels_into(&mut labels)?;
            }
            std::hint::black_box(env.observation());
            if o.done {
                env.reset();
            }
        }
        let t2 = now(start);
        t_bare += t1 - t0;
        t_env += t2 - t1;
    }
    // Emulated frames (ALE's counter since loading, resets' internal frames included).
    let (f_bare, f_env) = (ale.frame_number() as f64, env.ale().frame_number() as f64);
    println!(
        "{}: bare {:.0} steps/s, env {:.0} steps/s, ratio env/bare {:.3} \
         (env emulated {:.3}x the bare loop's frames; per frame {:.3})",
        game.name,
        steps as f64 / t_bare,
        steps as f64 / t_env,
        t_bare / t_env,
        f_env / f_bare,
        (t_bare / f_bare) / (t_env / f_env)
    );
    Ok(())
}
