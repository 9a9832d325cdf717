//! Progress bars and Ctrl-C handling shared by the long-running commands.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use dimua_collect::{CollectError, CollectProgress};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The stage display of a multi-stage command: one line over the stages, drawn above the
/// current stage's own bar. `None` outside [`Stages`].
static STAGES: Mutex<Option<(MultiProgress, ProgressBar)>> = Mutex::new(None);

/// One progress display across the stages of a command (`dimua run`: pretraining, probe
/// data, features, probes): a stage line that stays on screen while each stage draws its own
/// bar under it. Dropping it removes the display.
pub struct Stages;

impl Stages {
    /// Starts a display of `total` stages of `command` (none is entered yet).
    pub fn new(command: &str, total: u64) -> Self {
        let multi = MultiProgress::new();
        let line = multi.add(ProgressBar::new(total));
        line.set_style(
            ProgressStyle::with_template("{prefix:>10} stage {pos}/{len}: {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        line.set_prefix(command.to_string());
        line.set_message("starting");
        line.enable_steady_tick(Duration::from_millis(500));
        if let Ok(mut s) = STAGES.lock() {
            *s = Some((multi, line));
        }
        Stages
    }
}

impl Drop for Stages {
    fn drop(&mut self) {
        if let Ok(mut s) = STAGES.lock() {
            if let Some((_, line)) = s.take() {
                line.finish_and_clear();
            }
        }
    }
}

/// Enters the next stage of the active [`Stages`] display (no-op without one).
pub fn stage(name: &str) {
    if let Ok(s) = STAGES.lock() {
        if let Some((_, line)) = s.as_ref() {
            line.inc(1);
            line.set_message(name.to_string());
        }
    }
}

/// Prints a line to stderr without tearing the progress display.
pub fn note(text: &str) {
    match STAGES
        .lock()
        .ok()
        .and_then(|s| s.as_ref().map(|(m, _)| m.clone()))
    {
        Some(multi) => multi.suspend(|| eprintln!("{text}")),
        None => eprintln!("{text}"),
    }
}

/// Puts `bar` under the stage line when a [`Stages`] display is active.
fn attach(bar: ProgressBar) -> ProgressBar {
    match STAGES
        .lock()
        .ok()
        .and_then(|s| s.as_ref().map(|(m, _)| m.clone()))
    {
        Some(multi) => multi.add(bar),
        None => bar,
    }
}

/// Installs the Ctrl-C handler: the first Ctrl-C asks the running job to stop cleanly (it
/// removes partial outputs); a second one exits at once.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping and removing partial output (Ctrl-C again to abort)");
    });
}

/// True once Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A progress bar over `total` units named `unit`, hidden when stderr is not a terminal.
pub fn bar(total: u64, message: &str, unit: &str) -> ProgressBar {
    let bar = attach(ProgressBar::new(total));
    let template = format!(
        "{{msg:>10}} [{{bar:32}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}}) {{prefix}}"
    );
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// A spinner for work of unknown length.
pub fn spinner(message: &str) -> ProgressBar {
    let bar = attach(ProgressBar::new_spinner());
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Runs a collection `job` (which reports into `state`) on a worker thread while this thread
/// draws a bar over `total` frames and forwards Ctrl-C to the job as `state.stop`.
pub fn with_collect_bar<T: Send>(
    state: &CollectProgress,
    total: u64,
    label: &str,
    job: impl FnOnce() -> Result<T, CollectError> + Send,
) -> Result<T, CollectError> {
    let bar = bar(total, label, "frames");
    let result = std::thread::scope(|scope| {
        let job = scope.spawn(job);
        while !job.is_finished() {
            if interrupted() {
                state.stop.store(true, Ordering::Relaxed);
            }
            bar.set_position(state.frames.load(Ordering::Relaxed) as u64);
            std::thread::sleep(Duration::from_millis(100));
        }
        job.join()
            .unwrap_or_else(|_| Err(CollectError::WorkerPanic("collector".into())))
    });
    bar.finish_and_clear();
    result
}
