//! `head_share.{png,svg}`: per epoch, the fraction of val frames whose most likely chart is
//! each head, as stacked bars (a balanced atlas shows equal slices).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::figure::{
    axis_desc_font, color, epoch_axis, grid_style, int_label, tick_font, titled_with_legend,
    DrawResult, Figure, LegendEntry, Swatch,
};
use crate::run::RunMetrics;

/// The head-share figure.
pub(crate) struct HeadShare {
    epochs: Vec<(f64, Vec<f64>)>,
    heads: usize,
}

impl HeadShare {
    /// Every epoch with an `atlas/head_share`; `None` when there is none.
    pub(crate) fn from_metrics(m: &RunMetrics) -> Option<Self> {
        let epochs: Vec<(f64, Vec<f64>)> = m
            .rows
            .iter()
            .filter_map(|r| r.head_share.clone().map(|s| (r.epoch, s)))
            .collect();
        let heads = epochs.iter().map(|(_, s)| s.len()).max()?;
        Some(HeadShare { epochs, heads })
    }
}

impl Figure for HeadShare {
    fn size(&self) -> (u32, u32) {
        (1000, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        // Top of the stack first, so the legend reads in the same order as the bars.
        let legend: Vec<LegendEntry> = (0..self.heads)
            .rev()
            .map(|h| LegendEntry::new(format!("head {h}"), Swatch::Fill(color(h))))
            .collect();
        let title = format!(
            "Share of val frames per head (argmax of q), {} heads",
            self.heads
        );
        let area = titled_with_legend(root, &title, &legend)?;
        let top = self
            .epochs
            .iter()
            .map(|(_, s)| s.iter().sum::<f64>())
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(epoch_axis(self.epochs.iter().map(|e| e.0)), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("fraction of val frames")
            .x_label_formatter(&int_label)
            .y_label_formatter(&|y| format!("{y:.1}"))
            .axis_desc_style(axis_desc_font())
            .label_style(tick_font())
            .light_line_style(TRANSPARENT)
            .bold_line_style(grid_style())
            .draw()?;
        for (epoch, shares) in &self.epochs {
            let mut base = 0.0;
            for (h, s) in shares.iter().enumerate() {
                if *s > 0.0 {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(epoch - 0.4, base), (epoch + 0.4, base + s)],
                        color(h).filled(),
                    )))?;
                }
                base += s.max(0.0);
            }
        }
        Ok(())
    }
}
