//! `dimua-images`: the paper's second experiment, SimCLR, MSimCLR and SimCLR-UA on image
//! datasets (Table 2, 5, 6).
//!
//! * [`dataset`]: CIFAR-10 binary, image folders, dimua's AtariARI datasets, one interface.
//! * [`augment`]: SimCLR's augmentations as batched tensor ops, seeded.
//! * [`resnet`]: ResNet-18 / ResNet-50 in their CIFAR form.
//! * [`losses`]: the NT-Xent loss, SimCLR's contrastive objective.
//! * [`methods`]: the three methods, one constant each.
//! * [`model`]: backbone + atlas heads, the pretraining loss, frozen features.
//! * [`config`]: run configs and sweep expansion.
//! * [`run`]: one run end to end in a safe, resumable run directory.
//! * [`report`]: the Table 2 layout of finished runs (a setup column separates Table 5's
//!   switches and Table 6's tau), and Fig. 1's entropy curves.

#![warn(missing_docs)]

pub mod augment;
pub mod config;
pub mod dataset;
pub mod error;
pub mod losses;
pub mod methods;
pub mod model;
pub mod report;
pub mod resnet;
pub mod run;

pub use config::{expand_sweep, ImageRunConfig, SweepRun};
pub use error::{ImagesError, Result};
pub use run::{run_image, EvalResult, Progress, RunOptions};
