//! `probe_f1.{png,svg}`: one horizontal bar per label, best on top, coloured by the label's
//! AtariARI category, with the across-categories headline in the title and as a line.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::figure::{
    axis_desc_font, color, grid_style, legend_font, tick_font, titled_with_legend, DrawResult,
    Figure, LegendEntry, Swatch, TickedAxis,
};
use crate::run::ProbeSummary;

/// The probe figure.
pub(crate) struct ProbeF1 {
    /// `(label, f1, colour index)`, worst first (drawn bottom-up, so best ends on top).
    bars: Vec<(String, f64, usize)>,
    /// Category names in colour-index order (empty: no categories known).
    categories: Vec<String>,
    headline: Option<(f64, Option<f64>)>,
    overall: Option<f64>,
}

impl ProbeF1 {
    /// `None` when no label has a finite F1.
    pub(crate) fn from_probe(p: &ProbeSummary) -> Option<Self> {
        if p.f1.is_empty() {
            return None;
        }
        let mut bars: Vec<(String, f64)> = p.f1.clone();
        bars.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
        let mut categories: Vec<String> = Vec::new();
        let bars = bars
            .into_iter()
            .map(|(label, f1)| {
                let cat = p
                    .category
                    .get(&label)
                    .cloned()
                    .unwrap_or_else(|| "uncategorised".to_string());
                let idx = categories
                    .iter()
                    .position(|c| *c == cat)
                    .unwrap_or_else(|| {
                        categories.push(cat);
                        categories.len() - 1
                    });
                (label, f1, idx)
            })
            .collect();
        if p.category.is_empty() {
            categories.clear();
        }
        Some(ProbeF1 {
            bars,
            categories,
            headline: p.across_categories_f1.map(|f| (f, p.across_categories_acc)),
            overall: p.overall_f1,
        })
    }

    fn bar_color(&self, idx: usize) -> RGBColor {
        if self.categories.is_empty() {
            color(0)
        } else {
            color(idx)
        }
    }
}

impl Figure for ProbeF1 {
    fn size(&self) -> (u32, u32) {
        (1100, (130 + 30 * self.bars.len() as u32).max(380))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let grey = RGBColor(60, 60, 60);
        // Legend top-down in the order categories first appear from the top bar.
        let mut legend: Vec<LegendEntry> = Vec::new();
        for (_, _, idx) in self.bars.iter().rev() {
            let label = match self.categories.get(*idx) {
                Some(c) => c.replace('_', " "),
                None => continue,
            };
            if !legend.iter().any(|e| e.label == label) {
                legend.push(LegendEntry::new(label, Swatch::Fill(self.bar_color(*idx))));
            }
        }
        let title = match (self.headline, self.overall) {
            (Some((f1, Some(acc))), _) => {
                format!("Probe F1 per label \u{2014} across categories: F1 {f1:.3}, acc {acc:.3}")
            }
            (Some((f1, None)), _) => {
                format!("Probe F1 per label \u{2014} across categories: F1 {f1:.3}")
            }
            (None, Some(f1)) => format!("Probe F1 per label \u{2014} mean F1 {f1:.3}"),
            (None, None) => "Probe F1 per label".to_string(),
        };
        let mean_line = self
            .headline
            .map(|(f, _)| (f, "across-categories F1"))
            .or(self.overall.map(|f| (f, "mean F1")));
        if let Some((f, what)) = mean_line {
            legend.push(LegendEntry::new(
                format!("{what} = {f:.3}"),
                Swatch::Line {
                    color: grey,
                    dashed: true,
                },
            ));
        }
        let area = titled_with_legend(root, &title, &legend)?;

        let n = self.bars.len();
        let tick_style = tick_font();
        let mut label_w = 0;
        for (label, _, _) in &self.bars {
            label_w = label_w.max(area.estimate_text_size(label, &tick_style)?.0);
        }
        let centres: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(label_w + 18)
            .build_cartesian_2d(
                TickedAxis::new(0.0, 1.1, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
                TickedAxis::new(0.0, n as f64, centres),
            )?;
        let names: Vec<&str> = self.bars.iter().map(|b| b.0.as_str()).collect();
        let y_name = |y: &f64| {
            let i = y.floor();
            if i >= 0.0 && (i as usize) < names.len() {
                names[i as usize].to_string()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_desc("F1 on the test split (weighted over classes)")
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_label_formatter(&y_name)
            .disable_y_mesh()
            .axis_desc_style(axis_desc_font())
            .label_style(tick_style.clone())
            .light_line_style(TRANSPARENT)
            .bold_line_style(grid_style())
            .draw()?;
        for (i, (_, f1, idx)) in self.bars.iter().enumerate() {
            let y = i as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y + 0.15), (f1.clamp(0.0, 1.0), y + 0.85)],
                self.bar_color(*idx).filled(),
            )))?;
            // A pixel gap after the bar (a leading space would collapse in SVG).
            chart.draw_series(std::iter::once(
                EmptyElement::at((f1.clamp(0.0, 1.0), y + 0.5))
                    + Text::new(
                        format!("{f1:.3}"),
                        (5, 0),
                        legend_font().pos(Pos::new(HPos::Left, VPos::Center)),
                    ),
            ))?;
        }
        if let Some((f, _)) = mean_line {
            chart.draw_series(DashedLineSeries::new(
                vec![(f, 0.0), (f, n as f64)],
                8,
                5,
                grey.stroke_width(2),
            ))?;
        }
        Ok(())
    }
}
