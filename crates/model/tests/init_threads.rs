//! Bug: the seeded orthogonal init (the random-CNN baseline and every method's starting
//! weights) came out with different last bits under `OMP_NUM_THREADS=1` and the default
//! thread count, because libtorch's QR splits its work by the intra-op thread count. Its own
//! test binary: it changes libtorch's process-wide thread count.

use dimua_model::init::orthogonal;
use dimua_model::WeightInit;
use tch::Device;

/// The shapes of the AtariARI encoder's orthogonal weights (conv kernels flattened as
/// `[out, in * kh * kw]`, the final linear, the atlas) and a tall and a wide matrix.
const SHAPES: [(usize, usize); 8] = [
    (32, 64),
    (64, 512),
    (128, 1024),
    (64, 1152),
    (256, 3456),
    (2048, 3456),
    (512, 64),
    (7, 300),
];

fn init_bytes(threads: i32) -> Vec<Vec<f32>> {
    tch::set_num_threads(threads);
    SHAPES
        .iter()
        .map(|&(r, c)| {
            let w =
                orthogonal(WeightInit::Seeded(11), "w", r, c, 2f64.sqrt(), Device::Cpu).unwrap();
            Vec::<f32>::try_from(w.flatten(0, -1)).unwrap()
        })
        .collect()
}

#[test]
fn seeded_orthogonal_init_is_the_same_whatever_libtorchs_thread_count() {
    let one = init_bytes(1);
    for threads in [2, 3, 4] {
        let other = init_bytes(threads);
        for (k, (a, b)) in one.iter().zip(&other).enumerate() {
            let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(
                same,
                "{:?}: {threads} threads changed the weights",
                SHAPES[k]
            );
        }
    }
}
