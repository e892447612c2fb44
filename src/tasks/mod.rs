//! The three examples as [`crate::session::Task`]s: each supplies its
//! configuration, data, model, scoring and report; [`crate::session`] runs them.

pub mod cnn_mnist;
pub mod rnn_series;
pub mod transformer_lm;
pub mod transformer_seq;
