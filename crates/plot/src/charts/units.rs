//! `f1_vs_units` / `acc_vs_units`: probe score against total hidden units on a log2 axis,
//! one line per method with a ± std band and error bars (the paper's Figures 3-5).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::min_max;
use crate::figure::{
    axis_desc_font, color, grid_style, padded, tick_font, titled_with_legend, DrawResult, Figure,
    LegendEntry, Swatch, TickedAxis,
};
use crate::UnitsPoint;

/// Which score a units figure shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Score {
    /// Mean F1.
    F1,
    /// Mean accuracy.
    Acc,
}

impl Score {
    fn of(self, p: &UnitsPoint) -> (f64, f64) {
        match self {
            Score::F1 => (p.f1_mean, p.f1_std),
            Score::Acc => (p.acc_mean, p.acc_std),
        }
    }
}

struct Line {
    method: String,
    /// `(log2 units, mean, std)` sorted by units.
    points: Vec<(f64, f64, f64)>,
}

/// A units-sweep figure.
pub(crate) struct UnitsFigure {
    score: Score,
    lines: Vec<Line>,
}

/// The paper's x range: 256 .. 16384 units.
const PAPER_LOG2: (f64, f64) = (8.0, 14.0);
/// Horizontal offset between methods (log2 units) so error bars at one x do not overlap.
const DODGE: f64 = 0.04;

impl UnitsFigure {
    /// Groups `points` by method (in order of first appearance); the caller has checked
    /// that they are valid.
    pub(crate) fn new(points: &[UnitsPoint], score: Score) -> Self {
        let mut lines: Vec<Line> = Vec::new();
        for p in points {
            let (mean, std) = score.of(p);
            let pt = ((p.total_units as f64).log2(), mean, std);
            match lines.iter_mut().find(|l| l.method == p.method) {
                Some(l) => l.points.push(pt),
                None => lines.push(Line {
                    method: p.method.clone(),
                    points: vec![pt],
                }),
            }
        }
        for l in &mut lines {
            l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        UnitsFigure { score, lines }
    }
}

impl Figure for UnitsFigure {
    fn size(&self) -> (u32, u32) {
        (1000, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let legend: Vec<LegendEntry> = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let name = if l.method.is_empty() {
                    "(unnamed)"
                } else {
                    &l.method
                };
                LegendEntry::new(name, Swatch::LineDot(color(i)))
            })
            .collect();
        let (what, axis) = match self.score {
            Score::F1 => ("F1", "mean probe F1 (± std over seeds)"),
            Score::Acc => ("accuracy", "mean probe accuracy (± std over seeds)"),
        };
        let title = format!("Probe {what} vs total hidden units");
        let area = titled_with_legend(root, &title, &legend)?;

        let all = || self.lines.iter().flat_map(|l| l.points.iter());
        let (x_lo, x_hi) = min_max(all().map(|p| p.0)).unwrap_or(PAPER_LOG2);
        let (x_lo, x_hi) = (
            x_lo.floor().min(PAPER_LOG2.0),
            x_hi.ceil().max(PAPER_LOG2.1),
        );
        let ticks: Vec<f64> = (x_lo as i32..=x_hi as i32).map(f64::from).collect();
        let (y_lo, y_hi) =
            min_max(all().flat_map(|p| [p.1 - p.2, p.1 + p.2])).unwrap_or((0.0, 1.0));
        let (mut y_lo, mut y_hi) = padded(y_lo, y_hi, 0.08);
        // Scores live in [0, 1]: do not waste room outside it.
        if y_lo < 0.0 && y_hi > 0.05 {
            y_lo = 0.0;
        }
        if y_hi > 1.0 && y_lo < 0.95 {
            y_hi = 1.0;
        }
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(TickedAxis::new(x_lo - 0.35, x_hi + 0.35, ticks), y_lo..y_hi)?;
        chart
            .configure_mesh()
            .x_desc("total hidden units = heads x units per head (log2 scale)")
            .y_desc(axis)
            .x_label_formatter(&|x| format!("{}", 2f64.powf(x.round()) as u64))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .axis_desc_style(axis_desc_font())
            .label_style(tick_font())
            .light_line_style(TRANSPARENT)
            .bold_line_style(grid_style())
            .draw()?;

        let m = self.lines.len() as f64;
        for (i, l) in self.lines.iter().enumerate() {
            let c = color(i);
            let dx = (i as f64 - (m - 1.0) / 2.0) * DODGE;
            let pts: Vec<(f64, f64, f64)> =
                l.points.iter().map(|&(x, y, s)| (x + dx, y, s)).collect();
            if pts.len() >= 2 {
                let band: Vec<(f64, f64)> = pts
                    .iter()
                    .map(|p| (p.0, p.1 + p.2))
                    .chain(pts.iter().rev().map(|p| (p.0, p.1 - p.2)))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.14).filled())))?;
            }
            for &(x, y, s) in &pts {
                if s > 0.0 {
                    let cap = 0.05;
                    let st = c.stroke_width(2);
                    chart.draw_series([
                        PathElement::new(vec![(x, y - s), (x, y + s)], st),
                        PathElement::new(vec![(x - cap, y - s), (x + cap, y - s)], st),
                        PathElement::new(vec![(x - cap, y + s), (x + cap, y + s)], st),
                    ])?;
                }
            }
            chart.draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.1)),
                c.stroke_width(3),
            ))?;
            chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 5, c.filled())))?;
        }
        Ok(())
    }
}
