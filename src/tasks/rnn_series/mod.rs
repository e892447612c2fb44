//! The tutorial's RNN (section 4.2) on a real time series: windows of the
//! series in, the value `horizon` steps later out; train, evaluate against
//! the persistence and training-mean baselines, forecast, plot, report.
//!
//! `parity/rnn_series.py` is the PyTorch twin of [`RnnSeries`]: same data, windows,
//! split, scaling, initial weights and batch order.

mod config;
mod forecast;
mod report;
mod task;

pub use config::*;
pub use forecast::*;
use report::*;
pub use task::*;
