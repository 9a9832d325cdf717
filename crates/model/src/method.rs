//! The method seam: what a pretraining method is ([`MethodDef`]: its name, the batch it
//! needs, its default architecture, its named loss terms, and the [`Objective`] it builds),
//! the copyable handle [`Method`] the rest of dimua passes around, and the registry that
//! maps names to methods (the built-ins of [`crate::methods`] plus any registered at run
//! time with [`register_method`]).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::{OnceLock, RwLock};

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::error::ModelError;
use crate::init::WeightInit;
use crate::net::EncoderNet;
use crate::spec::EncoderSpec;

/// What one training batch of a method holds. The trainer samples it from the frame store
/// and hands the objective one `u8` tensor `[k * B, H, W, C]` laid out **position-major**:
/// rows `i * B .. (i + 1) * B` are the `i`-th frame of each of the `B` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// `B` pairs of temporally adjacent frames `(x_t, x_t+1)` of one episode (`k = 2`).
    Pairs,
    /// `B` runs of `len` consecutive frames of one episode (`k = len`, `len >= 2`).
    Sequences {
        /// Frames per sequence.
        len: usize,
    },
    /// `B` single frames (`k = 1`).
    Frames,
    /// `B` single frames with their RAM label bytes (`k = 1`; the labels arrive in
    /// [`Batch::labels`] as `u8 [B, label_bytes]`).
    LabelledFrames,
}

impl BatchKind {
    /// Frames per sample (`k`).
    pub fn frames_per_sample(self) -> usize {
        match self {
            BatchKind::Pairs => 2,
            BatchKind::Sequences { len } => len,
            BatchKind::Frames | BatchKind::LabelledFrames => 1,
        }
    }
}

/// One batch as an objective receives it.
#[derive(Debug)]
pub struct Batch<'a> {
    /// `u8 [k * B, H, W, C]`, position-major (see [`BatchKind`]), on the model's device.
    pub frames: &'a Tensor,
    /// `B`: samples in the batch.
    pub samples: usize,
    /// `u8 [B, label_bytes]` for [`BatchKind::LabelledFrames`], else `None`.
    pub labels: Option<&'a Tensor>,
}

impl<'a> Batch<'a> {
    /// A batch without labels: `frames` holds `k * samples` rows.
    pub fn unlabelled(frames: &'a Tensor, samples: usize) -> Self {
        Batch {
            frames,
            samples,
            labels: None,
        }
    }
}

/// Per-step inputs of a loss besides the batch.
#[derive(Debug, Clone, Copy)]
pub struct LossInputs {
    /// The current weight of the membership loss (`tau`, after warm-up).
    pub tau: f64,
    /// The weight of a VAE's KL term (`[train] vae_beta`; 1 as the reference).
    pub vae_beta: f64,
    /// Seed of the step's random draws (each objective derives its own streams from it).
    pub seed: u64,
    /// A training step (`false`: a validation pass, where e.g. a VAE uses the posterior
    /// mean instead of a sample).
    pub training: bool,
}

/// The loss of one batch as named terms. `terms[0]` is `("total", ..)`, the scalar that is
/// minimised; the others are reported. The names and their order are the method's
/// [`MethodDef::loss_terms`].
#[derive(Debug)]
pub struct Losses {
    /// `(name, scalar tensor)` in the method's declared order; the first is the total.
    pub terms: Vec<(&'static str, Tensor)>,
    /// Detached membership `[rows, heads]` of the frames the loss saw, for atlas statistics
    /// (membership entropy, head share); `None` when the model has one head.
    pub membership_q: Option<Tensor>,
}

impl Losses {
    /// The total (the first term).
    pub fn total(&self) -> &Tensor {
        &self.terms[0].1
    }

    /// The term called `name`, if the method has one.
    pub fn term(&self, name: &str) -> Option<&Tensor> {
        self.terms.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
    }

    /// All terms as one detached `[n]` tensor, for a single device-to-host copy.
    pub fn stacked(&self) -> Result<Tensor, ModelError> {
        let refs: Vec<&Tensor> = self.terms.iter().map(|(_, t)| t).collect();
        Tensor::f_stack(&refs, 0)
            .and_then(|t| t.f_detach())
            .map_err(|source| ModelError::Torch {
                context: "collecting loss terms",
                source,
            })
    }
}

/// A method's trainable model: the exported encoder ([`EncoderNet`], variables under
/// `encoder/` and `atlas/`) plus whatever the method trains only during pretraining (under
/// a root of its own, e.g. `stdim/`), and its loss.
pub trait Objective: fmt::Debug + Send {
    /// The part that is exported as the encoder.
    fn net(&self) -> &EncoderNet;

    /// The loss of one batch of the method's [`BatchKind`]; must check the batch's shape.
    fn loss(&self, batch: &Batch<'_>, inputs: LossInputs) -> Result<Losses, ModelError>;
}

/// A pretraining method: everything dimua needs to know about it. Implement it on a unit
/// struct in a file of its own and add one line to [`crate::methods::BUILTIN`] (or call
/// [`register_method`] at run time, e.g. from a test).
pub trait MethodDef: Send + Sync + 'static {
    /// The canonical command-line name (`st-dim`, `dim-ua`, ...); lower case, `-`.
    fn name(&self) -> &'static str;

    /// Other accepted spellings (matched after lower-casing and `_` -> `-`).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether the method has a pretraining phase (`false`: the initialised encoder is
    /// saved as-is, and [`MethodDef::build`] is only used for its initial weights).
    fn trains(&self) -> bool {
        true
    }

    /// The batch the method's loss needs.
    fn batch(&self) -> BatchKind;

    /// `(heads, units per head)` when a config gives none.
    fn default_architecture(&self) -> (usize, usize);

    /// Checks that the method can run with `heads` heads of `units` units (zero heads or
    /// units are rejected before this is called).
    fn check_architecture(&self, heads: usize, units: usize) -> Result<(), ModelError> {
        let _ = (heads, units);
        Ok(())
    }

    /// The names of the loss terms its [`Objective::loss`] returns, in order; the first must
    /// be `"total"`. They become `metrics.jsonl` keys (`loss/train_<name>`).
    fn loss_terms(&self) -> &'static [&'static str];

    /// Creates the method's variables under `root` (encoder under `root/encoder`,
    /// `root/atlas` via [`EncoderNet::with_init`]) and returns its objective.
    fn build(
        &self,
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
    ) -> Result<Box<dyn Objective>, ModelError>;

    /// The prefix (e.g. `"supervised."`) of pretraining-only variables that are exported
    /// beside the encoder (`heads.safetensors`, from the same epoch as the encoder): heads
    /// whose own predictions are worth scoring. `None` (the default): nothing beside it.
    fn exported_heads(&self) -> Option<&'static str> {
        None
    }

    /// [`MethodDef::build`] for a frame store whose frames carry `label_bytes` RAM labels
    /// (the game's AtariARI annotations, in [`Batch::labels`] order). Methods that learn from
    /// the labels ([`BatchKind::LabelledFrames`]) override it to size their heads; the
    /// default ignores the count.
    fn build_for_labels(
        &self,
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
        label_bytes: usize,
    ) -> Result<Box<dyn Objective>, ModelError> {
        let _ = label_bytes;
        self.build(root, spec, init)
    }
}

/// A registered method: a cheap, copyable handle on its [`MethodDef`]. Compares, hashes,
/// prints and serialises by name.
#[derive(Clone, Copy)]
pub struct Method(&'static dyn MethodDef);

#[allow(non_upper_case_globals)]
impl Method {
    /// ST-DIM (Anand et al. 2019): one head, global-local + local-local InfoNCE.
    pub const StDim: Method = Method(&crate::methods::spatiotemporal::ST_DIM);
    /// DIM-UA: n heads, dilated (mean-of-heads) global target, `+ tau * L_Q`.
    pub const DimUa: Method = Method(&crate::methods::spatiotemporal::DIM_UA);
    /// The "-UA" ablation: q-weighted global target (not dilated), `+ tau * L_Q`.
    pub const MinusUa: Method = Method(&crate::methods::spatiotemporal::MINUS_UA);
    /// The "+MMD" (MSimCLR-style) variant: q-weighted target, `+ tau * L_Q + MMD` to a
    /// logit-uniform prior.
    pub const PlusMmd: Method = Method(&crate::methods::spatiotemporal::PLUS_MMD);
    /// No training: the orthogonally initialised encoder is saved as-is.
    pub const RandomCnn: Method = Method(&crate::methods::random_cnn::RandomCnn);

    /// Every registered method: the built-ins in the order the paper's tables list them,
    /// then those registered at run time.
    pub fn all() -> Vec<Method> {
        registry()
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|d| Method(*d))
            .collect()
    }

    /// The method's definition.
    pub fn def(self) -> &'static dyn MethodDef {
        self.0
    }

    /// The canonical command-line name (`st-dim`, `dim-ua`, ...).
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// Whether the method has a pretraining phase (all built-ins but `random-cnn`).
    pub fn trains(self) -> bool {
        self.0.trains()
    }

    /// The batch the method needs.
    pub fn batch(self) -> BatchKind {
        self.0.batch()
    }

    /// The names of its loss terms (the first is `"total"`).
    pub fn loss_terms(self) -> &'static [&'static str] {
        self.0.loss_terms()
    }

    /// `(heads, units per head)` when a config gives none.
    pub fn default_architecture(self) -> (usize, usize) {
        self.0.default_architecture()
    }

    /// Checks that the method can run with `heads` heads of `units` units.
    ///
    /// Zero heads or units are always rejected; then the method's own rule applies
    /// (`st-dim` needs exactly one head: use `--units` for ST-DIM*, e.g. 16384).
    pub fn validate_architecture(self, heads: usize, units: usize) -> Result<(), ModelError> {
        if heads == 0 {
            return Err(ModelError::ZeroHeads);
        }
        if units == 0 {
            return Err(ModelError::ZeroUnits);
        }
        self.0.check_architecture(heads, units)
    }

    /// Builds the method's objective after validating the architecture.
    pub fn build(
        self,
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
    ) -> Result<Box<dyn Objective>, ModelError> {
        self.validate_architecture(spec.heads, spec.units)?;
        self.0.build(root, spec, init)
    }

    /// See [`MethodDef::exported_heads`].
    pub fn exported_heads(self) -> Option<&'static str> {
        self.0.exported_heads()
    }

    /// Builds the method's objective for frames with `label_bytes` RAM labels (see
    /// [`MethodDef::build_for_labels`]) after validating the architecture.
    pub fn build_for_labels(
        self,
        root: &nn::Path,
        spec: &EncoderSpec,
        init: WeightInit,
        label_bytes: usize,
    ) -> Result<Box<dyn Objective>, ModelError> {
        self.validate_architecture(spec.heads, spec.units)?;
        self.0.build_for_labels(root, spec, init, label_bytes)
    }
}

fn registry() -> &'static RwLock<Vec<&'static dyn MethodDef>> {
    static REGISTRY: OnceLock<RwLock<Vec<&'static dyn MethodDef>>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(crate::methods::BUILTIN.to_vec()))
}

fn normalise(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// Registers a method defined outside this crate (a plugin, a test) so that names, configs
/// and the trainer accept it. Registering the same definition twice is a no-op; another
/// method with a name or alias already taken is refused.
pub fn register_method(def: &'static dyn MethodDef) -> Result<Method, ModelError> {
    let mut reg = registry().write().unwrap_or_else(|e| e.into_inner());
    let new_names: Vec<String> = std::iter::once(def.name())
        .chain(def.aliases().iter().copied())
        .map(normalise)
        .collect();
    for d in reg.iter() {
        if d.name() == def.name() && d.loss_terms() == def.loss_terms() {
            return Ok(Method(*d));
        }
        let taken = std::iter::once(d.name())
            .chain(d.aliases().iter().copied())
            .map(normalise)
            .find(|n| new_names.contains(n));
        if let Some(name) = taken {
            return Err(ModelError::MethodNameTaken { name });
        }
    }
    if def.loss_terms().first() != Some(&"total") {
        return Err(ModelError::UnsupportedArchitecture {
            method: def.name().to_string(),
            what: "loss terms that do not start with \"total\"".into(),
        });
    }
    reg.push(def);
    Ok(Method(def))
}

impl PartialEq for Method {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Method {}

impl Hash for Method {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Method({})", self.name())
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = ModelError;

    /// Parses a method name; case, `_` vs `-`, and each method's aliases (the reference's
    /// `stdim`, `infonce-stdim`, `dimua`, `-ua`, `+mmd`, `random`, ...) are accepted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = normalise(s);
        let reg = registry().read().unwrap_or_else(|e| e.into_inner());
        reg.iter()
            .find(|d| {
                std::iter::once(d.name())
                    .chain(d.aliases().iter().copied())
                    .any(|n| normalise(n) == norm)
            })
            .map(|d| Method(*d))
            .ok_or_else(|| ModelError::UnknownMethod {
                name: s.to_string(),
                known: reg.iter().map(|d| d.name()).collect::<Vec<_>>().join(", "),
            })
    }
}

impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl From<Method> for String {
    fn from(m: Method) -> String {
        m.name().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Method::all() {
            assert_eq!(m.to_string().parse::<Method>().unwrap(), m);
        }
        assert_eq!("ST_DIM".parse::<Method>().unwrap(), Method::StDim);
        assert_eq!("+mmd".parse::<Method>().unwrap(), Method::PlusMmd);
        assert!(matches!(
            "no-such-method".parse::<Method>(),
            Err(ModelError::UnknownMethod { .. })
        ));
    }

    #[test]
    fn zero_heads_or_units_are_errors() {
        assert!(matches!(
            Method::DimUa.validate_architecture(0, 512),
            Err(ModelError::ZeroHeads)
        ));
        assert!(matches!(
            Method::DimUa.validate_architecture(4, 0),
            Err(ModelError::ZeroUnits)
        ));
        assert!(matches!(
            Method::StDim.validate_architecture(4, 512),
            Err(ModelError::UnsupportedArchitecture { .. })
        ));
        Method::StDim.validate_architecture(1, 16384).unwrap();
    }

    #[test]
    fn builtins_declare_total_first() {
        for m in Method::all() {
            assert_eq!(m.loss_terms()[0], "total", "{m}");
        }
    }

    #[test]
    fn a_taken_name_is_refused() {
        #[derive(Debug)]
        struct Clash;
        impl MethodDef for Clash {
            fn name(&self) -> &'static str {
                "clash"
            }
            fn aliases(&self) -> &'static [&'static str] {
                &["stdim"]
            }
            fn batch(&self) -> BatchKind {
                BatchKind::Frames
            }
            fn default_architecture(&self) -> (usize, usize) {
                (1, 8)
            }
            fn loss_terms(&self) -> &'static [&'static str] {
                &["total"]
            }
            fn build(
                &self,
                _: &nn::Path,
                _: &EncoderSpec,
                _: WeightInit,
            ) -> Result<Box<dyn Objective>, ModelError> {
                unreachable!("never built")
            }
        }
        assert!(matches!(
            register_method(&Clash),
            Err(ModelError::MethodNameTaken { .. })
        ));
    }
}
