//! Prints one JSON line timing K training steps (what `dimua bench train` prints):
//! `cargo run --release -p dimua-train --example bench_step -- [method] [heads] [units]
//! [steps] [warmup] [threads] [device]`.

use dimua_train::{bench_train_steps, BenchConfig, Method};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let get = |i: usize| a.get(i).map(String::as_str);
    let d = BenchConfig::default();
    let config = BenchConfig {
        method: get(0)
            .map(str::parse::<Method>)
            .transpose()?
            .unwrap_or(d.method),
        heads: get(1).map(str::parse).transpose()?.unwrap_or(d.heads),
        units: get(2).map(str::parse).transpose()?.unwrap_or(d.units),
        steps: get(3).map(str::parse).transpose()?.unwrap_or(d.steps),
        warmup: get(4).map(str::parse).transpose()?.unwrap_or(d.warmup),
        threads: get(5).map(str::parse).transpose()?.or(d.threads),
        device: get(6).unwrap_or("cpu").to_string(),
        ..d
    };
    let r = bench_train_steps(&config)?;
    println!("{}", serde_json::to_string(&r)?);
    Ok(())
}
