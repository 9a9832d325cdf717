//! `<stem>.{png,svg}`: RL learning curves: episode return against emulator frames, one line
//! per curve (mean over seeds) with a ± std band.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::min_max;
use crate::figure::{
    axis_desc_font, color, grid_style, padded, tick_font, titled_with_legend, DrawResult, Figure,
    LegendEntry, Swatch,
};
use crate::ReturnCurve;

/// The figure.
pub(crate) struct Returns<'a> {
    pub(crate) title: &'a str,
    pub(crate) curves: &'a [ReturnCurve],
}

impl Figure for Returns<'_> {
    fn size(&self) -> (u32, u32) {
        (1000, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let legend: Vec<LegendEntry> = self
            .curves
            .iter()
            .enumerate()
            .map(|(i, c)| {
                LegendEntry::new(
                    format!("{} ({} runs)", c.label, c.runs),
                    Swatch::Line {
                        color: color(i),
                        dashed: false,
                    },
                )
            })
            .collect();
        let area = titled_with_legend(root, self.title, &legend)?;
        let all = || self.curves.iter().flat_map(|c| c.points.iter());
        let (x_lo, x_hi) = min_max(all().map(|p| p.0)).unwrap_or((0.0, 1.0));
        let (y_lo, y_hi) =
            min_max(all().flat_map(|p| [p.1 - p.2, p.1 + p.2])).unwrap_or((0.0, 1.0));
        let (y_lo, y_hi) = padded(y_lo, y_hi.max(y_lo + 1e-9), 0.06);
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x_lo..x_hi.max(x_lo + 1.0), y_lo..y_hi)?;
        chart
            .configure_mesh()
            .x_desc("emulator frames")
            .y_desc("episode return (game score)")
            .x_label_formatter(&|x| {
                if x.abs() >= 1e6 {
                    format!("{:.1}M", x / 1e6)
                } else {
                    format!("{:.0}k", x / 1e3)
                }
            })
            .axis_desc_style(axis_desc_font())
            .label_style(tick_font())
            .light_line_style(TRANSPARENT)
            .bold_line_style(grid_style())
            .draw()?;
        for (i, c) in self.curves.iter().enumerate() {
            let col = color(i);
            if c.points.len() >= 2 && c.points.iter().any(|p| p.2 > 0.0) {
                let band: Vec<(f64, f64)> = c
                    .points
                    .iter()
                    .map(|p| (p.0, p.1 + p.2))
                    .chain(c.points.iter().rev().map(|p| (p.0, p.1 - p.2)))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(band, col.mix(0.14).filled())))?;
            }
            chart.draw_series(LineSeries::new(
                c.points.iter().map(|p| (p.0, p.1)),
                col.stroke_width(3),
            ))?;
        }
        Ok(())
    }
}
