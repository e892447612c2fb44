//! Pictures written without a plotting crate: an attention heatmap as SVG.
//!
//! A heatmap is a grid of coloured rectangles and a few labels; SVG says that in
//! a few lines of text, opens in any browser and needs no font or image
//! library, so the build stays as small as it was.

use std::fmt::Write as _;

use tch::{Kind, Tensor};

/// Colour of `v` in `[0, 1]` on a white → dark blue ramp.
fn ramp(v: f64) -> String {
    let v = v.clamp(0.0, 1.0);
    let (lo, hi) = ([255.0, 255.0, 255.0], [8.0, 48.0, 107.0]);
    let c: Vec<u8> = (0..3)
        .map(|i| (lo[i] + (hi[i] - lo[i]) * v).round() as u8)
        .collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The weight at which a head's colour saturates: its 99th percentile, so that a
/// few cells near 1 (row 0 of a causal mask is always exactly 1) do not wash out
/// the rest; the largest weight when that is 0.
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

/// An SVG heatmap of attention weights: one row of panels per entry of `rows`
/// (a label and weights `[heads, seq, seq]`, row: query step, column: key
/// step), one panel per head, each coloured from 0 (white) to that head's
/// 99th-percentile weight (dark blue). `title` goes on top.
///
/// # Panics
/// If `rows` is empty or its weights are not all `[heads, seq, seq]` of one shape.
pub fn attention_svg(rows: &[(String, Tensor)], title: &str) -> String {
    assert!(!rows.is_empty(), "nothing to draw");
    let size = rows[0].1.size();
    assert!(
        size.len() == 3 && size[1] == size[2],
        "attention weights must be [heads, seq, seq], got {size:?}"
    );
    let (heads, seq) = (size[0] as usize, size[1] as usize);
    let panel = 260.0;
    let cell = panel / seq as f64;
    let (left, top, gap, row_gap) = (50.0, 70.0, 40.0, 75.0);
    let width = left + heads as f64 * (panel + gap);
    let height = top + rows.len() as f64 * (panel + row_gap) - 20.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="22" font-size="15">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<text x="{left}" y="42" fill="#555">row: query step t, column: key step (what t attends to); colour from 0 (white) to the head's 99th-percentile weight (dark blue)</text>"##
    );
    for (r, (label, weights)) in rows.iter().enumerate() {
        assert_eq!(weights.size(), size, "every row must have the same shape");
        let w = weights.to_kind(Kind::Double).to_device(tch::Device::Cpu);
        let values: Vec<f64> = Vec::try_from(w.flatten(0, -1)).expect("a double tensor converts");
        let y0 = top + r as f64 * (panel + row_gap);
        for h in 0..heads {
            let x0 = left + h as f64 * (panel + gap);
            let head = &values[h * seq * seq..(h + 1) * seq * seq];
            let max = saturation(head);
            let _ = writeln!(
                svg,
                r#"<text x="{x0}" y="{:.0}">{} head {h} (dark blue ≥ {max:.3})</text>"#,
                y0 - 8.0,
                escape(label)
            );
            for (i, row) in head.chunks(seq).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    if v / max < 0.005 {
                        continue; // white on white
                    }
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{}"/>"#,
                        x0 + j as f64 * cell,
                        y0 + i as f64 * cell,
                        cell + 0.05,
                        cell + 0.05,
                        ramp(v / max)
                    );
                }
            }
            let _ = writeln!(
                svg,
                r##"<rect x="{x0}" y="{y0}" width="{panel}" height="{panel}" fill="none" stroke="#888"/>"##
            );
            for tick in [0, seq / 2, seq - 1] {
                let c = (tick as f64 + 0.5) * cell;
                let _ = writeln!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{tick}</text>"#,
                    x0 + c,
                    y0 + panel + 16.0
                );
                let _ = writeln!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{tick}</text>"#,
                    x0 - 4.0,
                    y0 + c + 4.0
                );
            }
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">key step</text>"##,
                x0 + panel / 2.0,
                y0 + panel + 34.0
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_panel_per_head_and_escaped_title() {
        let w = Tensor::eye(3, (Kind::Float, tch::Device::Cpu)).repeat([2, 1, 1]);
        let svg = attention_svg(&[("last layer".to_string(), w)], "a < b");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("a &lt; b"));
        assert!(svg.contains("head 0") && svg.contains("head 1") && !svg.contains("head 2"));
        // 3 diagonal cells per head, all at the maximum colour.
        assert_eq!(svg.matches("#08306b").count(), 6);
    }
}
