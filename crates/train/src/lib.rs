//! `dimua-train`: ST-DIM / DIM-UA pretraining on frames streamed from a
//! [`dimua_buffer::FrameStore`], with early stopping, exact-resume checkpoints, metrics,
//! and a step benchmark.
//!
//! ```no_run
//! # fn main() -> Result<(), dimua_train::TrainError> {
//! # use dimua_buffer::{FrameStore, SplitRule, StoreSpec};
//! # let store = FrameStore::new(StoreSpec { capacity_frames: 1000, frame_bytes: 210 * 160,
//! #     label_bytes: 0, split: SplitRule::PRETRAIN, seed: 0 }).unwrap();
//! # // ... collector threads fill `store` (see dimua-collect) ...
//! use dimua_train::{train, Control, TrainConfig};
//! let config = TrainConfig::for_method(dimua_model::Method::DimUa);
//! let report = train(store, dimua_model::FrameShape::ATARI_GRAY, &config,
//!                    std::path::Path::new("runs/x"), &mut |_| Control::Continue)?;
//! println!("{:?} on {}", report.stop_reason, report.device);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod metrics;
pub mod trace;
pub mod trainer;

pub use bench::{bench_train_steps, BenchConfig, BenchResult};
pub use config::TrainConfig;
pub use dimua_model::{parse_device, Method};
pub use error::TrainError;
pub use metrics::{EpochMetrics, LossMeans};
pub use trainer::{
    checkpoint_weights, export_initial_encoder, resume, train, Control, ProgressEvent, ProgressFn,
    StopReason, TrainReport, Trainer, HEADS_FILE, METRICS_FILE,
};
