//! Models, built as structs of layers whose `nn::Path` names equal the PyTorch
//! modules' attribute names, so VarStore keys equal `state_dict` keys.

pub mod cnn;
pub mod gpt;
pub mod init;
pub mod linear;
pub mod mnist;
pub mod rnn;
pub mod seq_lstm;
pub mod seq_model;
pub mod transformer;

pub use cnn::{Cnn, CnnConfig};
pub use gpt::{Gpt, GptConfig};
pub use linear::Linear;
pub use mnist::MnistModel;
pub use rnn::{CellKind, RecurrentNet, RnnConfig};
pub use seq_lstm::{SeqLstm, SeqLstmConfig};
pub use seq_model::{Arch, SeqModel};
pub use transformer::{SeqTransformer, TransformerConfig};
