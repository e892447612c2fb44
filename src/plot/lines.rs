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
}

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

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (x0, x1) = bounds(
        panel
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0)),
    );
    let ys = || {
        panel
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
    };
    let mut chart = ChartBuilder::on(area);
    chart
        .caption(&panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(panel.x_label.as_str())
                .y_desc(panel.y_label.as_str())
                .draw()
                .map_err(drawing)?;
            for (i, line) in panel.lines.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                chart
                    .draw_series(LineSeries::new(
                        line.points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(drawing)?
                    .label(line.label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(drawing)?;
        }};
    }
    if panel.log_y {
        let (lo, hi) = ys()
            .filter(|v| *v > 0.0)
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        let (lo, hi) = if lo.is_finite() {
            (lo * 0.9, hi * 1.1)
        } else {
            (0.1, 1.0)
        };
        finish!(chart
            .build_cartesian_2d(x0..x1, (lo..hi).log_scale())
            .map_err(drawing)?);
    } else {
        let (y0, y1) = bounds(ys());
        finish!(chart
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(drawing)?);
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
