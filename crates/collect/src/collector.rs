//! Worker threads that drive AtariARI environments with the random policy into a frame store.
//!
//! Determinism: the dataset is a function of (seed, game, frames, streams) only. Collection is
//! split into a fixed number of *streams* (independent environments, like the reference's
//! `num_processes`), each seeded from (seed, stream) and given a fixed quota of frames; worker
//! threads take whole streams from a shared counter. So `--threads` changes only the speed,
//! never the bytes: each stream's frames, episodes and labels are identical whichever thread
//! ran it, and the store's split rule depends on (seed, stream, episode index) alone.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dimua_atari::{AtariAriEnv, EnvConfig, Game, Rom};
use dimua_buffer::FrameStore;
use dimua_core::seed::stream_seed;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::CollectError;

/// What to collect: one game, a number of stored frames, a seed.
#[derive(Debug, Clone)]
pub struct CollectSpec {
    /// The game (resolved from the registry).
    pub game: &'static Game,
    /// Total stored observations (agent steps), over all streams.
    pub frames: usize,
    /// Master seed; every stream derives its own seeds from it.
    pub seed: u64,
    /// Worker threads (>= 1). Changes speed only, never the data.
    pub threads: usize,
    /// Independent environment streams (the reference uses 8 processes).
    pub streams: u32,
    /// RGB observations (210x160x3) instead of grayscale (210x160x1).
    pub color: bool,
}

impl CollectSpec {
    /// Checks the request and returns a clear error for impossible ones.
    pub fn validate(&self) -> Result<(), CollectError> {
        if self.frames == 0 {
            return Err(CollectError::InvalidRequest {
                reason: "--frames must be at least 1 (it counts stored agent steps)".into(),
            });
        }
        if self.threads == 0 {
            return Err(CollectError::InvalidRequest {
                reason: "--threads must be at least 1".into(),
            });
        }
        if self.streams == 0 {
            return Err(CollectError::InvalidRequest {
                reason: "--streams must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// Frames assigned to `stream`: `frames / streams`, the remainder going to the first streams.
    pub fn stream_quota(&self, stream: u32) -> usize {
        let streams = self.streams as usize;
        let base = self.frames / streams;
        base + usize::from((stream as usize) < self.frames % streams)
    }

    /// The environment configuration of one stream (AtariARI defaults, per-stream seed).
    pub fn env_config(&self, stream: u32) -> EnvConfig {
        EnvConfig {
            seed: stream_seed(self.seed, stream, 0x656e_7669),
            color: self.color,
            ..EnvConfig::default()
        }
    }

    /// Shape (height, width, channels) of one stored observation of this game: 210 x 160
    /// for most games, but the screen size is the ROM's (Adventure is 250 rows high), so it is
    /// read from a short-lived emulator.
    pub fn frame_shape(&self, rom: &Rom) -> Result<[usize; 3], CollectError> {
        observation_shape(rom, self.color)
    }
}

/// Shape (height, width, channels) of the observations of `rom`'s game: its screen, read from
/// a short-lived emulator, with 3 channels for RGB and 1 for grayscale.
pub fn observation_shape(rom: &Rom, color: bool) -> Result<[usize; 3], CollectError> {
    let ale = dimua_atari::Ale::new(rom, 1)?;
    Ok([ale.height(), ale.width(), if color { 3 } else { 1 }])
}

/// Counters of one collection run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CollectStats {
    /// Stored observations (agent steps plus reset observations).
    pub agent_steps: usize,
    /// Raw emulator frames advanced (`act` calls), no-ops and resets included.
    pub emulator_frames: u64,
    /// Completed (published) episodes.
    pub episodes: usize,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

/// Shared progress counters, readable while collection runs (for progress bars).
#[derive(Debug, Default)]
pub struct CollectProgress {
    /// Frames stored so far.
    pub frames: AtomicUsize,
    /// Set to stop collection early (Ctrl-C); workers finish their current step and return.
    pub stop: AtomicBool,
}

/// Runs one stream to its quota, pushing every observation into the store.
fn run_stream(
    spec: &CollectSpec,
    rom: &Rom,
    store: &Arc<FrameStore>,
    stream: u32,
    progress: &CollectProgress,
) -> Result<(u64, usize), CollectError> {
    let quota = spec.stream_quota(stream);
    let mut env = AtariAriEnv::new(rom, spec.env_config(stream))?;
    let mut actions = ChaCha8Rng::seed_from_u64(stream_seed(spec.seed, stream, 0x6163_7473));
    let num_actions = env.num_actions();
    let mut labels = vec![0u8; store.spec().label_bytes];
    let mut writer = store.writer(stream);
    let mut episodes = 0usize;

    env.reset();
    for stored in 0..quota {
        if stored > 0 {
            // Uniform over 1..n-1: the reference's random agent never picks NOOP.
            let action = if num_actions > 1 {
                actions.gen_range(1..num_actions)
            } else {
                0
            };
            let outcome = env.step(action)?;
            if outcome.done {
                // The terminal observation is never stored; the next episode starts with the
                // reset observation, labelled with the RAM of that reset state (the reference
                // labels it with the terminal step's RAM: PROTOCOL.md section 8).
                if writer.end_episode().is_some() {
                    episodes += 1;
                }
                env.reset();
            }
        }
        if !labels.is_empty() {
            env.labels_into(&mut labels)?;
        }
        writer.push(env.observation(), &labels)?;
        if stored % 64 == 63 {
            progress.frames.fetch_add(64, Ordering::Relaxed);
            if progress.stop.load(Ordering::Relaxed) {
                return Err(CollectError::Interrupted);
            }
        }
    }
    progress.frames.fetch_add(quota % 64, Ordering::Relaxed);
    // The last, unfinished episode is kept, as in the reference.
    if writer.end_episode().is_some() {
        episodes += 1;
    }
    // ALE's frame counter: every emulated frame, no-ops and resets included.
    Ok((env.ale().frame_number().max(0) as u64, episodes))
}

/// Collects `spec.frames` observations into `store` with `spec.threads` worker threads and
/// returns when all streams are done. The store is closed at the end (also on error).
pub fn collect_into(
    spec: &CollectSpec,
    rom: &Rom,
    store: &Arc<FrameStore>,
    progress: &CollectProgress,
) -> Result<CollectStats, CollectError> {
    spec.validate()?;
    let start = Instant::now();
    let next_stream = AtomicU32::new(0);
    let threads = spec.threads.min(spec.streams as usize).max(1);
    let result = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<(u64, usize), CollectError> {
                    let mut frames = 0u64;
                    let mut episodes = 0usize;
                    loop {
                        let stream = next_stream.fetch_add(1, Ordering::Relaxed);
                        if stream >= spec.streams {
                            return Ok((frames, episodes));
                        }
                        match run_stream(spec, rom, store, stream, progress) {
                            Ok((f, e)) => {
                                frames += f;
                                episodes += e;
                            }
                            Err(err) => {
                                // Tell the other workers to stop early too.
                                progress.stop.store(true, Ordering::Relaxed);
                                return Err(err);
                            }
                        }
                    }
                })
            })
            .collect();
        let mut stats = CollectStats::default();
        let mut first_error = None;
        for worker in workers {
            match worker.join() {
                Ok(Ok((frames, episodes))) => {
                    stats.emulator_frames += frames;
                    stats.episodes += episodes;
                }
                Ok(Err(err)) => {
                    // Keep the real cause, not the `Interrupted` it made the others return.
                    if matches!(first_error, None | Some(CollectError::Interrupted)) {
                        first_error = Some(err);
                    }
                }
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    first_error.get_or_insert(CollectError::WorkerPanic(what));
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(stats),
        }
    });
    store.close();
    let mut stats = result?;
    stats.agent_steps = spec.frames;
    stats.elapsed = start.elapsed();
    Ok(stats)
}

/// A collection running in the background (for streaming into training).
pub struct CollectionHandle {
    thread: std::thread::JoinHandle<Result<CollectStats, CollectError>>,
    progress: Arc<CollectProgress>,
}

impl CollectionHandle {
    /// Shared counters of the running collection.
    pub fn progress(&self) -> &Arc<CollectProgress> {
        &self.progress
    }

    /// Asks the workers to stop early (the store is still closed when they return).
    pub fn stop(&self) {
        self.progress.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the collection to finish.
    pub fn join(self) -> Result<CollectStats, CollectError> {
        self.thread
            .join()
            .map_err(|_| CollectError::WorkerPanic("collection coordinator panicked".into()))?
    }
}

/// Starts [`collect_into`] on a background thread and returns at once, so a consumer can read
/// the store while it fills.
pub fn spawn_collection(
    spec: CollectSpec,
    rom: Rom,
    store: Arc<FrameStore>,
) -> Result<CollectionHandle, CollectError> {
    spec.validate()?;
    let progress = Arc::new(CollectProgress::default());
    let shared = Arc::clone(&progress);
    let thread = std::thread::Builder::new()
        .name("dimua-collect".into())
        .spawn(move || collect_into(&spec, &rom, &store, &shared))
        .map_err(|e| CollectError::io("spawn collector thread", "", e))?;
    Ok(CollectionHandle { thread, progress })
}
