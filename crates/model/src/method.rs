//! The pretraining methods the paper compares (`st-dim`, `dim-ua`, `minus-ua`, `plus-mmd`,
//! `random-cnn`) and what each one changes in the model and the loss.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// A representation-learning method (METHOD.md, "Variants the paper compares").
///
/// | method | heads | global vector of the anchor frame | extra loss |
/// | --- | --- | --- | --- |
/// | `st-dim` | 1 (any `d`; `d = n*d` is ST-DIM*) | the single head | none |
/// | `dim-ua` | n | mean of the heads (dilated target, Eq. 7) | `+ tau * L_Q` |
/// | `minus-ua` | n | q-weighted sum of the heads (Eq. 1) | `+ tau * L_Q` |
/// | `plus-mmd` | n | q-weighted sum of the heads (Eq. 1) | `+ tau * L_Q + MMD` |
/// | `random-cnn` | n | (no training: the initialised encoder) | none |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Method {
    /// ST-DIM (Anand et al. 2019): one head, global-local + local-local InfoNCE.
    StDim,
    /// DIM-UA: n heads, dilated (mean-of-heads) global target, `+ tau * L_Q`.
    DimUa,
    /// The "-UA" ablation: q-weighted global target (not dilated), `+ tau * L_Q`.
    MinusUa,
    /// The "+MMD" (MSimCLR-style) variant: q-weighted target, `+ tau * L_Q + MMD` to a
    /// logit-uniform prior.
    PlusMmd,
    /// No training: the orthogonally initialised encoder is saved as-is.
    RandomCnn,
}

/// How the global vector of the anchor frame is formed from the atlas during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalTarget {
    /// The mean of all heads' coordinates (DIM-UA's dilated prediction target, Eq. 7).
    /// With one head this is that head.
    Dilated,
    /// `sum_i q_i psi_i` with the soft membership q (Eq. 1). With one head this is that head.
    Weighted,
}

impl Method {
    /// Every method, in the order the paper's tables list them.
    pub const ALL: [Method; 5] = [
        Method::StDim,
        Method::DimUa,
        Method::MinusUa,
        Method::PlusMmd,
        Method::RandomCnn,
    ];

    /// The canonical command-line name (`st-dim`, `dim-ua`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Method::StDim => "st-dim",
            Method::DimUa => "dim-ua",
            Method::MinusUa => "minus-ua",
            Method::PlusMmd => "plus-mmd",
            Method::RandomCnn => "random-cnn",
        }
    }

    /// Whether the method has a pretraining phase (all but `random-cnn`).
    pub fn trains(self) -> bool {
        self != Method::RandomCnn
    }

    /// The training-time global vector of the anchor frame.
    pub fn global_target(self) -> GlobalTarget {
        match self {
            Method::DimUa => GlobalTarget::Dilated,
            // st-dim has one head, where both rules give that head; random-cnn never trains.
            Method::StDim | Method::MinusUa | Method::PlusMmd | Method::RandomCnn => {
                GlobalTarget::Weighted
            }
        }
    }

    /// Whether `tau * L_Q` (push membership away from uniform) is part of the loss
    /// (only has an effect with more than one head).
    pub fn uses_membership_loss(self) -> bool {
        matches!(self, Method::DimUa | Method::MinusUa | Method::PlusMmd)
    }

    /// Whether the MSimCLR-style MMD to a logit-uniform prior is part of the loss.
    pub fn uses_mmd(self) -> bool {
        self == Method::PlusMmd
    }

    /// Checks that the method can run with `heads` heads of `units` units.
    ///
    /// Zero heads or units are always rejected; `st-dim` needs exactly one head (use
    /// `--units` for ST-DIM*, e.g. 16384).
    pub fn validate_architecture(self, heads: usize, units: usize) -> Result<(), ModelError> {
        if heads == 0 {
            return Err(ModelError::ZeroHeads);
        }
        if units == 0 {
            return Err(ModelError::ZeroUnits);
        }
        if self == Method::StDim && heads != 1 {
            return Err(ModelError::UnsupportedArchitecture {
                method: self.name().to_string(),
                what: format!(
                    "{heads} heads (ST-DIM has one head; for ST-DIM* use --heads 1 --units {})",
                    heads * units
                ),
            });
        }
        Ok(())
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = ModelError;

    /// Parses a method name; case, `_` vs `-`, and the reference's aliases (`stdim`,
    /// `infonce-stdim`, `dimua`, `-ua`, `+mmd`, `random`) are accepted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        let method = match norm.as_str() {
            "st-dim" | "stdim" | "infonce-stdim" => Method::StDim,
            "dim-ua" | "dimua" | "ua" => Method::DimUa,
            "minus-ua" | "-ua" | "no-ua" => Method::MinusUa,
            "plus-mmd" | "+mmd" | "mmd" => Method::PlusMmd,
            "random-cnn" | "random" | "randomcnn" => Method::RandomCnn,
            _ => {
                return Err(ModelError::UnknownMethod {
                    name: s.to_string(),
                    known: Method::ALL.map(Method::name).join(", "),
                })
            }
        };
        Ok(method)
    }
}

impl TryFrom<String> for Method {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
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
        for m in Method::ALL {
            assert_eq!(m.to_string().parse::<Method>().unwrap(), m);
        }
        assert_eq!("ST_DIM".parse::<Method>().unwrap(), Method::StDim);
        assert!(matches!(
            "vae".parse::<Method>(),
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
}
