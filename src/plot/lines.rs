//! Line charts as SVG files, drawn with `plotters`' SVG backend.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use super::svg::{self, drawing};

/// One named line of `(x, y)` points.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend entry.
    pub label: String,
    /// Points in x order.
    pub points: Vec<(f64, f64)>,
}

/// One chart: a title, axis labels and its lines.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Caption above the chart.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Lines, drawn in palette order.
    pub lines: Vec<Line>,
    /// Draw the y axis on a log scale (every y must be positive).
    pub log_y: bool,
    /// Put a dot on every point (a few epochs); without, plain lines (series).
    pub dots: bool,
}

/// matplotlib's default colour cycle (`tab10`), in order: distinct and
/// readable on white, unlike plotters' `Palette99` (its third colour is yellow).
const COLOURS: [RGBColor; 10] = [
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

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// The y range of a log-scale panel: its positive values, 10 % beyond.
fn log_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo.is_finite() {
        (lo * 0.9, hi * 1.1)
    } else {
        (0.1, 1.0)
    }
}

/// Ticks of a log axis over `(lo, hi)`: 1, 2 and 5 times each power of ten
/// inside it, or every whole multiple of the powers of ten when that gives
/// fewer than three. (plotters' own log ticks print as `0.60000000001` and
/// crowd below 1.)
fn log_ticks((lo, hi): (f64, f64)) -> Vec<f64> {
    let decades = (lo.log10().floor() as i32)..=(hi.log10().ceil() as i32);
    let ticks = |multiples: &[f64]| -> Vec<f64> {
        decades
            .clone()
            .flat_map(|d| {
                multiples.iter().map(move |&m| {
                    // Divide for negative powers, so 3 × 0.1 prints as 0.3.
                    if d >= 0 {
                        m * 10f64.powi(d)
                    } else {
                        m / 10f64.powi(-d)
                    }
                })
            })
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let coarse = ticks(&[1.0, 2.0, 5.0]);
    if coarse.len() >= 3 {
        coarse
    } else {
        ticks(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    }
}

/// The axes' ranges of a panel and where each point falls in them.
struct Frame {
    x: (f64, f64),
    y: (f64, f64),
    log_y: bool,
}

impl Frame {
    fn of(panel: &Panel) -> Self {
        let points = || panel.lines.iter().flat_map(|l| l.points.iter().copied());
        let y = if panel.log_y {
            log_bounds(points().map(|p| p.1))
        } else {
            bounds(points().map(|p| p.1))
        };
        Self {
            x: bounds(points().map(|p| p.0)),
            y,
            log_y: panel.log_y,
        }
    }

    /// `(x, y)` as fractions of the axes, `(0, 0)` bottom left.
    fn fraction(&self, (x, y): (f64, f64)) -> (f64, f64) {
        let f = |v: f64, (lo, hi): (f64, f64)| (v - lo) / (hi - lo);
        let fy = if self.log_y {
            f(
                y.max(f64::MIN_POSITIVE).ln(),
                (self.y.0.ln(), self.y.1.ln()),
            )
        } else {
            f(y, self.y)
        };
        (f(x, self.x), fy)
    }
}

/// The corner of the plot that the lines cross least, for the legend: every
/// segment is sampled at 20 points, and the corner box (the outer 45 % across,
/// 35 % down) with the fewest samples wins.
fn legend_corner(panel: &Panel, frame: &Frame) -> SeriesLabelPosition {
    let samples: Vec<(f64, f64)> = panel
        .lines
        .iter()
        .flat_map(|l| {
            let lone = usize::from(l.points.len() == 1); // a one-point line
            l.points.windows(2).chain(l.points.chunks(1).take(lone))
        })
        .flat_map(|seg| {
            let (a, b) = (seg[0], *seg.last().unwrap_or(&seg[0]));
            (0..20).map(move |k| {
                let t = f64::from(k) / 20.0;
                (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
            })
        })
        .map(|p| frame.fraction(p))
        .collect();
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let crossing = |right: bool, upper: bool| {
        samples
            .iter()
            .filter(|&&(fx, fy)| {
                (if right { fx > 0.55 } else { fx < 0.45 })
                    && (if upper { fy > 0.65 } else { fy < 0.35 })
            })
            .count()
    };
    corners
        .into_iter()
        .min_by_key(|&(_, right, upper)| crossing(right, upper))
        .map_or(SeriesLabelPosition::UpperRight, |c| c.0)
}

/// Whether every x is a whole number (epochs, time steps): ticks then fall on
/// whole numbers and are printed without decimals.
fn whole_x(panel: &Panel) -> bool {
    panel
        .lines
        .iter()
        .flat_map(|l| l.points.iter())
        .all(|p| p.0.fract() == 0.0)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let frame = Frame::of(panel);
    let ((x0, x1), (y0, y1)) = (frame.x, frame.y);
    // Whole-number x: at most one tick per value (10 at most), so that none
    // falls between two values.
    let x_ticks = if whole_x(panel) {
        ((x1 - x0).floor() as usize + 1).clamp(2, 10)
    } else {
        10
    };
    let whole = |v: &f64| format!("{v:.0}");
    let shortest = |v: &f64| format!("{v}");
    let mut chart = ChartBuilder::on(area);
    chart
        .caption(&panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60);
    macro_rules! finish {
        ($chart:expr, $log_ticks:expr) => {{
            let mut chart = $chart;
            let mut mesh = chart.configure_mesh();
            mesh.x_desc(panel.x_label.as_str())
                .y_desc(panel.y_label.as_str())
                .x_labels(x_ticks);
            if whole_x(panel) {
                mesh.x_label_formatter(&whole);
            }
            if $log_ticks {
                mesh.y_label_formatter(&shortest);
            }
            mesh.draw().map_err(drawing)?;
            for (i, line) in panel.lines.iter().enumerate() {
                let style = COLOURS[i % COLOURS.len()].stroke_width(2);
                let dots = if panel.dots { 3 } else { 0 };
                chart
                    .draw_series(
                        LineSeries::new(line.points.iter().copied(), style).point_size(dots),
                    )
                    .map_err(drawing)?
                    .label(line.label.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
            chart
                .configure_series_labels()
                .position(legend_corner(panel, &frame))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(drawing)?;
        }};
    }
    if panel.log_y {
        let y = (y0..y1).log_scale().with_key_points(log_ticks((y0, y1)));
        finish!(chart.build_cartesian_2d(x0..x1, y).map_err(drawing)?, true);
    } else {
        finish!(
            chart.build_cartesian_2d(x0..x1, y0..y1).map_err(drawing)?,
            false
        );
    }
    Ok(())
}

/// Writes `panels`, stacked vertically (1000 × 420 pixels each), as an SVG
/// picture at `path` (atomically).
///
/// # Errors
/// A path not ending in `.svg` (the message names it), a drawing or I/O error.
pub fn write_svg(path: &Path, panels: &[Panel]) -> Result<()> {
    svg::check_path(path)?;
    let height = 420 * panels.len().max(1) as u32;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (1000, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        for (area, panel) in root
            .split_evenly((panels.len().max(1), 1))
            .iter()
            .zip(panels)
        {
            draw_panel(area, panel).with_context(|| format!("cannot draw {:?}", panel.title))?;
        }
        root.present().map_err(drawing)?;
    }
    svg::write(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_one_two_five_or_finer() {
        assert_eq!(log_ticks((0.08, 2.4)), [0.1, 0.2, 0.5, 1.0, 2.0]);
        assert_eq!(log_ticks((0.25, 0.45)), [0.3, 0.4]);
        assert_eq!(
            log_ticks((3.0, 700.0)),
            [5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0]
        );
    }
}
