//! Every picture the examples draw, with `plotters`' SVG backend: line charts
//! ([`lines`]: learning curves and series), the `--plot` figure of
//! rnn_series ([`forecast`]) and the attention heatmap of transformer_seq
//! ([`heatmap`]).
//!
//! Only SVG is written: it needs no fonts, no bitmap encoder and no system
//! library, and every browser shows it.

pub mod forecast;
pub mod heatmap;
pub mod lines;
pub mod svg;

pub use lines::{write_svg, Line, Panel};
