//! The tutorial's CNN on MNIST (section 4.1): train, evaluate, report.

mod config;
mod predict;
mod report;
mod task;

pub use config::*;
pub use predict::*;
use report::*;
pub use task::*;
