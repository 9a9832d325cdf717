//! `dimua-model`: the encoder (NatureCNN trunk + unbalanced atlas), the ST-DIM / DIM-UA
//! losses, the method variants, and the exported [`Encoder`] format (tch / libtorch).
//!
//! * [`spec`]: frame shape, architecture ([`EncoderSpec`]), derived sizes, `--device` parsing.
//! * [`net`]: the conv trunk, the atlas heads, training (Eq. 1 / Eq. 7) and inference
//!   (Eq. 2) outputs.
//! * [`losses`]: InfoNCE (global-local, local-local), `L_Q`, MMD.
//! * [`training`]: the trainer-side model (plus ST-DIM's score heads) and the per-method
//!   batch loss.
//! * [`encoder`]: [`Encoder`] load/save/encode, usable without the trainer.

#![warn(missing_docs)]

pub mod encoder;
pub mod error;
pub mod init;
pub mod losses;
pub mod method;
pub mod net;
pub mod spec;
pub mod training;

pub use encoder::{
    export_encoder, export_encoder_tensors, Encoder, EncoderMeta, ENCODER_FORMAT_VERSION,
};
pub use error::ModelError;
pub use init::WeightInit;
pub use method::{GlobalTarget, Method};
pub use net::{inference_output, training_output, EncoderNet};
pub use spec::{device_name, parse_device, EncoderSpec, FrameShape, Geometry, LOCAL_DEPTH};
pub use training::{LossTerms, StdimHeads, TrainingModel};
