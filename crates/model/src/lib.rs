//! `dimua-model`: the encoder (NatureCNN trunk + unbalanced atlas), the ST-DIM / DIM-UA
//! losses, the method variants, and the exported [`Encoder`] format (tch / libtorch).
//!
//! * [`spec`]: frame shape, architecture ([`EncoderSpec`]), derived sizes, `--device` parsing.
//! * [`net`]: the conv trunk, the atlas heads, training (Eq. 1 / Eq. 7) and inference
//!   (Eq. 2) outputs.
//! * [`losses`]: InfoNCE (global-local, local-local), `L_Q`, MMD.
//! * [`method`]: the method seam ([`MethodDef`], [`Objective`], named [`Losses`]) and the
//!   [`Method`] handle / registry.
//! * [`methods`]: the built-in methods, one file each.
//! * [`encoder`]: [`Encoder`] load/save/encode, usable without the trainer.
//! * [`mixed`]: fp32 / bf16 compute ([`Precision`]) and its casting wrappers.

#![warn(missing_docs)]

pub mod decoder;
pub mod encoder;
pub mod error;
pub mod init;
pub mod losses;
pub mod method;
pub mod methods;
pub mod mixed;
pub mod net;
pub mod spec;

pub use encoder::{
    export_encoder, export_encoder_tensors, Encoder, EncoderFile, EncoderMeta,
    ENCODER_FORMAT_VERSION,
};
pub use error::ModelError;
pub use init::WeightInit;
pub use method::{
    register_method, Batch, BatchKind, LossInputs, Losses, Method, MethodDef, Objective,
};
pub use mixed::Precision;
pub use net::{inference_output, training_output, EncoderNet, GlobalTarget};
pub use spec::{device_name, parse_device, EncoderSpec, FrameShape, Geometry, LOCAL_DEPTH};
