//! Writes every plot from synthetic data shaped like a real DIM-UA run, for looking at the
//! figures without training: `cargo run -p dimua-plot --example demo -- /tmp/plot-demo`.

use std::fmt::Write as _;
use std::path::PathBuf;

use dimua_plot::{plot_run, plot_units_sweep, UnitsPoint};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "plot-demo".into()),
    );
    let run = out.join("run");
    std::fs::create_dir_all(&run)?;

    // 4 heads: losses fall from ln(64) per InfoNCE term; membership entropy falls from
    // ln 4 as the atlas becomes unbalanced; head 2 takes over most frames.
    let mut jsonl = String::new();
    for e in 0..60 {
        let t = e as f64;
        let gl = 1.2 + 2.96 * (-t / 12.0).exp();
        let ll = 0.9 + 3.26 * (-t / 9.0).exp();
        let lq = -0.05 - 0.3 * (1.0 - (-t / 15.0).exp());
        let ent = 1.386 * (0.25 + 0.75 * (-t / 10.0).exp());
        let big = 0.25 + 0.45 * (1.0 - (-t / 10.0).exp());
        let rest = (1.0 - big) / 3.0;
        let val_gap = 0.05 + 0.002 * t;
        writeln!(
            jsonl,
            "{{\"epoch\":{e},\"loss/train_total\":{},\"loss/train_global_local\":{gl},\
             \"loss/train_local_local\":{ll},\"loss/train_membership\":{lq},\
             \"loss/train_mmd\":0.0,\"loss/val_total\":{},\"loss/val_global_local\":{},\
             \"loss/val_local_local\":{},\"loss/val_membership\":{lq},\"loss/val_mmd\":0.0,\
             \"atlas/membership_entropy\":{ent},\
             \"atlas/head_share\":[{rest},{rest},{big},{rest}],\"perf/steps_per_s\":12.5}}",
            gl + ll + 0.1 * lq,
            gl + ll + 0.1 * lq + 2.0 * val_gap,
            gl + val_gap,
            ll + val_gap,
        )?;
    }
    std::fs::write(run.join("metrics.jsonl"), jsonl)?;
    std::fs::write(
        run.join("probe.json"),
        r#"{"per_label":{
            "player_x":{"f1":0.83,"acc":0.84},"player_y":{"f1":0.91,"acc":0.91},
            "enemy_x":{"f1":0.62,"acc":0.64},"enemy_y":{"f1":0.77,"acc":0.78},
            "ball_x":{"f1":0.55,"acc":0.58},"ball_y":{"f1":0.49,"acc":0.52},
            "player_score":{"f1":0.97,"acc":0.97},"enemy_score":{"f1":0.95,"acc":0.95}},
          "per_category":{},
          "label_categories":{"player_x":["agent_localization"],"player_y":["agent_localization"],
            "enemy_x":["other_localization"],"enemy_y":["other_localization"],
            "ball_x":["small_object_localization"],"ball_y":["small_object_localization"],
            "player_score":["score_clock_lives_display"],"enemy_score":["score_clock_lives_display"]},
          "across_categories_f1":0.7525,"across_categories_acc":0.7663,
          "overall_f1":0.761,"overall_acc":0.774}"#,
    )?;
    let mut written = plot_run(&run)?;

    // The paper's Figure 3 shape: ST-DIM degrades with width, DIM-UA keeps improving.
    let sizes = [256usize, 512, 1024, 2048, 4096, 8192, 16384];
    let mut points = Vec::new();
    for (i, &u) in sizes.iter().enumerate() {
        let x = i as f64;
        points.push(UnitsPoint {
            method: "ST-DIM".into(),
            total_units: u,
            f1_mean: 0.72 - 0.003 * x * x,
            f1_std: 0.01 + 0.004 * x,
            acc_mean: 0.73 - 0.003 * x * x,
            acc_std: 0.01 + 0.004 * x,
        });
        points.push(UnitsPoint {
            method: "DIM-UA (4 heads)".into(),
            total_units: u,
            f1_mean: 0.68 + 0.012 * x,
            f1_std: 0.012,
            acc_mean: 0.69 + 0.012 * x,
            acc_std: 0.012,
        });
    }
    points.push(UnitsPoint {
        method: "+MMD".into(),
        total_units: 16384,
        f1_mean: 0.69,
        f1_std: 0.02,
        acc_mean: 0.70,
        acc_std: 0.02,
    });
    written.extend(plot_units_sweep(&points, &out)?);
    for p in written {
        println!("{}", p.display());
    }
    Ok(())
}
