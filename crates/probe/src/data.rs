//! Probe inputs (`Split`, `ProbeData`) and their validation into device tensors.

use dimua_core::labels::{check_unique, LabelSpec};
use tch::{Device, Kind, Tensor};

use crate::error::{ProbeError, Result};
use crate::sampling::Sampling;

/// One split's precomputed inputs: features `[N, D]` (any float kind) and raw RAM-byte labels
/// `[N, K]` (u8 or any integer kind, values 0..=255), row `i` of both = frame `i`.
#[derive(Debug, Clone, Copy)]
pub struct Split<'a> {
    /// Encoder features `[N, D]`.
    pub features: &'a Tensor,
    /// Labels `[N, K]`.
    pub labels: &'a Tensor,
}

impl<'a> Split<'a> {
    /// Pairs a feature tensor with its label tensor.
    pub fn new(features: &'a Tensor, labels: &'a Tensor) -> Self {
        Split { features, labels }
    }
}

/// Everything the probes need: the three splits, the K label specs (column `j` of every label
/// tensor is `labels[j]`), and how train frames are sampled.
#[derive(Debug, Clone)]
pub struct ProbeData<'a> {
    /// Probe-train split (sampled with replacement).
    pub train: Split<'a>,
    /// Validation split (drives early stopping and LR decay): every frame once per epoch, or
    /// resampled batches with [`crate::ProbeConfig::val_resample`].
    pub val: Split<'a>,
    /// Test split (every frame scored exactly once, or resampled batches with
    /// [`crate::ProbeConfig::test_resample`]).
    pub test: Split<'a>,
    /// Names and categories of the K label columns.
    pub labels: &'a [LabelSpec],
    /// Train-frame sampling; `Sampling::Episodes` reproduces AtariARI's episode-uniform draw.
    pub sampling: Sampling,
    /// How validation frames are drawn when [`crate::ProbeConfig::val_resample`] is on
    /// (ignored otherwise); `Sampling::Episodes` with the val episode ids is the reference.
    pub val_sampling: Sampling,
    /// How test frames are drawn when [`crate::ProbeConfig::test_resample`] is on (ignored
    /// otherwise); `Sampling::Episodes` with the test episode ids is the reference.
    pub test_sampling: Sampling,
    /// Classes per probe: labels are `0..classes`. `None`: every RAM byte value, 256
    /// ([`crate::NUM_CLASSES`], AtariARI's `num_classes`). A classifier over `C` known classes
    /// (the image experiment's linear evaluation) passes `Some(C)` so no output is left
    /// untrained.
    pub classes: Option<usize>,
}

/// Validated inputs on one device: float features of one kind and i64 labels.
pub(crate) struct Prepared {
    pub(crate) device: Device,
    pub(crate) kind: Kind,
    pub(crate) d: usize,
    pub(crate) k: usize,
    /// Classes per probe.
    pub(crate) c: usize,
    pub(crate) train_x: Tensor,
    pub(crate) train_y: Tensor,
    pub(crate) val_x: Tensor,
    pub(crate) val_y: Tensor,
    pub(crate) test_x: Tensor,
    pub(crate) test_y: Tensor,
}

impl Prepared {
    /// Rows of the train split.
    pub(crate) fn n_train(&self) -> usize {
        self.train_x.size()[0] as usize
    }
}

fn bad(what: String, expected: &str, t: &Tensor) -> ProbeError {
    ProbeError::BadTensor {
        what,
        expected: expected.into(),
        shape: t.size(),
        kind: format!("{:?}", t.kind()),
    }
}

fn is_float(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
    )
}

fn is_int(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Uint8 | Kind::Int8 | Kind::Int16 | Kind::Int | Kind::Int64
    )
}

/// Checks shapes, kinds, K and D agreement and the label range; moves everything to the
/// device of the train features. Computation kind: Double for Double features, else Float.
pub(crate) fn prepare(data: &ProbeData<'_>) -> Result<Prepared> {
    let specs = data.labels;
    if specs.is_empty() {
        return Err(ProbeError::NoLabels {
            action: "probe".into(),
        });
    }
    check_unique(specs)?;
    let device = data.train.features.device();
    let kind = if data.train.features.kind() == Kind::Double {
        Kind::Double
    } else {
        Kind::Float
    };
    let c = data.classes.unwrap_or(crate::NUM_CLASSES as usize);
    if !(2..=crate::NUM_CLASSES as usize).contains(&c) {
        return Err(ProbeError::InvalidConfig {
            field: "classes".into(),
            reason: format!("is {c}: a probe needs 2 to 256 classes"),
        });
    }
    let (train_x, train_y, d) = prepare_split("train", data.train, specs, None, c, device, kind)?;
    let (val_x, val_y, _) = prepare_split("val", data.val, specs, Some(d), c, device, kind)?;
    let (test_x, test_y, _) = prepare_split("test", data.test, specs, Some(d), c, device, kind)?;
    Ok(Prepared {
        device,
        kind,
        d,
        k: specs.len(),
        c,
        train_x,
        train_y,
        val_x,
        val_y,
        test_x,
        test_y,
    })
}

/// Validates one split; returns (features, labels as i64, D) on `device`.
fn prepare_split(
    name: &str,
    split: Split<'_>,
    specs: &[LabelSpec],
    expected_d: Option<usize>,
    classes: usize,
    device: Device,
    kind: Kind,
) -> Result<(Tensor, Tensor, usize)> {
    let k = specs.len();
    let (x, y) = (split.features, split.labels);
    if x.dim() != 2 || !is_float(x.kind()) {
        return Err(bad(
            format!("{name} features"),
            "a 2-D float tensor [N, D]",
            x,
        ));
    }
    if y.dim() != 2 || !is_int(y.kind()) {
        return Err(bad(
            format!("{name} labels"),
            "a 2-D integer tensor [N, K]",
            y,
        ));
    }
    let (n, d) = (x.size()[0] as usize, x.size()[1] as usize);
    let (ny, ky) = (y.size()[0] as usize, y.size()[1] as usize);
    if n == 0 {
        return Err(ProbeError::EmptySplit { split: name.into() });
    }
    if ny != n {
        return Err(ProbeError::RowCountMismatch {
            split: name.into(),
            features: n,
            labels: ny,
        });
    }
    if ky != k {
        return Err(ProbeError::LabelCountMismatch {
            split: name.into(),
            expected: k,
            found: ky,
        });
    }
    if let Some(expected) = expected_d {
        if d != expected {
            return Err(ProbeError::FeatureDimMismatch {
                split: name.into(),
                expected,
                found: d,
            });
        }
    }
    if d == 0 {
        return Err(bad(format!("{name} features"), "D > 0", x));
    }
    let y = y
        .f_to_kind(Kind::Int64)?
        .f_to_device(device)?
        .f_contiguous()?;
    let out_of_range = y.f_lt(0)?.f_logical_or(&y.f_gt(classes as i64 - 1)?)?;
    let cols = Vec::<bool>::try_from(&out_of_range.f_any_dim(0, false)?)?;
    if let Some(j) = cols.iter().position(|&b| b) {
        let rows = Vec::<bool>::try_from(&out_of_range.f_select(1, j as i64)?)?;
        let row = rows.iter().position(|&b| b).unwrap_or(0);
        return Err(ProbeError::LabelOutOfRange {
            split: name.into(),
            label: specs[j].name.clone(),
            value: y.f_int64_value(&[row as i64, j as i64])?,
        });
    }
    let x = x
        .f_detach()?
        .f_to_device(device)?
        .f_to_kind(kind)?
        .f_contiguous()?;
    Ok((x, y, d))
}

/// Per-dimension z-scores of the three splits with the train split's statistics
/// (`(x - mean_train) / (std_train + 1e-6)`): the same linear probes can express the same
/// functions, but Adam at the probes' small learning rate no longer has to grow huge weights
/// for features that vary little between inputs (or shrink them for huge ones).
pub fn standardize_splits(train: &Tensor, val: &Tensor, test: &Tensor) -> Result<[Tensor; 3]> {
    let mean = train.f_mean_dim(0, true, Kind::Float)?;
    let std = train.f_std_dim(0, false, true)?.f_add_scalar(1e-6)?;
    let z = |x: &Tensor| -> Result<Tensor> { Ok(x.f_sub(&mean)?.f_div(&std)?) };
    Ok([z(train)?, z(val)?, z(test)?])
}
