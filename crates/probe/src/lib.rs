//! `dimua-probe`: AtariARI linear probing on precomputed features.
//!
//! - [`metrics`]: accuracy, scikit-learn-exact weighted F1, AtariARI category aggregation
//!   into a serialisable [`ProbeResult`].
//! - [`majority`]: the majority-class baseline.
//! - [`probe`]: all K linear probes trained as one batched layer ([`train_probes`]);
//!   [`reference`](mod@reference): the one-at-a-time path it is checked and timed against.
//! - [`bench`](mod@bench): batched vs one-by-one timing on any data ([`time_probe_paths`]) and
//!   on synthetic problems ([`bench_probes`]).
//! - [`report`]: Markdown/JSON tables for one result and for many runs (paper Tables 1 and 4).
//!
//! The crate never sees frames or encoders: the caller computes features once per frame
//! and hands over `[N, D]` feature and `[N, K]` raw-byte label tensors per split.

#![deny(missing_docs)]

pub mod bench;
pub mod data;
pub mod error;
pub mod majority;
pub mod metrics;
pub mod ordered;
pub mod probe;
pub mod reference;
pub mod report;
pub mod sampling;
mod schedule;

pub use bench::{
    bench_probes, synthetic_problem, time_probe_paths, BenchConfig, BenchReport, ProbeTiming,
    SyntheticProblem, SyntheticSpec,
};
pub use data::{standardize_splits, ProbeData, Split};
pub use dimua_core::labels::{Category, LabelError, LabelSpec};
pub use error::{ProbeError, Result};
pub use majority::{majority_baseline, majority_values};
pub use metrics::{accuracy, score, weighted_f1, LabelTraining, ProbeResult, Score};
pub use ordered::OrderedMap;
pub use probe::{
    train_probes, train_probes_observed, LinearProbes, ProbeConfig, ProbeControl, ProbeEpoch,
    ProbeRun, NUM_CLASSES,
};
pub use reference::train_probes_one_by_one;
pub use report::{aggregate_runs, result_markdown, MeanStd, RunRecord, RunTables, Table};
pub use sampling::Sampling;
