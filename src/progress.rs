//! Progress bars and Ctrl-C handling shared by the long-running commands, and [`Display`],
//! the binary's [`Observer`] of the pipeline stages.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use dimua_pipeline::{Event, Observer};
use dimua_train::ProgressEvent;
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

/// The binary's [`Observer`]: the stage line of [`Stages`], one bar (or spinner) per stage
/// event, notes that do not tear the display, and Ctrl-C.
#[derive(Default)]
pub struct Display {
    bar: Mutex<Option<ProgressBar>>,
}

impl Display {
    fn show(&self, bar: ProgressBar) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(old) = b.replace(bar) {
                old.finish_and_clear();
            }
        }
    }

    fn with(&self, f: impl FnOnce(&ProgressBar)) {
        if let Ok(b) = self.bar.lock() {
            if let Some(bar) = b.as_ref() {
                f(bar);
            }
        }
    }

    fn clear(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(bar) = b.take() {
                bar.finish_and_clear();
            }
        }
    }
}

impl Observer for Display {
    fn stage(&self, name: &str) {
        stage(name);
    }

    fn note(&self, text: &str) {
        note(text);
    }

    fn interrupted(&self) -> bool {
        interrupted()
    }

    fn event(&self, event: &Event<'_>) {
        match event {
            Event::CollectStarted { label, frames } => self.show(bar(*frames, label, "frames")),
            Event::Collected { frames } => self.with(|b| b.set_position(*frames)),
            Event::TrainStarted => self.show(bar(1, "train", "steps")),
            Event::Train(event) => self.with(|bar| match event {
                ProgressEvent::Started {
                    device,
                    steps_per_epoch,
                    max_epochs,
                    ..
                } => {
                    bar.set_length((steps_per_epoch * max_epochs) as u64);
                    bar.set_message(format!("train {device}"));
                }
                ProgressEvent::Waiting {
                    train_pairs,
                    needed,
                } => {
                    bar.set_prefix(format!("waiting for data: {train_pairs}/{needed} pairs"));
                }
                ProgressEvent::Step {
                    epoch,
                    step_in_epoch,
                    steps_per_epoch,
                    loss,
                    steps_per_s,
                    ..
                } => {
                    bar.set_position((epoch * steps_per_epoch + step_in_epoch) as u64);
                    bar.set_prefix(format!(
                        "epoch {epoch} loss {loss:.4} {steps_per_s:.2} steps/s"
                    ));
                }
                ProgressEvent::EpochEnd(_) => {}
            }),
            Event::FeaturesStarted => self.show(spinner("features")),
            Event::ProbesStarted { epochs } => self.show(bar(*epochs as u64, "probes", "epochs")),
            Event::ProbeEpoch(e) => self.with(|bar| {
                bar.set_position(e.epoch as u64 + 1);
                bar.set_prefix(format!(
                    "{}/{} labels training, mean val acc {:.3}",
                    e.active, e.labels, e.mean_val_acc
                ));
            }),
            Event::CollectFinished
            | Event::TrainFinished
            | Event::FeaturesFinished
            | Event::ProbesFinished => self.clear(),
        }
    }
}

/// Draws the run's plots into `dir/plots/` (losses, membership entropy, head share, probe F1).
/// A plotting failure is reported as a warning: the run's results are already written.
pub fn plot_run(dir: &Path) {
    match dimua_plot::plot_run(dir) {
        Ok(files) => tracing::info!(
            "wrote {} plot files into {}",
            files.len(),
            dir.join("plots").display()
        ),
        Err(e) => note(&format!("warning: no plots for {}: {e}", dir.display())),
    }
}
