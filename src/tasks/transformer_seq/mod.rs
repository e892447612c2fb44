//! transformer_seq: the tutorial's section 4.3 sequence model (an LSTM named
//! `Transformer`) next to a real Transformer encoder, on one sequence task with
//! input size 10 and one target per time step, as in the tutorial's script.
//! The data (`--task series` or `recall`) is described in
//! [`crate::data::sequence`], the models in [`crate::models::seq_model`].

mod config;
mod report;
mod task;

pub use config::*;
use report::*;
pub use task::*;
