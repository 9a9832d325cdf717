//! Owns [`VecEnv`]: N preset environments stepped by T worker threads, in envpool's sync and
//! async modes, writing into caller-provided buffers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Receiver, Sender};
use dimua_atari::Rom;

use crate::error::EnvError;
use crate::options::EnvOptions;
use crate::single::{PresetEnv, Transition};

/// How a [`VecEnv`] is built.
#[derive(Debug, Clone, PartialEq)]
pub struct VecEnvConfig {
    /// Environments N.
    pub num_envs: usize,
    /// Threads T stepping envs: T - 1 workers plus the caller's thread, which steps queued
    /// envs while it waits for results (at most N are used); the trajectories do not
    /// depend on it.
    pub threads: usize,
    /// Results per `recv` in async mode (envpool's `batch_size`); `num_envs` for sync use.
    pub batch_size: usize,
    /// Env `i` is seeded with `seed + i` (AtariARI seeds rank `i` with `42 + i`).
    pub seed: u64,
    /// Every env's options.
    pub options: EnvOptions,
}

/// The per-step outputs of a batch of envs (everything but the observations, which go to a
/// separate caller buffer). Allocate once with [`VecEnv::new_batch`] and reuse: stepping
/// does not allocate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepBatch {
    /// Which env each row belongs to (sync mode: `0..N` in order).
    pub env_ids: Vec<usize>,
    /// Per row: rewards, flags, lives and whole-game statistics.
    pub transitions: Vec<Transition>,
    /// Per row, `num_labels` AtariARI label bytes (empty rows for games without labels).
    pub labels: Vec<u8>,
    /// Rows filled by the last call.
    pub len: usize,
}

impl StepBatch {
    /// The labels of row `row`.
    pub fn labels_of(&self, row: usize) -> &[u8] {
        let n = self.labels.len() / self.transitions.len().max(1);
        &self.labels[row * n..(row + 1) * n]
    }
}

#[derive(Debug, Clone, Copy)]
enum Task {
    Reset(usize),
    Step(usize, usize),
}

struct Slot {
    env: PresetEnv,
    last: Transition,
    error: Option<EnvError>,
}

/// N environments with [`EnvOptions`] semantics on T threads.
///
/// - **Sync** ([`VecEnv::reset`], [`VecEnv::step`]): all N envs act, and the results come
///   back in env order.
/// - **Async** ([`VecEnv::send`], [`VecEnv::recv`]): send actions for any envs that are not
///   in flight, receive the next `batch_size` envs to finish, in finishing order, with their
///   ids. Each env has at most one step in flight, so each env's steps come back in order.
///
/// Every env auto-resets after `terminated` or `truncated` (the observation of that row is
/// the next episode's first). Env `i`'s trajectory depends only on `seed + i` and the actions
/// it is given, not on T, the mode or the timing.
pub struct VecEnv {
    slots: Arc<Vec<Mutex<Slot>>>,
    tasks: Option<Sender<Task>>,
    /// The caller's thread takes tasks too while it waits (so `threads` counts it).
    task_queue: Receiver<Task>,
    finished_tx: Sender<usize>,
    finished: Receiver<usize>,
    workers: Vec<JoinHandle<()>>,
    /// Microseconds a waiting thread polls before it sleeps (shared with the workers).
    spin_us: Arc<AtomicU64>,
    in_flight: Vec<bool>,
    pending: usize,
    config: VecEnvConfig,
    obs_len: usize,
    obs_shape: [usize; 4],
    num_actions: usize,
    num_labels: usize,
}

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl VecEnv {
    /// Builds the envs (all emulators start here; nothing is emulated until a reset).
    pub fn new(rom: &Rom, config: VecEnvConfig) -> Result<Self, EnvError> {
        let bad = |reason: String| Err(EnvError::InvalidOptions { reason });
        if config.num_envs == 0 {
            return bad("num_envs must be at least 1".into());
        }
        if config.threads == 0 {
            return bad("threads must be at least 1".into());
        }
        if config.batch_size == 0 || config.batch_size > config.num_envs {
            return bad(format!(
                "batch_size must be in 1..={} (num_envs), got {}",
                config.num_envs, config.batch_size
            ));
        }
        config.options.validate()?;
        let mut slots = Vec::with_capacity(config.num_envs);
        for i in 0..config.num_envs {
            let env = PresetEnv::new(rom, &config.options, config.seed.wrapping_add(i as u64))?;
            slots.push(Mutex::new(Slot {
                env,
                last: Transition::default(),
                error: None,
            }));
        }
        let (obs_len, obs_shape, num_actions, num_labels) = {
            let first = lock(&slots[0]);
            (
                first.env.obs_len(),
                first.env.obs_shape(),
                first.env.num_actions(),
                first.env.labels().len(),
            )
        };
        let slots = Arc::new(slots);
        let (task_tx, task_rx) = bounded::<Task>(config.num_envs);
        let (done_tx, done_rx) = bounded::<usize>(config.num_envs);
        let spin_us = Arc::new(AtomicU64::new(DEFAULT_SPIN.as_micros() as u64));
        // The caller's thread is one of the `threads`: it steps envs while it waits.
        let workers = (0..config.threads.min(config.num_envs) - 1)
            .map(|k| {
                let slots = Arc::clone(&slots);
                let task_rx = task_rx.clone();
                let spin_us = Arc::clone(&spin_us);
                let done_tx = done_tx.clone();
                std::thread::Builder::new()
                    .name(format!("dimua-env-{k}"))
                    .spawn(move || worker(&slots, &task_rx, &done_tx, &spin_us))
                    .map_err(|e| EnvError::Worker(format!("cannot start a thread: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(VecEnv {
            slots,
            tasks: Some(task_tx),
            task_queue: task_rx,
            finished_tx: done_tx,
            finished: done_rx,
            workers,
            spin_us,
            in_flight: vec![false; config.num_envs],
            pending: 0,
            config,
            obs_len,
            obs_shape,
            num_actions,
            num_labels,
        })
    }

    /// How long waiting threads poll for the next task or result before they sleep
    /// ([`DEFAULT_SPIN`] unless set; zero sleeps at once). Polling saves the wake-up after
    /// each vector step when the agent calls back quickly; an agent that computes for
    /// milliseconds between steps on the same cores may prefer zero. Trajectories do not
    /// depend on it.
    pub fn set_spin_wait(&self, spin: Duration) {
        self.spin_us.store(
            spin.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }

    /// The configuration.
    pub fn config(&self) -> &VecEnvConfig {
        &self.config
    }

    /// Number of envs N.
    pub fn num_envs(&self) -> usize {
        self.config.num_envs
    }

    /// Number of actions of every env.
    pub fn num_actions(&self) -> usize {
        self.num_actions
    }

    /// One env's observation shape `[stack, height, width, channels]` (u8).
    pub fn obs_shape(&self) -> [usize; 4] {
        self.obs_shape
    }

    /// Bytes of one env's observation.
    pub fn obs_len(&self) -> usize {
        self.obs_len
    }

    /// AtariARI labels per env (0 for games without annotations).
    pub fn num_labels(&self) -> usize {
        self.num_labels
    }

    /// A [`StepBatch`] sized for `rows` rows (N for sync calls, `batch_size` for `recv`).
    pub fn new_batch(&self, rows: usize) -> StepBatch {
        StepBatch {
            env_ids: vec![0; rows],
            transitions: vec![Transition::default(); rows],
            labels: vec![0; rows * self.num_labels],
            len: 0,
        }
    }

    /// Sync mode: resets every env (a real reset) and writes the N first observations into
    /// `obs` (N x `obs_len` bytes) in env order.
    pub fn reset(&mut self, obs: &mut [u8], batch: &mut StepBatch) -> Result<(), EnvError> {
        self.check_idle()?;
        self.check_buffers(obs, batch, self.config.num_envs)?;
        for i in 0..self.config.num_envs {
            self.dispatch(Task::Reset(i))?;
        }
        self.collect_in_order(obs, batch)
    }

    /// Sync mode: every env takes its action (`actions[i]` for env `i`); observations and
    /// results come back in env order.
    pub fn step(
        &mut self,
        actions: &[usize],
        obs: &mut [u8],
        batch: &mut StepBatch,
    ) -> Result<(), EnvError> {
        self.check_idle()?;
        if actions.len() != self.config.num_envs {
            return Err(EnvError::Usage(format!(
                "step needs one action per env: got {}, have {} envs",
                actions.len(),
                self.config.num_envs
            )));
        }
        self.check_buffers(obs, batch, self.config.num_envs)?;
        for (env, &action) in actions.iter().enumerate() {
            self.check_action(env, action)?;
        }
        for (i, &a) in actions.iter().enumerate() {
            self.dispatch(Task::Step(i, a))?;
        }
        self.collect_in_order(obs, batch)
    }

    /// Async mode: resets every env; their first observations come back through `recv`.
    pub fn async_reset(&mut self) -> Result<(), EnvError> {
        self.check_idle()?;
        for i in 0..self.config.num_envs {
            self.dispatch(Task::Reset(i))?;
        }
        Ok(())
    }

    /// Async mode: env `env_ids[k]` takes action `actions[k]`. Refused (before anything is
    /// sent) for an env still in flight or listed twice.
    pub fn send(&mut self, actions: &[usize], env_ids: &[usize]) -> Result<(), EnvError> {
        if actions.len() != env_ids.len() {
            return Err(EnvError::Usage(format!(
                "send got {} actions for {} env ids",
                actions.len(),
                env_ids.len()
            )));
        }
        for (k, &id) in env_ids.iter().enumerate() {
            if id >= self.config.num_envs {
                return Err(EnvError::Usage(format!(
                    "env id {id} out of range (there are {} envs)",
                    self.config.num_envs
                )));
            }
            // A repeat within this call counts as in flight (a scan: no allocation per step).
            if self.in_flight[id] || env_ids[..k].contains(&id) {
                return Err(EnvError::Usage(format!(
                    "env {id} already has a step in flight: recv its result before sending it \
                     another action"
                )));
            }
        }
        for (&env, &action) in env_ids.iter().zip(actions) {
            self.check_action(env, action)?;
        }
        for (&id, &a) in env_ids.iter().zip(actions) {
            self.dispatch(Task::Step(id, a))?;
        }
        Ok(())
    }

    /// Async mode: waits for the next `batch_size` envs to finish (or fewer if fewer are in
    /// flight; an error if none is) and writes them, in finishing order, into `obs` and
    /// `batch` (`batch.env_ids` says which env each row is).
    pub fn recv(&mut self, obs: &mut [u8], batch: &mut StepBatch) -> Result<(), EnvError> {
        if self.pending == 0 {
            return Err(EnvError::Usage(
                "recv with no env in flight: call async_reset or send first".into(),
            ));
        }
        let rows = self.config.batch_size.min(self.pending);
        self.check_buffers(obs, batch, rows)?;
        for row in 0..rows {
            let id = self.next_finished()?;
            self.write_row(id, row, obs, batch)?;
        }
        batch.len = rows;
        Ok(())
    }

    fn check_idle(&self) -> Result<(), EnvError> {
        if self.pending > 0 {
            return Err(EnvError::Usage(format!(
                "{} env steps are still in flight (async mode): recv them before a sync call",
                self.pending
            )));
        }
        Ok(())
    }

    fn check_action(&self, env: usize, action: usize) -> Result<(), EnvError> {
        if action >= self.num_actions {
            return Err(EnvError::InvalidAction {
                env,
                action,
                limit: self.num_actions,
            });
        }
        Ok(())
    }

    fn check_buffers(&self, obs: &[u8], batch: &StepBatch, rows: usize) -> Result<(), EnvError> {
        if obs.len() < rows * self.obs_len
            || batch.transitions.len() < rows
            || batch.env_ids.len() < rows
            || batch.labels.len() < rows * self.num_labels
        {
            return Err(EnvError::Usage(format!(
                "buffers too small for {rows} rows: obs needs {} bytes (has {}), the batch {rows} \
                 rows (has {}); size them with obs_len() and new_batch()",
                rows * self.obs_len,
                obs.len(),
                batch.transitions.len()
            )));
        }
        Ok(())
    }

    fn dispatch(&mut self, task: Task) -> Result<(), EnvError> {
        let id = match task {
            Task::Reset(i) | Task::Step(i, _) => i,
        };
        let sender = self
            .tasks
            .as_ref()
            .expect("task channel open while the VecEnv lives");
        sender
            .send(task)
            .map_err(|_| EnvError::Worker("the task queue is closed".into()))?;
        self.in_flight[id] = true;
        self.pending += 1;
        Ok(())
    }

    fn next_finished(&mut self) -> Result<usize, EnvError> {
        // Help with queued steps before blocking: with one thread, all are done here.
        let id = loop {
            if let Ok(id) = self.finished.try_recv() {
                break id;
            }
            match self.task_queue.try_recv() {
                Ok(task) => run_task(&self.slots, task, &self.finished_tx),
                Err(_) => {
                    break spin_then_recv(&self.finished, &self.spin_us)
                        .ok_or_else(|| EnvError::Worker("every worker has exited".into()))?
                }
            }
        };
        self.in_flight[id] = false;
        self.pending -= 1;
        Ok(id)
    }

    fn collect_in_order(&mut self, obs: &mut [u8], batch: &mut StepBatch) -> Result<(), EnvError> {
        let n = self.config.num_envs;
        let mut first_error = None;
        for _ in 0..n {
            let id = self.next_finished()?;
            if let Err(e) = self.write_row(id, id, obs, batch) {
                first_error.get_or_insert(e);
            }
        }
        batch.len = n;
        first_error.map_or(Ok(()), Err)
    }

    fn write_row(
        &self,
        id: usize,
        row: usize,
        obs: &mut [u8],
        batch: &mut StepBatch,
    ) -> Result<(), EnvError> {
        let mut slot = lock(&self.slots[id]);
        if let Some(e) = slot.error.take() {
            return Err(e);
        }
        slot.env
            .write_obs(&mut obs[row * self.obs_len..(row + 1) * self.obs_len]);
        batch.env_ids[row] = id;
        batch.transitions[row] = slot.last;
        let l = self.num_labels;
        batch.labels[row * l..(row + 1) * l].copy_from_slice(slot.env.labels());
        Ok(())
    }
}

fn worker(
    slots: &[Mutex<Slot>],
    tasks: &Receiver<Task>,
    finished: &Sender<usize>,
    spin_us: &AtomicU64,
) {
    while let Some(task) = spin_then_recv(tasks, spin_us) {
        run_task(slots, task, finished);
    }
}

/// How long a waiting thread (a worker between tasks, the caller waiting for results) polls
/// before it sleeps in the channel, unless [`VecEnv::set_spin_wait`] says otherwise. Being
/// woken from sleep costs a VM tens of microseconds per vector step; polling costs the CPU
/// time the agent may want between steps (BENCHMARKS.md: its effect on `dimua bench env`;
/// the cost to an agent was not measured).
pub const DEFAULT_SPIN: Duration = Duration::from_micros(200);

/// The next message: polled for up to `spin_us` microseconds, then waited for; `None` once
/// the channel is closed and empty.
fn spin_then_recv<T>(rx: &Receiver<T>, spin_us: &AtomicU64) -> Option<T> {
    let spin = Duration::from_micros(spin_us.load(Ordering::Relaxed));
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(crossbeam::channel::TryRecvError::Disconnected) => return None,
            Err(crossbeam::channel::TryRecvError::Empty) => {}
        }
        if start.elapsed() >= spin {
            return rx.recv().ok();
        }
        for _ in 0..64 {
            std::hint::spin_loop();
        }
    }
}

/// Runs one task and reports its env as finished (the channel holds every env, so this
/// never blocks).
fn run_task(slots: &[Mutex<Slot>], task: Task, finished: &Sender<usize>) {
    let id = match task {
        Task::Reset(i) | Task::Step(i, _) => i,
    };
    {
        let mut slot = lock(&slots[id]);
        // A panic inside the emulator must not leave the caller waiting forever: it becomes
        // this env's error.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match task {
            Task::Reset(_) => Ok(slot.env.reset()),
            Task::Step(_, action) => slot.env.step(action),
        }));
        match outcome {
            Ok(Ok(t)) => slot.last = t,
            Ok(Err(e)) => slot.error = Some(e),
            Err(_) => slot.error = Some(EnvError::Worker(format!("env {id} panicked"))),
        }
    }
    let _ = finished.send(id);
}

impl Drop for VecEnv {
    fn drop(&mut self) {
        // Closing the task channel ends every worker's loop.
        self.tasks = None;
        // Finish what is in flight (helping with queued steps) before joining.
        while self.pending > 0 && self.next_finished().is_ok() {}
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl std::fmt::Debug for VecEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VecEnv")
            .field("config", &self.config)
            .field("obs_shape", &self.obs_shape)
            .field("num_actions", &self.num_actions)
            .field("pending", &self.pending)
            .finish()
    }
}
