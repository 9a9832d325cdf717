//! The measurement behind `dimua_optim::MIN_ELEMS_PER_THREAD`: f32 fused Adam steps of
//! several sizes on one thread and on all of libtorch's intra-op threads, alone and right
//! after a 512x512 GEMM (whose OpenMP workers keep spinning), median of 15 steps each.
//!
//! `cargo run --release -p dimua-optim --example adam_threads`

use dimua_optim::Adam;
use tch::{Device, Kind, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let all = tch::get_num_threads().max(1) as usize;
    let a_mat = Tensor::randn([512, 512], (Kind::Float, Device::Cpu));
    println!("| elements | threads | alone ms | after GEMM ms |  ({all} intra-op threads)");
    println!("|---|---|---|---|");
    for n in [1usize << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24] {
        for threads in [1, all] {
            let p = Tensor::randn([n as i64], (Kind::Float, Device::Cpu));
            let g = Tensor::randn([n as i64], (Kind::Float, Device::Cpu));
            let mut adam = Adam::new(&[p.shallow_clone()], 1e-3, 1e-5)?;
            adam.set_threading(threads, 1);
            let mut time = |gemm: bool| -> Result<f64, Box<dyn std::error::Error>> {
                let mut ts = Vec::with_capacity(15);
                for _ in 0..15 {
                    if gemm {
                        let _ = a_mat.mm(&a_mat);
                    }
                    let t0 = std::time::Instant::now();
                    adam.step(&[p.shallow_clone()], &[g.shallow_clone()])?;
                    ts.push(t0.elapsed().as_secs_f64() * 1e3);
                }
                ts.sort_by(f64::total_cmp);
                Ok(ts[ts.len() / 2])
            };
            let (alone, after) = (time(false)?, time(true)?);
            println!("| {n} | {threads} | {alone:.3} | {after:.3} |");
        }
    }
    Ok(())
}
