//! The figures: one module per plot, each turning parsed data into a [`crate::figure::Figure`]
//! (or `None` when its data are absent).

pub(crate) mod entropy;
pub(crate) mod entropy_runs;
pub(crate) mod head_share;
pub(crate) mod losses;
pub(crate) mod probe_f1;
pub(crate) mod returns;
pub(crate) mod units;

/// `(lo, hi)` of a stream of numbers; `None` when it is empty.
pub(crate) fn min_max(xs: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    xs.fold(None, |acc, x| match acc {
        None => Some((x, x)),
        Some((lo, hi)) => Some((f64::min(lo, x), f64::max(hi, x))),
    })
}
