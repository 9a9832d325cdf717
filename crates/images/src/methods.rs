//! The image methods: `simclr`, `msimclr` and `simclr-ua`, each one [`ImageMethod`] constant
//! plus one line in [`IMAGE_METHODS`]. A method says how the contrastive target is formed
//! from the atlas, which extra losses it adds, and its default head layout switches.

use dimua_model::GlobalTarget;

/// What distinguishes one image method from another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageMethod {
    /// Command-line and config name.
    pub name: &'static str,
    /// Whether it has an atlas (more than one head allowed).
    pub atlas: bool,
    /// How the NT-Xent embedding is formed from the heads (with one head: that head).
    pub target: GlobalTarget,
    /// `+ tau * L_Q` (the unbalanced atlas' membership loss, pushing q away from uniform).
    pub membership_loss: bool,
    /// `+ MMD` of the q-weighted chart coordinates to a logit-uniform prior (MSimCLR).
    pub mmd: bool,
    /// Default of `[model] fc1`: a `Linear(F, F) + ReLU` between backbone and charts.
    pub fc1: bool,
    /// Default of `[model] clamp`: chart coordinates clamped to `(-10, 10)`.
    pub clamp: bool,
    /// Default of `[model] fc2`: a `Linear(d, d) + ReLU + Linear(d, d)` projection after the
    /// chart maps (on the combined target).
    pub fc2: bool,
    /// One line for docs and `--help`.
    pub summary: &'static str,
}

/// SimCLR (Chen et al. 2020): backbone -> `Linear(F, F)` -> ReLU -> `Linear(F, d)` (the
/// projection MLP, here "FC1" and a single chart), NT-Xent.
pub const SIMCLR: ImageMethod = ImageMethod {
    name: "simclr",
    atlas: false,
    target: GlobalTarget::Weighted,
    membership_loss: false,
    mmd: false,
    fc1: true,
    clamp: false,
    fc2: false,
    summary: "SimCLR: one projection head, NT-Xent (temperature 0.5)",
};

/// MSimCLR (Korman 2021): SimCLR's projection trunk, `n` charts with a softmax membership,
/// NT-Xent on the q-weighted output (Eq. 1), `+ MMD` to a logit-uniform prior with a uniform
/// prior over charts.
pub const MSIMCLR: ImageMethod = ImageMethod {
    name: "msimclr",
    atlas: true,
    target: GlobalTarget::Weighted,
    membership_loss: false,
    mmd: true,
    fc1: true,
    clamp: false,
    fc2: false,
    summary: "MSimCLR: n charts, q-weighted output, + MMD to a uniform prior",
};

/// SimCLR-UA (the paper, section 5.2 and appendix B): `n` charts on the backbone, clamped to
/// (-10, 10), the dilated target (mean of the heads, Eq. 7) through FC2, NT-Xent,
/// `+ tau * L_Q` (tau 0.1, optionally scaled linearly from 0).
pub const SIMCLR_UA: ImageMethod = ImageMethod {
    name: "simclr-ua",
    atlas: true,
    target: GlobalTarget::Dilated,
    membership_loss: true,
    mmd: false,
    fc1: false,
    clamp: true,
    fc2: true,
    summary: "SimCLR-UA: n charts, dilated target + FC2, + tau * L_Q (unbalanced atlas)",
};

/// Every image method, in the paper's Table 2 order.
pub const IMAGE_METHODS: &[ImageMethod] = &[SIMCLR, MSIMCLR, SIMCLR_UA];

/// The method called `name` (case-insensitive, `_` for `-`), or the list of known names.
pub fn find_method(name: &str) -> Result<ImageMethod, String> {
    let norm = name.trim().to_ascii_lowercase().replace('_', "-");
    IMAGE_METHODS
        .iter()
        .copied()
        .find(|m| m.name == norm)
        .ok_or_else(|| {
            format!(
                "unknown image method {name:?}: use one of {}",
                IMAGE_METHODS
                    .iter()
                    .map(|m| m.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}
