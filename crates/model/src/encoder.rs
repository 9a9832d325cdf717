//! The exported encoder: `encoder.safetensors` (weights of `encoder/...` and `atlas/...`)
//! plus the JSON sidecar `encoder.json` (architecture, method, game, format version).
//! [`Encoder`] loads and runs it without any of the training code.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use dimua_core::fs::{replace_with, write_atomic};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::error::{ModelError, TorchContext};
use crate::method::Method;
use crate::mixed::Precision;
use crate::net::{EncoderNet, WeightInit};
use crate::spec::{device_name, EncoderSpec, FrameShape, LOCAL_DEPTH};

/// Version of the encoder file format written by this build.
pub const ENCODER_FORMAT_VERSION: u32 = 1;
/// Default weights file name inside a run directory.
pub const ENCODER_WEIGHTS_FILE: &str = "encoder.safetensors";
/// Default sidecar file name inside a run directory.
pub const ENCODER_SIDECAR_FILE: &str = "encoder.json";
/// Variable-name prefixes that belong to an exported encoder (the rest of a training
/// model, `stdim.*`, does not).
pub const ENCODER_PREFIXES: [&str; 2] = ["encoder.", "atlas."];

/// Architecture block of the sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchitectureMeta {
    /// Architecture family: always `"nature-cnn-atlas"` for this format.
    pub name: String,
    /// Input frame shape `[H, W, C]` (u8, NHWC).
    pub in_shape: [usize; 3],
    /// Input channels (`in_shape[2]`).
    pub channels: usize,
    /// Atlas heads `n`.
    pub heads: usize,
    /// Units per head `d`.
    pub units: usize,
    /// Depth of the local feature map (128).
    pub local_depth: usize,
    /// Size of the flattened conv4 output feeding the atlas (3456 at 210 x 160).
    pub flat_dim: usize,
}

/// The JSON sidecar (`encoder.json`) of an exported encoder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderMeta {
    /// File format version ([`ENCODER_FORMAT_VERSION`]).
    pub format_version: u32,
    /// The architecture.
    pub architecture: ArchitectureMeta,
    /// The method that produced the weights.
    pub method: Method,
    /// The game the encoder was trained on, if known.
    pub game: Option<String>,
    /// Dimension of the output of [`Encoder::encode`] (`units`).
    pub feature_dim: usize,
    /// File name of the weights, relative to the sidecar.
    pub weights: String,
    /// What `encode` expects, in words.
    pub input: String,
    /// What `encode` returns, in words.
    pub output: String,
    /// Where pretraining stood when these weights were written: `finished`,
    /// `early-stopped`, or `running` (written after each epoch: a file still saying
    /// `running` after the process ended comes from an interrupted run). Absent for encoders
    /// that were never trained (`random-cnn`) and in files written before this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<String>,
}

impl EncoderMeta {
    /// Whether the weights come from a pretraining run that did not finish (`training` is
    /// `running`): probe and export warn about such encoders.
    pub fn training_unfinished(&self) -> bool {
        self.training.as_deref() == Some("running")
    }

    /// The sidecar for `spec` trained by `method` on `game`.
    pub fn new(
        spec: &EncoderSpec,
        method: Method,
        game: Option<String>,
    ) -> Result<Self, ModelError> {
        let geometry = spec.geometry()?;
        Ok(EncoderMeta {
            format_version: ENCODER_FORMAT_VERSION,
            architecture: ArchitectureMeta {
                name: "nature-cnn-atlas".to_string(),
                in_shape: [spec.frame.height, spec.frame.width, spec.frame.channels],
                channels: spec.frame.channels,
                heads: spec.heads,
                units: spec.units,
                local_depth: LOCAL_DEPTH,
                flat_dim: geometry.flat_dim(),
            },
            method,
            game,
            feature_dim: spec.units,
            weights: ENCODER_WEIGHTS_FILE.to_string(),
            input: "u8 frames [B, H, W, C] (or [H, W, C]), raw 0..255; scaled by 1/255 inside"
                .into(),
            output: "f32 [B, units]: coordinates of the argmax-membership head (Eq. 2)".into(),
            training: None,
        })
    }

    /// The architecture as an [`EncoderSpec`].
    pub fn spec(&self) -> Result<EncoderSpec, ModelError> {
        let a = &self.architecture;
        let frame = FrameShape {
            height: a.in_shape[0],
            width: a.in_shape[1],
            channels: a.in_shape[2],
        };
        EncoderSpec::new(frame, a.heads, a.units)
    }
}

/// Where the weights and the sidecar of an encoder live, given a user path: a directory
/// (holding `encoder.safetensors` + `encoder.json`), a `*.safetensors` file (sidecar: same
/// stem, `.json`) or a `*.json` sidecar.
pub fn encoder_paths(path: &Path) -> (PathBuf, PathBuf) {
    match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => (path.to_path_buf(), path.with_extension("json")),
        Some("json") => (path.with_extension("safetensors"), path.to_path_buf()),
        _ => (
            path.join(ENCODER_WEIGHTS_FILE),
            path.join(ENCODER_SIDECAR_FILE),
        ),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes named tensors (moved to the CPU, made contiguous) as safetensors, atomically.
pub fn write_safetensors_atomic(
    path: &Path,
    tensors: &[(String, Tensor)],
) -> Result<(), ModelError> {
    let ctx = "writing safetensors";
    let cpu = tensors
        .iter()
        .map(|(k, t)| Ok((k.clone(), t.f_to_device(Device::Cpu)?.f_contiguous()?)))
        .collect::<Result<Vec<_>, tch::TchError>>()
        .ctx(ctx)?;
    replace_with(path, |tmp| {
        Tensor::write_safetensors(&cpu, tmp).map_err(|e| match os_error_in(&e) {
            // tch reports a failed write as Rust debug text: turn it back into the OS error
            // (a full disk reads "No space left on device").
            Some(source) => ModelError::Io {
                path: path.to_path_buf(),
                source,
            },
            None => ModelError::Torch {
                context: ctx,
                source: e,
            },
        })
    })
}

/// The OS error inside a tch safetensors error (`IoError(Os { code: 28, .. })`), if any.
fn os_error_in(e: &tch::TchError) -> Option<std::io::Error> {
    let text = e.to_string();
    let start = text.find("Os { code: ")? + "Os { code: ".len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().map(std::io::Error::from_raw_os_error)
}

/// Exports the encoder part (`encoder.*`, `atlas.*`) of `vs` (an [`Encoder`]'s or a training
/// model's var store) to `path` (see [`encoder_paths`]), weights first, then the sidecar,
/// each via a temporary file and a rename. Returns the weights and sidecar paths.
pub fn export_encoder(
    vs: &VarStore,
    meta: &EncoderMeta,
    path: &Path,
) -> Result<(PathBuf, PathBuf), ModelError> {
    let tensors: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    export_encoder_tensors(&tensors, meta, path)
}

/// Like [`export_encoder`] from named tensors (e.g. a saved copy of the best weights);
/// names outside [`ENCODER_PREFIXES`] are skipped.
pub fn export_encoder_tensors(
    tensors: &[(String, Tensor)],
    meta: &EncoderMeta,
    path: &Path,
) -> Result<(PathBuf, PathBuf), ModelError> {
    let (weights, sidecar) = encoder_paths(path);
    if let Some(dir) = weights.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut tensors: Vec<(String, Tensor)> = tensors
        .iter()
        .filter(|(k, _)| ENCODER_PREFIXES.iter().any(|p| k.starts_with(p)))
        .map(|(k, t)| (k.clone(), t.shallow_clone()))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    write_safetensors_atomic(&weights, &tensors)?;
    let mut meta = meta.clone();
    meta.weights = weights
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let json = serde_json::to_vec_pretty(&meta).map_err(|source| ModelError::Sidecar {
        path: sidecar.clone(),
        source,
    })?;
    write_atomic(&sidecar, &json)?;
    Ok((weights, sidecar))
}

/// Copies named tensors into the variables of `vs`, requiring the same names, shapes and
/// dtype, and finite values.
pub fn load_vars_exact(
    vs: &VarStore,
    tensors: HashMap<String, Tensor>,
    path: &Path,
) -> Result<(), ModelError> {
    let mismatch = |reason: String| ModelError::WeightsMismatch {
        path: path.to_path_buf(),
        reason,
    };
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    if let Some(extra) = tensors.keys().find(|k| !vars.contains_key(*k)) {
        return Err(mismatch(format!("unexpected tensor {extra:?}")));
    }
    tch::no_grad(|| {
        for (name, mut var) in vars {
            let src = tensors
                .get(&name)
                .ok_or_else(|| mismatch(format!("missing tensor {name:?}")))?;
            if src.size() != var.size() {
                return Err(mismatch(format!(
                    "{name}: shape {:?} in the file, {:?} expected",
                    src.size(),
                    var.size()
                )));
            }
            if src.kind() != Kind::Float {
                return Err(mismatch(format!(
                    "{name}: dtype {:?}, expected f32",
                    src.kind()
                )));
            }
            let bad = src
                .f_isfinite()
                .and_then(|f| f.f_logical_not())
                .and_then(|f| f.f_sum(Kind::Int64))
                .and_then(|n| n.f_int64_value(&[]))
                .ctx("checking weights")?;
            if bad > 0 {
                return Err(mismatch(format!(
                    "{name}: {bad} non-finite (NaN or infinite) values; the encoder is corrupt or \
                     its training diverged: export it again from a good run"
                )));
            }
            var.f_copy_(src).ctx("loading weights")?;
        }
        Ok(())
    })
}

/// A trained (or randomly initialised) encoder, usable without the trainer: u8 frames in,
/// features out.
///
/// ```no_run
/// # fn main() -> Result<(), dimua_model::ModelError> {
/// use dimua_model::Encoder;
/// let enc = Encoder::load("runs/pong__dim-ua__0")?; // encoder.safetensors + encoder.json
/// let frames = tch::Tensor::zeros([8, 210, 160, 1], (tch::Kind::Uint8, tch::Device::Cpu));
/// let z = enc.encode(&frames)?; // [8, enc.feature_dim()]
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Encoder {
    vs: VarStore,
    net: EncoderNet,
    meta: EncoderMeta,
    file: Option<EncoderFile>,
}

/// The weights file an [`Encoder`] was loaded from, so results can name exactly what they
/// scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderFile {
    /// The weights file (`*.safetensors`) as it was opened.
    pub path: PathBuf,
    /// sha256 of its bytes (lowercase hex).
    pub sha256: String,
}

impl Encoder {
    /// A freshly initialised encoder (orthogonal, gain sqrt 2, zero bias), drawn from
    /// libtorch's global generator (seed it with `tch::manual_seed`).
    pub fn new(
        spec: EncoderSpec,
        method: Method,
        game: Option<String>,
        device: Device,
    ) -> Result<Self, ModelError> {
        Self::with_init(spec, method, game, device, WeightInit::Orthogonal)
    }

    /// Like [`Encoder::new`] with the weights drawn from `seed` alone (see
    /// [`WeightInit::Seeded`]): the same weights on every device and in every process.
    pub fn new_seeded(
        spec: EncoderSpec,
        method: Method,
        game: Option<String>,
        device: Device,
        seed: u64,
    ) -> Result<Self, ModelError> {
        Self::with_init(spec, method, game, device, WeightInit::Seeded(seed))
    }

    fn with_init(
        spec: EncoderSpec,
        method: Method,
        game: Option<String>,
        device: Device,
        init: WeightInit,
    ) -> Result<Self, ModelError> {
        let mut vs = VarStore::new(device);
        let net = EncoderNet::with_init(&vs.root(), &spec, init)?;
        vs.freeze();
        let meta = EncoderMeta::new(&spec, method, game)?;
        Ok(Encoder {
            vs,
            net,
            meta,
            file: None,
        })
    }

    /// Loads an encoder onto the CPU; `path` is a run directory, a `*.safetensors` file or
    /// its `*.json` sidecar (see [`encoder_paths`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        Self::load_on(path, Device::Cpu)
    }

    /// Loads an encoder onto `device`.
    pub fn load_on(path: impl AsRef<Path>, device: Device) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let (weights, sidecar) = encoder_paths(path);
        // A path that does not exist is named itself, not as a missing encoder.json inside it
        // (unless its sidecar exists: the sidecar names the weights file).
        if let Err(source) = fs::metadata(path) {
            if !sidecar.is_file() {
                return Err(ModelError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        if path.is_file() && weights == path.join(ENCODER_WEIGHTS_FILE) {
            return Err(ModelError::NotAnEncoder {
                path: path.to_path_buf(),
            });
        }
        let text = fs::read(&sidecar).map_err(io_err(&sidecar))?;
        // Check the version before the rest of the schema, so old/new files get a clear error.
        let raw: serde_json::Value =
            serde_json::from_slice(&text).map_err(|source| ModelError::Sidecar {
                path: sidecar.clone(),
                source,
            })?;
        let version = raw
            .get("format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32;
        if version != ENCODER_FORMAT_VERSION {
            return Err(ModelError::FormatVersion {
                path: sidecar,
                found: version,
                supported: ENCODER_FORMAT_VERSION,
            });
        }
        let meta: EncoderMeta =
            serde_json::from_value(raw).map_err(|source| ModelError::Sidecar {
                path: sidecar.clone(),
                source,
            })?;
        let spec = meta.spec()?;
        let weights = match sidecar.parent() {
            Some(dir) if !meta.weights.is_empty() => dir.join(&meta.weights),
            _ => weights,
        };
        if !weights.exists() {
            return Err(ModelError::Io {
                path: weights,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "weights file not found"),
            });
        }
        let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(&weights)
            .map_err(|e| ModelError::WeightsMismatch {
                path: weights.clone(),
                reason: e.to_string(),
            })?
            .into_iter()
            .collect();
        let mut vs = VarStore::new(device);
        let net = EncoderNet::with_init(&vs.root(), &spec, WeightInit::Zeros)?;
        load_vars_exact(&vs, tensors, &weights)?;
        vs.freeze();
        let sha256 = dimua_core::fs::sha256_file(&weights)?;
        Ok(Encoder {
            vs,
            net,
            meta,
            file: Some(EncoderFile {
                path: weights,
                sha256,
            }),
        })
    }

    /// The weights file this encoder was loaded from (`None` when built in memory).
    pub fn file(&self) -> Option<&EncoderFile> {
        self.file.as_ref()
    }

    /// Saves to `path` (a directory or a `*.safetensors` file; see [`encoder_paths`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        export_encoder(&self.vs, &self.meta, path.as_ref()).map(|_| ())
    }

    /// Features of u8 frames `[B, H, W, C]` (or one frame `[H, W, C]`) on any device:
    /// `[B, d]` (or `[d]`) f32 on the encoder's device, computed under `no_grad`. The output
    /// is the argmax-membership head's coordinates (Eq. 2); with one head, that head.
    pub fn encode(&self, frames: &Tensor) -> Result<Tensor, ModelError> {
        let shape = self.frame_shape().dims();
        let size = frames.size();
        let single = size.len() == 3;
        if !(size.len() == 4 && size[1..] == shape || single && size[..] == shape) {
            return Err(ModelError::WrongShape {
                what: "frames",
                expected: format!(
                    "[B, {}, {}, {}] or [{0}, {1}, {2}]",
                    shape[0], shape[1], shape[2]
                ),
                got: size,
            });
        }
        if frames.kind() != Kind::Uint8 {
            return Err(ModelError::WrongDtype {
                what: "frames",
                expected: "u8",
                got: format!("{:?}", frames.kind()),
            });
        }
        tch::no_grad(|| {
            let x = frames
                .f_to_device(self.device())
                .ctx("moving frames to the encoder's device")?;
            let x = if single {
                x.f_unsqueeze(0).ctx("batching a single frame")?
            } else {
                x
            };
            let z = self.net.features(&x)?;
            if single {
                z.f_squeeze_dim(0).ctx("unbatching")
            } else {
                Ok(z)
            }
        })
    }

    /// The precision of [`Encoder::encode`]: fp32 (the default), or bf16 convolutions and
    /// matrix products (features are still returned in fp32). On a CPU without bf16
    /// instructions bf16 is emulated and slower than fp32 ([`crate::mixed::cpu_has_bf16`]).
    pub fn set_precision(&self, precision: Precision) {
        self.net.set_precision(precision);
    }

    /// The precision [`Encoder::encode`] computes in.
    pub fn precision(&self) -> Precision {
        self.net.precision()
    }

    /// Output dimension of [`Encoder::encode`] (`units`).
    pub fn feature_dim(&self) -> usize {
        self.meta.feature_dim
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Name of the device (`cpu`, `cuda:0`).
    pub fn device_name(&self) -> String {
        device_name(self.device())
    }

    /// The input frame shape.
    pub fn frame_shape(&self) -> FrameShape {
        self.net.spec().frame
    }

    /// The architecture.
    pub fn spec(&self) -> &EncoderSpec {
        self.net.spec()
    }

    /// The sidecar contents.
    pub fn meta(&self) -> &EncoderMeta {
        &self.meta
    }

    /// Sets the game recorded in the sidecar.
    pub fn set_game(&mut self, game: Option<String>) {
        self.meta.game = game;
    }

    /// The variables (`encoder.*`, `atlas.*`), frozen.
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    /// The network (trunk + atlas), for callers that want the local map or the membership.
    pub fn net(&self) -> &EncoderNet {
        &self.net
    }
}
