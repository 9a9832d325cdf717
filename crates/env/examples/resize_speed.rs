//! Times the DQN observation kernels alone: the 210x160 -> 84x84 area resize and the
//! max-of-two-frames gray, on fixed pseudo-random screens. `DIMUA_SIMD=off` times the
//! portable paths (the same bytes). Prints one JSON line.
//!
//! ```text
//! cargo run --release -p dimua-env --example resize_speed
//! DIMUA_SIMD=off cargo run --release -p dimua-env --example resize_speed
//! ```

use std::time::Instant;

use dimua_env::AreaResize;

fn main() {
    let reps = 20_000;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Even palette indices, as ALE screens hold.
                (state >> 24) as u8 & 0xfe
            })
            .collect()
    };
    let (a, b) = (noise(210 * 160), noise(210 * 160));
    let mut gray = vec![0u8; 210 * 160];
    let mut out = vec![0u8; 84 * 84];
    let mut resize = AreaResize::new((210, 160), (84, 84), 1).expect("valid sizes");
    let mut check = 0u64;
    let start = Instant::now();
    for _ in 0..reps {
        dimua_atari::frame::max_gray(
            dimua_atari::Palette::Ntsc,
            dimua_atari::Gray::Ale,
            &a,
            &b,
            &mut gray,
        );
    }
    let gray_us = start.elapsed().as_secs_f64() * 1e6 / reps as f64;
    let start = Instant::now();
    for _ in 0..reps {
        resize.apply(&gray, &mut out);
        check = check.wrapping_add(out[4000] as u64);
    }
    let resize_us = start.elapsed().as_secs_f64() * 1e6 / reps as f64;
    println!(
        "{{\"simd\":{},\"max_gray_ale_us\":{gray_us:.2},\"resize_84x84_us\":{resize_us:.2},\"check\":{check}}}",
        dimua_atari::simd_allowed()
    );
}
