//! `dimua-optim`: the one Adam of the trainer and the probes ([`Adam`]), and the serial
//! warm-up of libtorch's vector math that every training process makes before its first
//! step ([`warm_up_vector_math`]).

#![deny(missing_docs)]

pub mod adam;
pub mod error;
pub mod warmup;

pub use adam::{Adam, GroupLrs, LearningRate, BETA1, BETA2, MIN_ELEMS_PER_THREAD};
pub use error::OptimError;
pub use warmup::{vector_math_warmed_up, warm_up_vector_math};
