//! Every picture the examples draw, with `plotters`' SVG backend: line charts
//! ([`lines`]), the `--plot` figure of rnn_series ([`forecast`]), the
//! attention heatmap of transformer_seq ([`heatmap`]) and the learning curves
//! of several runs' `--metrics-json` reports ([`curves`], the `plot_curves`
//! example). [`svg`] holds what they share: the `*.svg` check and the atomic
//! write.
//!
//! Only SVG is written: it needs no fonts, no bitmap encoder and no system
//! library, and every browser shows it.

pub mod curves;
pub mod forecast;
pub mod heatmap;
pub mod lines;
pub mod svg;

pub use lines::{write_svg, Line, Panel};
