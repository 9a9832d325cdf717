//! The arithmetic precision of a training or encoding pass (`fp32`, or `bf16` with fp32
//! master weights), its parsing, and whether this CPU has bf16 instructions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The precision of the heavy arithmetic of a pass over the encoder.
///
/// `Bf16` follows PyTorch autocast's rules, applied explicitly: convolutions and matrix
/// products run in bfloat16; softmax, cross-entropy, reductions, the membership term and the
/// MMD run in fp32; weights and the optimiser's state stay fp32 (the casts are part of the
/// graph, so gradients reach the fp32 master weights). Features handed to callers are fp32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in fp32 (the default, bit-identical to dimua before bf16 existed).
    #[default]
    Fp32,
    /// bfloat16 convolutions and matrix products, fp32 master weights and reductions.
    Bf16,
}

impl Precision {
    /// `"fp32"` or `"bf16"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A precision name that is neither `fp32` nor `bf16`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown precision {0:?}: use \"fp32\" (the default) or \"bf16\" (bfloat16 convolutions and matrix products, fp32 master weights)")]
pub struct UnknownPrecision(pub String);

impl FromStr for Precision {
    type Err = UnknownPrecision;

    /// Accepts `fp32` / `float32` / `f32` and `bf16` / `bfloat16` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fp32" | "float32" | "f32" => Ok(Precision::Fp32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(UnknownPrecision(s.to_string())),
        }
    }
}

/// Whether this CPU has native bfloat16 arithmetic: `Some(true)` with x86's `avx512_bf16` or
/// `amx_bf16`, or aarch64's `bf16`; `Some(false)` without; `None` where it cannot be told
/// (no `/proc/cpuinfo`). Without it, libtorch emulates bf16 and is slower than fp32.
pub fn cpu_has_bf16() -> Option<bool> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    Some(cpuinfo_has_bf16(&text))
}

/// [`cpu_has_bf16`] on the text of a `/proc/cpuinfo`.
pub fn cpuinfo_has_bf16(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            let key = key.trim();
            (key == "flags" || key == "Features").then_some(value)
        })
        .any(|flags| {
            flags
                .split_whitespace()
                .any(|f| matches!(f, "avx512_bf16" | "amx_bf16" | "bf16"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_names_and_rejects_others_naming_the_choices() {
        assert_eq!("fp32".parse::<Precision>().unwrap(), Precision::Fp32);
        assert_eq!("BF16".parse::<Precision>().unwrap(), Precision::Bf16);
        assert_eq!("bfloat16".parse::<Precision>().unwrap(), Precision::Bf16);
        let err = "fp16".parse::<Precision>().unwrap_err().to_string();
        assert!(err.contains("\"fp16\"") && err.contains("bf16") && err.contains("fp32"));
        assert_eq!(Precision::default(), Precision::Fp32);
        assert_eq!(Precision::Bf16.to_string(), "bf16");
    }

    #[test]
    fn serde_uses_the_lowercase_names() {
        let json = serde_json::to_string(&Precision::Bf16).unwrap();
        assert_eq!(json, "\"bf16\"");
        let p: Precision = serde_json::from_str("\"fp32\"").unwrap();
        assert_eq!(p, Precision::Fp32);
        assert!(serde_json::from_str::<Precision>("\"half\"").is_err());
    }

    #[test]
    fn bf16_flags_are_found_in_x86_and_arm_cpuinfo() {
        let zen4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n";
        let skylake = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n";
        let spr = "flags\t\t: avx512f amx_bf16 amx_tile\n";
        let neoverse = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n";
        let graviton2 = "processor\t: 0\nFeatures\t: fp asimd atomics\n";
        assert!(cpuinfo_has_bf16(zen4));
        assert!(!cpuinfo_has_bf16(skylake));
        assert!(cpuinfo_has_bf16(spr));
        assert!(cpuinfo_has_bf16(neoverse));
        assert!(!cpuinfo_has_bf16(graviton2));
        assert!(!cpuinfo_has_bf16("model name : avx512_bf16 in a name\n"));
    }
}
