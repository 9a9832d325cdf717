//! [`Observer`]: how the stages report progress and learn about Ctrl-C. The caller passes
//! one to every stage; [`Quiet`] ignores everything (libraries, examples, tests), the `dimua`
//! binary draws progress bars.

use std::sync::atomic::Ordering;
use std::time::Duration;

use dimua_collect::{CollectError, CollectProgress};

/// One thing a stage reports. Each `...Started` is followed by its `...Finished`, also on
/// errors, so a display can clear what it drew.
#[derive(Debug)]
pub enum Event<'a> {
    /// A collection of `frames` agent steps starts.
    CollectStarted {
        /// What is collected (`probe data`, `collect`).
        label: &'a str,
        /// Frames to collect.
        frames: u64,
    },
    /// Frames collected so far.
    Collected {
        /// Frames collected so far.
        frames: u64,
    },
    /// The collection ended.
    CollectFinished,
    /// Pretraining starts.
    TrainStarted,
    /// The trainer's own progress.
    Train(&'a dimua_train::ProgressEvent<'a>),
    /// Pretraining ended.
    TrainFinished,
    /// Encoder features are being computed.
    FeaturesStarted,
    /// Features are done.
    FeaturesFinished,
    /// The linear probes start (at most `epochs` epochs).
    ProbesStarted {
        /// Maximum epochs.
        epochs: usize,
    },
    /// One probe epoch ended.
    ProbeEpoch(&'a dimua_probe::ProbeEpoch),
    /// The probes ended.
    ProbesFinished,
}

/// Receives the stages' progress; every method has a do-nothing default.
pub trait Observer {
    /// A new stage starts (`pretraining`, `probe data`, ...).
    fn stage(&self, _name: &str) {}
    /// A line for the user (a summary, a warning).
    fn note(&self, _text: &str) {}
    /// Progress within the current stage.
    fn event(&self, _event: &Event<'_>) {}
    /// True once the user asked to stop: the running stage stops cleanly and returns
    /// [`crate::PipelineError::Interrupted`].
    fn interrupted(&self) -> bool {
        false
    }
}

/// An observer that shows nothing and never interrupts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// Runs a collection `job` (which reports into `state`) on a worker thread while this thread
/// reports its frames to `observer` every 100 ms and forwards an interruption as `state.stop`.
pub fn collect_observed<T: Send>(
    state: &CollectProgress,
    total: u64,
    label: &str,
    observer: &dyn Observer,
    job: impl FnOnce() -> Result<T, CollectError> + Send,
) -> Result<T, CollectError> {
    observer.event(&Event::CollectStarted {
        label,
        frames: total,
    });
    let result = std::thread::scope(|scope| {
        let job = scope.spawn(job);
        while !job.is_finished() {
            if observer.interrupted() {
                state.stop.store(true, Ordering::Relaxed);
            }
            observer.event(&Event::Collected {
                frames: state.frames.load(Ordering::Relaxed) as u64,
            });
            std::thread::sleep(Duration::from_millis(100));
        }
        job.join()
            .unwrap_or_else(|_| Err(CollectError::WorkerPanic("collector".into())))
    });
    observer.event(&Event::CollectFinished);
    result
}
