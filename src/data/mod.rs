//! Data: file readers (IDX, CSV series), batching and the seeded batch order.

pub mod batch;
pub mod csv;
pub mod encoding;
pub mod idx;
pub mod labelled_text;
pub mod mnist;
pub mod numbers;
pub mod sequence;
pub mod series;
pub mod shuffle;
pub mod source;
pub mod text;
pub mod time;
pub mod windows;
pub mod workbook;

pub use batch::Batches;
pub use shuffle::{permutation, step_seed};
