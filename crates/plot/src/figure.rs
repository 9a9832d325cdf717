//! Rendering one figure to both formats: the `Figure` trait each chart implements, the
//! PNG/SVG writer, and the shared look (palette, fonts, the legend panel beside the plot).

use std::error::Error;
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::PlotError;
use crate::font::{self, FAMILY};

/// What drawing a figure returns; any plotters error is boxed.
pub(crate) type DrawResult = Result<(), Box<dyn Error>>;

/// A chart that can draw itself on any plotters backend.
pub(crate) trait Figure {
    /// Canvas size in pixels (PNG) and user units (SVG).
    fn size(&self) -> (u32, u32);
    /// Draws onto a white canvas of [`Figure::size`].
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Writes `{stem}.png` and `{stem}.svg` into `out_dir` (which must exist); returns both paths.
///
/// Each format is drawn into memory first, so a failed draw leaves no half-written file.
pub(crate) fn save<F: Figure>(
    fig: &F,
    out_dir: &Path,
    stem: &str,
) -> Result<Vec<PathBuf>, PlotError> {
    let png_path = out_dir.join(format!("{stem}.png"));
    let svg_path = out_dir.join(format!("{stem}.svg"));
    let draw_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: Box<dyn Error>| PlotError::Draw {
            path,
            reason: e.to_string(),
        }
    };
    font::ensure_registered().map_err(|reason| PlotError::Draw {
        path: png_path.clone(),
        reason,
    })?;
    let (w, h) = fig.size();

    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        render(fig, &root).map_err(draw_err(&png_path))?;
    }
    let png = encode_png(rgb, w, h).map_err(draw_err(&png_path))?;
    write(&png_path, &png)?;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        render(fig, &root).map_err(draw_err(&svg_path))?;
    }
    write(&svg_path, svg.as_bytes())?;
    Ok(vec![png_path, svg_path])
}

fn render<F: Figure, DB: DrawingBackend>(fig: &F, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    fig.draw(root)?;
    root.present()?;
    Ok(())
}

fn encode_png(rgb: Vec<u8>, w: u32, h: u32) -> Result<Vec<u8>, Box<dyn Error>> {
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or("bitmap buffer has the wrong size")?;
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    fs::write(path, bytes).map_err(|source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Creates `dir` (and parents) if needed.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), PlotError> {
    fs::create_dir_all(dir).map_err(|source| PlotError::OutputDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Series with more points than this are drawn without markers (they would hide the
/// line and its dash pattern).
pub(crate) const MAX_MARKED_POINTS: usize = 25;

/// Tableau-10: distinguishable on screen and in grey-ish print.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The `i`-th series colour (cycles after ten).
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Figure title font.
pub(crate) fn title_font() -> TextStyle<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), 24.0, FontStyle::Bold).into()
}

/// Axis description font.
pub(crate) fn axis_desc_font() -> TextStyle<'static> {
    (FAMILY, 18).into()
}

/// Tick label font.
pub(crate) fn tick_font() -> TextStyle<'static> {
    (FAMILY, 15).into()
}

/// Legend and annotation font.
pub(crate) fn legend_font() -> TextStyle<'static> {
    (FAMILY, 16).into()
}

/// Light grid lines.
pub(crate) fn grid_style() -> ShapeStyle {
    RGBColor(225, 225, 225).stroke_width(1)
}

/// The sample drawn before a legend label.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Swatch {
    /// A line, solid or dashed.
    Line { color: RGBColor, dashed: bool },
    /// A line with a dot in the middle (series with markers).
    LineDot(RGBColor),
    /// A filled box (bars).
    Fill(RGBColor),
}

/// One legend row.
#[derive(Debug, Clone)]
pub(crate) struct LegendEntry {
    /// The label text.
    pub label: String,
    /// Its sample.
    pub swatch: Swatch,
}

impl LegendEntry {
    /// A labelled swatch.
    pub(crate) fn new(label: impl Into<String>, swatch: Swatch) -> Self {
        LegendEntry {
            label: label.into(),
            swatch,
        }
    }
}

const SWATCH_W: i32 = 34;
const ROW_H: i32 = 24;
const PAD: i32 = 12;

/// Draws the title, then splits the rest into (plot area, legend panel on the right) and
/// draws `legend` there. With no entries the whole area is the plot area.
pub(crate) fn titled_with_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    legend: &[LegendEntry],
) -> Result<DrawingArea<DB, Shift>, Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let body = root.titled(title, title_font())?;
    if legend.is_empty() {
        return Ok(body);
    }
    let font = legend_font();
    let mut text_w = 0u32;
    for e in legend {
        text_w = text_w.max(body.estimate_text_size(&e.label, &font)?.0);
    }
    let (w, _) = body.dim_in_pixel();
    let legend_w = (text_w as i32 + SWATCH_W + 4 * PAD).min(w as i32 * 45 / 100);
    let (plot, panel) = body.split_horizontally(w as i32 - legend_w);
    let box_h = legend.len() as i32 * ROW_H + PAD;
    let (x0, y0) = (PAD / 2, 14);
    panel.draw(&Rectangle::new(
        [(x0, y0), (legend_w - PAD, y0 + box_h)],
        RGBColor(180, 180, 180).stroke_width(1),
    ))?;
    let label_style = font.pos(Pos::new(HPos::Left, VPos::Center));
    for (i, e) in legend.iter().enumerate() {
        let y = y0 + PAD / 2 + ROW_H / 2 + i as i32 * ROW_H;
        let (sx0, sx1) = (x0 + PAD, x0 + PAD + SWATCH_W - 8);
        match e.swatch {
            Swatch::Line { color, dashed } => {
                let style = color.stroke_width(3);
                if dashed {
                    panel.draw(&DashedPathElement::new(
                        vec![(sx0, y), (sx1, y)],
                        7,
                        4,
                        style,
                    ))?;
                } else {
                    panel.draw(&PathElement::new(vec![(sx0, y), (sx1, y)], style))?;
                }
            }
            Swatch::LineDot(color) => {
                panel.draw(&PathElement::new(
                    vec![(sx0, y), (sx1, y)],
                    color.stroke_width(3),
                ))?;
                panel.draw(&Circle::new(((sx0 + sx1) / 2, y), 4, color.filled()))?;
            }
            Swatch::Fill(color) => {
                panel.draw(&Rectangle::new(
                    [(sx0, y - 7), (sx1, y + 7)],
                    color.filled(),
                ))?;
            }
        }
        panel.draw(&Text::new(
            e.label.clone(),
            (x0 + PAD + SWATCH_W, y),
            label_style.clone(),
        ))?;
    }
    Ok(plot)
}

/// `(lo, hi)` widened by `frac` of the span on both sides; never empty.
pub(crate) fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    let span = hi - lo;
    if span.is_finite() && span > 1e-12 {
        (lo - frac * span, hi + frac * span)
    } else {
        let m = if lo.is_finite() { lo } else { 0.0 };
        let d = (m.abs() * 0.05).max(0.05);
        (m - d, m + d)
    }
}

/// A linear f64 axis whose ticks (and grid lines) sit exactly at the given values.
///
/// plotters' own `with_key_points` wrapper cannot be used on an f64 axis with
/// `configure_mesh` in 0.3.7 (it lacks a value formatter), hence this small axis type.
#[derive(Debug, Clone)]
pub(crate) struct TickedAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl TickedAxis {
    /// `lo..hi` (widened when empty) with ticks at `ticks`.
    pub(crate) fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Self {
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            padded(lo, hi, 0.0)
        };
        TickedAxis { lo, hi, ticks }
    }
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let frac = (value - self.lo) / (self.hi - self.lo);
        let len = f64::from(limit.1 - limit.0);
        let px = (len * frac + 1e-3).floor().clamp(-1e6, 1e6);
        limit.0 + px as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// The epoch x axis: half an epoch of room each side, ticks at whole epochs only
/// (at most about ten of them, every 1, 2, 5, 10, 20, ... epochs).
pub(crate) fn epoch_axis(epochs: impl Iterator<Item = f64>) -> TickedAxis {
    let (lo, hi) = epochs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), e| {
        (a.min(e), b.max(e))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 0.0) };
    let span = (hi - lo).max(1.0);
    let step = [1.0, 2.0, 5.0]
        .iter()
        .flat_map(|m| (0..12).map(move |p| m * 10f64.powi(p)))
        .filter(|s| span / s <= 10.0)
        .fold(f64::INFINITY, f64::min);
    let first = (lo / step).ceil() * step;
    let ticks: Vec<f64> = (0..)
        .map(|i| first + i as f64 * step)
        .take_while(|t| *t <= hi + 1e-9)
        .collect();
    TickedAxis::new(lo - 0.5, hi + 0.5, ticks)
}

/// Tick label for whole-number ticks.
pub(crate) fn int_label(x: &f64) -> String {
    format!("{}", x.round() as i64)
}
