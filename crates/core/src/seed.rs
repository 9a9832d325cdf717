//! SplitMix64 and the seed derivations built from it: one mixer, so every crate derives
//! independent streams the same way.
//!
//! Each function reproduces, bit for bit, the helper it replaced (the values are pinned
//! by the tests below): changing one changes every seeded run.

/// SplitMix64's increment (the golden-ratio "gamma"): also the multiplier of the first
/// derivation index.
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Multiplier of the second derivation index (an odd constant from the SplitMix family).
const SECOND_MULTIPLIER: u64 = 0xD1B5_4A32_D192_ED03;

/// SplitMix64's output function (Stafford's "mix13" finaliser): a bijection of `u64`
/// that spreads every input bit over the whole word.
pub fn mix64(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One SplitMix64 step from state `x`: `mix64(x + GOLDEN_GAMMA)`. Iterating
/// `x = splitmix64(x)` is a cheap pseudo-random stream (the ALE seed and test data use it).
pub fn splitmix64(x: u64) -> u64 {
    mix64(x.wrapping_add(GOLDEN_GAMMA))
}

/// An independent seed for stream `(a, b)` of the master `seed`:
/// `mix64(seed ^ a·GOLDEN_GAMMA ^ b·0xD1B5…ED03)`. The trainer's streams use it directly
/// (`a` = purpose, `b` = step or epoch); note that `(seed, 0, 0)` maps to `mix64(seed)`.
pub fn derive_seed(seed: u64, a: u64, b: u64) -> u64 {
    mix64(seed ^ a.wrapping_mul(GOLDEN_GAMMA) ^ b.wrapping_mul(SECOND_MULTIPLIER))
}

/// The seed of env stream `stream` for `purpose` (collection): [`derive_seed`] with
/// `a = stream + 1`, so stream 0 differs from the trainer's `a = 0` streams.
pub fn stream_seed(seed: u64, stream: u32, purpose: u64) -> u64 {
    derive_seed(seed, u64::from(stream) + 1, purpose)
}

/// An independent seed per name (a network variable, a prior): [`mix64`] of `seed`, the
/// 64-bit FNV-1a hash of `name` rotated left by 17, and [`GOLDEN_GAMMA`].
pub fn named_seed(seed: u64, name: &str) -> u64 {
    mix64(seed ^ fnv1a64(name.as_bytes()).rotate_left(17) ^ GOLDEN_GAMMA)
}

/// 64-bit FNV-1a of `bytes` (seed names; digests of data that must match bit for bit, such
/// as the step trace's batches).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expected values were computed with the helpers these functions replaced
    // (model `init::derive_seed`, collect `derive_seed`, train `trainer::mix`, atari
    // `env::splitmix64`), before they were removed.

    #[test]
    fn named_seed_matches_the_old_model_derive_seed() {
        assert_eq!(named_seed(0, "anchor"), 0xf611_e1f5_a3f9_a3a2);
        assert_eq!(named_seed(42, "target"), 0x7c1f_2dfb_9a9f_3ee4);
        assert_eq!(named_seed(u64::MAX, ""), 0xf541_914a_042c_4df8);
        assert_eq!(named_seed(7, "encoder.conv1.weight"), 0x229f_5dbb_5b9e_de7f);
    }

    #[test]
    fn stream_seed_matches_the_old_collect_derive_seed() {
        assert_eq!(stream_seed(0, 0, 0x656e_7669), 0xd272_f750_8b96_e6fe);
        assert_eq!(stream_seed(1234, 3, 0x6163_7473), 0x69ca_1e44_cae0_5d6c);
        assert_eq!(
            stream_seed(u64::MAX, u32::MAX, 0x6261_7265),
            0xbfa0_d961_e506_d56d
        );
    }

    #[test]
    fn derive_seed_matches_the_old_trainer_mix() {
        assert_eq!(derive_seed(0, 0, 0), 0);
        assert_eq!(derive_seed(1, 1, 0), 0xe4d9_7177_1b65_2c20);
        assert_eq!(derive_seed(42, 3, 1000), 0xc043_bec4_ba6c_7922);
        assert_eq!(derive_seed(u64::MAX, 4, u64::MAX), 0xa0b3_5fa4_4042_3c60);
    }

    #[test]
    fn splitmix64_matches_the_old_atari_splitmix64() {
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(1), 0x910a_2dec_8902_5cc1);
        assert_eq!(splitmix64(42), 0xbdd7_3226_2feb_6e95);
        assert_eq!(splitmix64(u64::MAX), 0xe4d9_7177_1b65_2c20);
    }
}
