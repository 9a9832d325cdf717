//! `losses.{png,svg}`: every loss term per epoch, train solid and val dashed, one colour per
//! term.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::min_max;
use crate::figure::{
    axis_desc_font, color, epoch_axis, grid_style, int_label, padded, tick_font,
    titled_with_legend, DrawResult, Figure, LegendEntry, Swatch, MAX_MARKED_POINTS,
};
use crate::run::RunMetrics;

/// Terms in the order the method defines them; unknown terms follow alphabetically.
const KNOWN: [(&str, &str); 5] = [
    ("total", "total"),
    ("global_local", "global-local (L_GL)"),
    ("local_local", "local-local (L_LL)"),
    ("membership", "membership (L_Q)"),
    ("mmd", "MMD"),
];

struct Term {
    label: String,
    train: Vec<(f64, f64)>,
    val: Vec<(f64, f64)>,
}

/// The loss figure.
pub(crate) struct Losses {
    terms: Vec<Term>,
}

impl Losses {
    /// Every `loss/train_*` / `loss/val_*` term with at least one value. A term that is
    /// exactly 0 at every epoch is one the method does not use (the trainer writes 0 for
    /// unused terms) and is left out. `None` when no term remains.
    pub(crate) fn from_metrics(m: &RunMetrics) -> Option<Self> {
        let mut names: Vec<String> = Vec::new();
        for row in &m.rows {
            for key in row.values.keys() {
                let term = key
                    .strip_prefix("loss/train_")
                    .or_else(|| key.strip_prefix("loss/val_"));
                if let Some(t) = term {
                    if !names.iter().any(|n| n == t) {
                        names.push(t.to_string());
                    }
                }
            }
        }
        let rank = |n: &str| {
            KNOWN
                .iter()
                .position(|(k, _)| *k == n)
                .unwrap_or(KNOWN.len())
        };
        names.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
        let terms: Vec<Term> = names
            .into_iter()
            .map(|n| Term {
                label: KNOWN
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map_or_else(|| n.replace('_', "-"), |(_, l)| l.to_string()),
                train: m.series(&format!("loss/train_{n}")),
                val: m.series(&format!("loss/val_{n}")),
            })
            .filter(|t| t.train.iter().chain(&t.val).any(|(_, v)| *v != 0.0))
            .collect();
        (!terms.is_empty()).then_some(Losses { terms })
    }

    fn points(&self) -> impl Iterator<Item = &(f64, f64)> {
        self.terms.iter().flat_map(|t| t.train.iter().chain(&t.val))
    }
}

impl Figure for Losses {
    fn size(&self) -> (u32, u32) {
        (1100, 620)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let mut legend: Vec<LegendEntry> = self
            .terms
            .iter()
            .enumerate()
            .map(|(i, t)| {
                LegendEntry::new(
                    t.label.clone(),
                    Swatch::Line {
                        color: color(i),
                        dashed: false,
                    },
                )
            })
            .collect();
        let grey = RGBColor(90, 90, 90);
        legend.push(LegendEntry::new(
            "train (solid)",
            Swatch::Line {
                color: grey,
                dashed: false,
            },
        ));
        legend.push(LegendEntry::new(
            "val (dashed)",
            Swatch::Line {
                color: grey,
                dashed: true,
            },
        ));
        let area = titled_with_legend(root, "Losses per epoch (train solid, val dashed)", &legend)?;

        let (lo, hi) = min_max(self.points().map(|p| p.1)).unwrap_or((0.0, 1.0));
        let (lo, hi) = padded(lo, hi, 0.06);
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(epoch_axis(self.points().map(|p| p.0)), lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss (mean over batches)")
            .x_label_formatter(&int_label)
            .axis_desc_style(axis_desc_font())
            .label_style(tick_font())
            .light_line_style(TRANSPARENT)
            .bold_line_style(grid_style())
            .draw()?;
        for (i, t) in self.terms.iter().enumerate() {
            let c = color(i);
            chart.draw_series(LineSeries::new(t.train.iter().copied(), c.stroke_width(2)))?;
            if t.train.len() <= MAX_MARKED_POINTS {
                chart.draw_series(t.train.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
            }
            chart.draw_series(DashedLineSeries::new(
                t.val.iter().copied(),
                8,
                5,
                c.stroke_width(2),
            ))?;
            if t.val.len() <= MAX_MARKED_POINTS {
                chart.draw_series(t.val.iter().map(|p| Circle::new(*p, 4, c.stroke_width(2))))?;
            }
        }
        Ok(())
    }
}
