//! `dimua-optim`: the one Adam of the trainer and the probes ([`Adam`]).

#![deny(missing_docs)]

pub mod adam;
pub mod error;

pub use adam::{Adam, GroupLrs, LearningRate, BETA1, BETA2, MIN_ELEMS_PER_THREAD};
pub use error::OptimError;
