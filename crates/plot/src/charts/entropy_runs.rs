//! `membership_entropy_per_epoch.{png,svg}`: the paper's Figure 1 across runs: the mean
//! membership entropy per epoch of each method and layout (± std over its runs), with ln(n),
//! the entropy of a uniform membership, dashed for each head count.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::min_max;
use crate::figure::{
    axis_desc_font, color, epoch_axis, grid_style, int_label, padded, tick_font,
    titled_with_legend, DrawResult, Figure, LegendEntry, Swatch, MAX_MARKED_POINTS,
};
use crate::EntropyCurve;

/// The figure.
pub(crate) struct EntropyRuns<'a> {
    pub(crate) curves: &'a [EntropyCurve],
}

impl Figure for EntropyRuns<'_> {
    fn size(&self) -> (u32, u32) {
        (1000, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let grey = RGBColor(110, 110, 110);
        let mut heads: Vec<usize> = self.curves.iter().map(|c| c.heads).collect();
        heads.sort_unstable();
        heads.dedup();
        let mut legend: Vec<LegendEntry> = self
            .curves
            .iter()
            .enumerate()
            .map(|(i, c)| {
                LegendEntry::new(
                    format!("{} ({} runs)", c.label, c.runs),
                    Swatch::LineDot(color(i)),
                )
            })
            .collect();
        for &n in &heads {
            legend.push(LegendEntry::new(
                format!("uniform q: ln {n} = {:.3}", (n as f64).ln()),
                Swatch::Line {
                    color: grey,
                    dashed: true,
                },
            ));
        }
        let area = titled_with_legend(
            root,
            "Membership entropy per epoch (mean ± std over runs; lower = more unbalanced)",
            &legend,
        )?;
        let all = || self.curves.iter().flat_map(|c| c.epochs.iter());
        let (_, top) = min_max(
            all()
                .map(|p| p.1 + p.2)
                .chain(heads.iter().map(|&n| (n as f64).ln())),
        )
        .unwrap_or((0.0, 1.0));
        let (_, hi) = padded(0.0, top.max(0.0), 0.08);
        let (lo, _) = padded(0.0, hi, 0.02);
        let x = epoch_axis(all().map(|p| p.0));
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
            .y_desc("membership entropy of q (nats)")
            .x_label_formatter(&int_label)
            .axis_desc_style(axis_desc_font())
            .label_style(tick_font())
            .light_line_style(TRANSPARENT)
            .bold_line_style(grid_style())
            .draw()?;
        for &n in &heads {
            let h = (n as f64).ln();
            chart.draw_series(DashedLineSeries::new(
                vec![(x_lo, h), (x_hi, h)],
                10,
                6,
                grey.stroke_width(2),
            ))?;
        }
        for (i, c) in self.curves.iter().enumerate() {
            let col = color(i);
            if c.epochs.len() >= 2 {
                let band: Vec<(f64, f64)> = c
                    .epochs
                    .iter()
                    .map(|p| (p.0, p.1 + p.2))
                    .chain(c.epochs.iter().rev().map(|p| (p.0, (p.1 - p.2).max(0.0))))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(band, col.mix(0.14).filled())))?;
            }
            chart.draw_series(LineSeries::new(
                c.epochs.iter().map(|p| (p.0, p.1)),
                col.stroke_width(3),
            ))?;
            if c.epochs.len() <= MAX_MARKED_POINTS {
                chart.draw_series(
                    c.epochs
                        .iter()
                        .map(|p| Circle::new((p.0, p.1), 4, col.filled())),
                )?;
            }
        }
        Ok(())
    }
}
