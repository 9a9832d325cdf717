//! `membership_entropy.{png,svg}`: mean entropy of the membership q per epoch against
//! ln(n), the entropy of a uniform q (the paper's Figure 1 idea: an unbalanced atlas sits
//! well below the line).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::min_max;
use crate::figure::{
    axis_desc_font, color, epoch_axis, grid_style, int_label, padded, tick_font,
    titled_with_legend, DrawResult, Figure, LegendEntry, Swatch, MAX_MARKED_POINTS,
};
use crate::run::RunMetrics;

/// The entropy figure.
pub(crate) struct Entropy {
    points: Vec<(f64, f64)>,
    heads: Option<usize>,
}

impl Entropy {
    /// `atlas/membership_entropy` per epoch; the head count comes from the longest
    /// `atlas/head_share`. `None` without any entropy value.
    pub(crate) fn from_metrics(m: &RunMetrics) -> Option<Self> {
        let points = m.series("atlas/membership_entropy");
        let heads = m
            .rows
            .iter()
            .filter_map(|r| r.head_share.as_ref().map(Vec::len))
            .max();
        (!points.is_empty()).then_some(Entropy { points, heads })
    }
}

impl Figure for Entropy {
    fn size(&self) -> (u32, u32) {
        (1000, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let uniform = self.heads.map(|n| (n, (n as f64).ln()));
        let grey = RGBColor(110, 110, 110);
        let mut legend = vec![LegendEntry::new(
            "mean entropy of q (val frames)",
            Swatch::LineDot(color(0)),
        )];
        if let Some((n, h)) = uniform {
            legend.push(LegendEntry::new(
                format!("uniform q: ln {n} = {h:.3}"),
                Swatch::Line {
                    color: grey,
                    dashed: true,
                },
            ));
        }
        let title = match self.heads {
            Some(n) => format!("Membership entropy, {n} heads (lower = more unbalanced)"),
            None => "Membership entropy (lower = more unbalanced)".to_string(),
        };
        let area = titled_with_legend(root, &title, &legend)?;

        let (_, top) = min_max(self.points.iter().map(|p| p.1).chain(uniform.map(|u| u.1)))
            .unwrap_or((0.0, 1.0));
        let (_, hi) = padded(0.0, top.max(0.0), 0.08);
        let (lo, _) = padded(0.0, hi, 0.02);
        let x = epoch_axis(self.points.iter().map(|p| p.0));
        let xr = x.range();
        let (x_lo, x_hi) = (xr.start, xr.end);
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("entropy of q (nats)")
            .x_label_formatter(&int_label)
            .axis_desc_style(axis_desc_font())
            .label_style(tick_font())
            .light_line_style(TRANSPARENT)
            .bold_line_style(grid_style())
            .draw()?;
        if let Some((_, h)) = uniform {
            chart.draw_series(DashedLineSeries::new(
                vec![(x_lo, h), (x_hi, h)],
                10,
                6,
                grey.stroke_width(2),
            ))?;
        }
        let c = color(0);
        chart.draw_series(LineSeries::new(
            self.points.iter().copied(),
            c.stroke_width(3),
        ))?;
        if self.points.len() <= MAX_MARKED_POINTS {
            chart.draw_series(self.points.iter().map(|p| Circle::new(*p, 4, c.filled())))?;
        }
        Ok(())
    }
}
