//! `dimua bench collect`: the collector's throughput against a bare ALE loop over the same
//! number of agent steps, threads and emulator frames, measured in the same run.
//!
//! Counting convention: an *agent step* is one stored observation (4 emulator frames with the
//! action repeated); *emulator frames* are frames the emulator advances. The bare loop is the
//! bound: per agent step it calls `act` 4 times, reads the screen once and the RAM once, and
//! stores nothing; it runs as many emulator frames as the collector did in the same round (the
//! AtariARI resets, no-ops and FIRE steps make that a little more than 4 per stored step), so
//! both do the same emulator work. `bare_agent_steps_per_s` is the collector's stored steps
//! divided by the bare loop's time, and `ratio` compares the two at equal work.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use dimua_atari::{Ale, Rom};
use dimua_core::seed::stream_seed;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::{collect_into, store_for, CollectError, CollectProgress, CollectSpec};

/// One benchmark result (printed as one JSON line by the CLI).
#[derive(Debug, Clone, Serialize)]
pub struct CollectBench {
    /// Game benchmarked.
    pub game: String,
    /// Agent steps (stored frames) per run.
    pub frames: usize,
    /// Worker threads in both runs.
    pub threads: usize,
    /// Alternating rounds; the figures are each side's median round.
    pub rounds: usize,
    /// Collector: stored agent steps per second.
    pub agent_steps_per_s: f64,
    /// Collector: emulator frames (`act` calls) per second.
    pub emulator_frames_per_s: f64,
    /// Bare ALE loop: agent steps per second (the bound).
    pub bare_agent_steps_per_s: f64,
    /// Bare ALE loop: emulator frames per second.
    pub bare_emulator_frames_per_s: f64,
    /// `agent_steps_per_s / bare_agent_steps_per_s`.
    pub ratio: f64,
}

/// Runs the bare loop: `threads` threads share `frames` agent steps, each step = 4 `act` calls
/// with a random non-NOOP action, one RGB screen read and one RAM read.
/// Returns (seconds, emulator frames).
pub fn bare_ale_loop(
    rom: &Rom,
    frames: usize,
    threads: usize,
    seed: u64,
) -> Result<(f64, u64), CollectError> {
    let next = AtomicU32::new(0);
    let chunk = 1024usize;
    let start = Instant::now();
    let emulator_frames: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|t| {
                let next = &next;
                scope.spawn(move || -> Result<u64, CollectError> {
                    let ale_seed =
                        (stream_seed(seed, t as u32, 0x6261_7265) % 0x7fff_fffe) as u32 + 1;
                    let mut ale = Ale::new(rom, ale_seed)?;
                    let actions: Vec<i32> = ale.minimal_action_set().to_vec();
                    let mut rng = ChaCha8Rng::seed_from_u64(ale_seed as u64);
                    let mut screen = vec![0u8; ale.height() * ale.width() * 3];
                    let mut ram = [0u8; 128];
                    let mut acts = 0u64;
                    loop {
                        let begin = next.fetch_add(1, Ordering::Relaxed) as usize * chunk;
                        if begin >= frames {
                            return Ok(acts);
                        }
                        for _ in begin..(begin + chunk).min(frames) {
                            let a = if actions.len() > 1 {
                                actions[rng.gen_range(1..actions.len())]
                            } else {
                                actions[0]
                            };
                            for _ in 0..4 {
                                ale.act(a)?;
                                acts += 1;
                            }
                            ale.screen_rgb(&mut screen)?;
                            ale.ram(&mut ram);
                            if ale.game_over() {
                                ale.reset_game();
                            }
                        }
                    }
                })
            })
            .collect();
        let mut total = 0u64;
        for w in workers {
            total += w
                .join()
                .map_err(|_| CollectError::WorkerPanic("bare ALE loop".into()))??;
        }
        Ok::<u64, CollectError>(total)
    })?;
    Ok((start.elapsed().as_secs_f64(), emulator_frames))
}

/// Measures the collector (into a frame store sized for `spec.frames`) and the bare loop,
/// with the same threads and agent steps, alternating them for `rounds` rounds so that both
/// see the same machine conditions; reports the median round of each.
pub fn bench_collect(
    spec: &CollectSpec,
    rom: &Rom,
    rounds: usize,
) -> Result<CollectBench, CollectError> {
    spec.validate()?;
    let mut ours = Vec::new();
    let mut bare = Vec::new();
    for round in 0..rounds.max(1) {
        let store = store_for(
            spec,
            rom,
            dimua_buffer::SplitRule {
                train: 8,
                val: 2,
                test: 0,
            },
            &|| true,
        )?;
        let progress = CollectProgress::default();
        let stats = collect_into(spec, rom, &store, &progress)?;
        drop(store);
        let secs = stats.elapsed.as_secs_f64().max(1e-9);
        ours.push((secs, stats.emulator_frames));
        // The bound does the same emulator work: as many `act` calls as the collector made
        // (its resets, no-ops and FIRE steps included), 4 per bare agent step.
        let bare_steps = (stats.emulator_frames as usize).div_ceil(4).max(1);
        let (bare_secs, bare_frames) = bare_ale_loop(
            rom,
            bare_steps,
            spec.threads,
            spec.seed.wrapping_add(round as u64),
        )?;
        bare.push((bare_secs.max(1e-9), bare_frames));
    }
    let median = |v: &mut Vec<(f64, u64)>| {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v[v.len() / 2]
    };
    let (secs, frames) = median(&mut ours);
    let (bare_secs, bare_frames) = median(&mut bare);
    let agent_steps_per_s = spec.frames as f64 / secs;
    let bare_agent_steps_per_s = spec.frames as f64 / bare_secs;
    Ok(CollectBench {
        game: spec.game.name.to_string(),
        frames: spec.frames,
        threads: spec.threads,
        rounds: rounds.max(1),
        agent_steps_per_s,
        emulator_frames_per_s: frames as f64 / secs,
        bare_agent_steps_per_s,
        bare_emulator_frames_per_s: bare_frames as f64 / bare_secs,
        ratio: agent_steps_per_s / bare_agent_steps_per_s,
    })
}
