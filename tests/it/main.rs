//! The integration tests, one binary (libtorch is linked once, not once per file):
//! one module per concern, named after the example or the part it checks.
//! Run one concern with `cargo test --release --test it cnn_mnist_parity::`.

mod common;

mod bench_check;
mod checkpoint_formats;
mod checkpoint_settings;
mod cli_help;
mod cnn_mnist_csv;
mod cnn_mnist_errors;
mod cnn_mnist_files;
mod cnn_mnist_finetune;
mod cnn_mnist_interrupt;
mod cnn_mnist_parity;
mod cnn_mnist_predict;
mod config_json_compat;
mod cross_validation;
mod cuda_parity;
mod fuzz_parsers;
mod optim_parity;
mod plot_pictures;
mod quantize;
mod readme_commands;
mod rnn_series_parity;
mod rnn_series_run;
mod series_csv;
mod series_files;
mod torch_resume;
mod torchscript;
mod train_log_every;
mod train_resume;
mod transformer_lm_classify;
mod transformer_lm_parity;
mod transformer_lm_run;
mod transformer_seq_parity;
mod transformer_seq_run;
mod warmup_parity;
