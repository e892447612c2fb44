//! The attention heatmap of transformer_seq (`--attention`), drawn with
//! `plotters`' SVG backend: one row of panels per layer, one panel per head,
//! one filled rectangle per (query step, key step) cell.

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use tch::{Device, Kind, Tensor};

use super::svg::{self, drawing};

/// Pixels of a panel's square plot area (64 steps: 4 × 4 pixels a cell).
const PLOT: u32 = 256;
/// Pixels left of a plot: tick labels and "query step".
const Y_AXIS: u32 = 44;
/// Pixels below a plot: tick labels and "key step".
const X_AXIS: u32 = 40;
/// Pixels above a plot for its label.
const LABEL: u32 = 24;
/// Pixels between two panels, across and down.
const GAP: u32 = 24;
/// Pixels of the title and the explanation on top.
const HEADER: u32 = 60;
/// Pixels left of the first panel.
const LEFT: u32 = 12;
/// Grey of the frames and of the explanation.
const GREY: RGBColor = RGBColor(85, 85, 85);

/// The shape shared by every layer's weights.
#[derive(Debug, Clone, Copy)]
struct Shape {
    heads: usize,
    seq: usize,
}

/// One layer: its label and its weights `[heads, seq, seq]`, row-major.
struct Layer<'a> {
    label: &'a str,
    values: Vec<f64>,
}

/// Colour of `v` in `[0, 1]` on a white → dark blue (`#08306b`) ramp.
fn ramp(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let mix = |lo: f64, hi: f64| (lo + (hi - lo) * v).round() as u8;
    RGBColor(mix(255.0, 8.0), mix(255.0, 48.0), mix(255.0, 107.0))
}

/// The weight at which a head's colour saturates: its 99th percentile, so that a
/// few cells near 1 (row 0 of a causal mask is always exactly 1) do not wash out
/// the rest; the largest weight when that is 0. `head` is not empty.
fn saturation(head: &[f64]) -> f64 {
    let mut sorted = head.to_vec();
    sorted.sort_by(f64::total_cmp);
    let p99 = sorted[((sorted.len() - 1) as f64 * 0.99).round() as usize];
    let max = sorted.last().copied().unwrap_or(0.0);
    if p99 > 0.0 {
        p99
    } else {
        max.max(1e-12)
    }
}

/// Checks that every entry of `rows` is `[heads, seq, seq]` of one shape and
/// reads the weights as `f64` on the CPU.
fn read_layers(rows: &[(String, Tensor)]) -> Result<(Shape, Vec<Layer<'_>>)> {
    let Some((first_label, first)) = rows.first() else {
        bail!("no attention weights to draw (no layer given)");
    };
    let size = first.size();
    ensure!(
        size.len() == 3 && size[1] == size[2] && size[0] >= 1 && size[1] >= 1,
        "attention weights of {first_label} must be [heads, seq, seq] with at least \
         one head and one step, got {size:?}"
    );
    let layers = rows
        .iter()
        .map(|(label, weights)| {
            ensure!(
                weights.size() == size,
                "attention weights of {label} are {:?}, those of {first_label} {size:?}: \
                 every layer must have the same shape",
                weights.size()
            );
            let flat = weights
                .to_device(Device::Cpu)
                .to_kind(Kind::Double)
                .flatten(0, -1);
            let values = Vec::<f64>::try_from(&flat)
                .with_context(|| format!("cannot read the attention weights of {label}"))?;
            Ok(Layer { label, values })
        })
        .collect::<Result<Vec<_>>>()?;
    let shape = Shape {
        heads: size[0] as usize,
        seq: size[1] as usize,
    };
    Ok((shape, layers))
}

/// Step numbers with a tick: first, middle and last.
fn ticks(seq: usize) -> Vec<usize> {
    let mut ticks = vec![0, seq / 2, seq - 1];
    ticks.dedup();
    ticks
}

/// Draws one head's `seq × seq` weights on `area`, captioned `label` and the
/// saturation weight.
fn draw_head(area: &DrawingArea<SVGBackend, Shift>, label: &str, head: &[f64]) -> Result<()> {
    let seq = (head.len() as f64).sqrt().round() as usize;
    let max = saturation(head);
    let (top, body) = area.split_vertically(LABEL);
    let caption = format!("{label} (dark blue ≥ {max:.3})");
    top.draw_text(
        &caption,
        &("sans-serif", 15).into_text_style(&top),
        (Y_AXIS as i32, 4),
    )
    .map_err(drawing)?;
    // Coordinates in half steps (cell j spans 2j..2j + 2), so that the ticks
    // sit on cell centres and integer coordinates keep plotters' default
    // tick formatting available.
    let s = 2 * seq as i32;
    let centres: Vec<i32> = ticks(seq).iter().map(|&t| 2 * t as i32 + 1).collect();
    let mut chart = ChartBuilder::on(&body)
        .margin_right(GAP)
        .margin_bottom(GAP)
        .x_label_area_size(X_AXIS)
        .y_label_area_size(Y_AXIS)
        .build_cartesian_2d(
            (0..s).with_key_points(centres.clone()),
            (s..0).with_key_points(centres), // row 0 on top
        )
        .map_err(drawing)?;
    let step = |v: &i32| format!("{}", v / 2);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("key step")
        .y_desc("query step")
        .x_label_formatter(&step)
        .y_label_formatter(&step)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 14).into_font().color(&GREY))
        .draw()
        .map_err(drawing)?;
    let cells = head.chunks(seq).enumerate().flat_map(|(i, row)| {
        row.iter().enumerate().filter_map(move |(j, &v)| {
            let (x, y) = (2 * j as i32, 2 * i as i32);
            // Skip white on white.
            (v / max >= 0.005)
                .then(|| Rectangle::new([(x, y), (x + 2, y + 2)], ramp(v / max).filled()))
        })
    });
    chart.draw_series(cells).map_err(drawing)?;
    chart
        .draw_series([Rectangle::new([(0, 0), (s, s)], GREY.stroke_width(1))])
        .map_err(drawing)?;
    Ok(())
}

/// Draws the title and the explanation of the colours on `area`.
fn draw_header(area: &DrawingArea<SVGBackend, Shift>, title: &str) -> Result<()> {
    let x = (LEFT + Y_AXIS) as i32;
    area.draw_text(title, &("sans-serif", 19).into_text_style(area), (x, 10))
        .map_err(drawing)?;
    let explanation = "row: query step t, column: key step (what t attends to); colour from 0 \
                       (white) to the head's 99th-percentile weight (dark blue)";
    let style = ("sans-serif", 15).into_font().color(&GREY);
    area.draw_text(explanation, &style, (x, 36))
        .map_err(drawing)?;
    Ok(())
}

/// Renders every head of every layer as SVG text.
fn render(shape: Shape, layers: &[Layer<'_>], title: &str) -> Result<String> {
    let panel_w = Y_AXIS + PLOT + 1 + GAP;
    let panel_h = LABEL + PLOT + 1 + X_AXIS + GAP;
    let size = (
        LEFT + shape.heads as u32 * panel_w,
        HEADER + layers.len() as u32 * panel_h,
    );
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let (header, body) = root.split_vertically(HEADER);
        draw_header(&header, title)?;
        let panels = body
            .margin(0, 0, LEFT, 0)
            .split_evenly((layers.len(), shape.heads));
        let cells = shape.seq * shape.seq;
        for (r, layer) in layers.iter().enumerate() {
            for h in 0..shape.heads {
                let head = &layer.values[h * cells..(h + 1) * cells];
                let label = format!("{} head {h}", layer.label);
                draw_head(&panels[r * shape.heads + h], &label, head)?;
            }
        }
        root.present().map_err(drawing)?;
    }
    Ok(text)
}

/// Writes an SVG heatmap of attention weights to `path` (atomically): one row
/// of panels per entry of `rows` (a label such as `layer 0,` and that layer's
/// weights `[heads, seq, seq]`; row: query step, column: key step, as
/// `nn.MultiheadAttention` returns them with `average_attn_weights=False`), one
/// panel per head, each coloured from 0 (white) to that head's 99th-percentile
/// weight (dark blue). `title` goes on top. Panels are 256 × 256 pixels.
///
/// # Errors
/// (all starting with `--attention heatmap`) `rows` empty, weights not all
/// `[heads, seq, seq]` of one shape, a path not ending in `.svg`, or an I/O
/// error naming the file.
pub fn write_attention(path: &Path, rows: &[(String, Tensor)], title: &str) -> Result<()> {
    let write = || {
        svg::check_path(path)?;
        let (shape, layers) = read_layers(rows)?;
        let text = render(shape, &layers, title)?;
        svg::write(path, &text)
    };
    write().context("--attention heatmap")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturation_is_the_99th_percentile() {
        let head: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!(saturation(&head), 99.0);
        assert_eq!(saturation(&[0.0; 4]), 1e-12);
    }

    #[test]
    fn ramp_runs_from_white_to_dark_blue() {
        assert_eq!(ramp(0.0), WHITE);
        assert_eq!(ramp(1.0), RGBColor(8, 48, 107));
        assert_eq!(ramp(7.0), ramp(1.0));
    }

    #[test]
    fn ticks_are_first_middle_last() {
        assert_eq!(ticks(64), [0, 32, 63]);
        assert_eq!(ticks(1), [0]);
        assert_eq!(ticks(2), [0, 1]);
    }
}
