//! The training batches of a run: a [`Sampler`] the task owns, drawn epoch
//! by epoch from the run's seed, so that the loop needs no tensors of its
//! own and a language model can sample windows of a corpus instead of
//! materialising them.

use tch::{Device, Tensor};

use super::LoopConfig;
use crate::data::Batches;

/// One training batch: the model's inputs and the targets its loss needs.
#[derive(Debug)]
pub struct Batch {
    /// Inputs `[batch, ...]`, on the run's device.
    pub inputs: Tensor,
    /// Targets `[batch, ...]`, on the run's device.
    pub targets: Tensor,
}

impl Batch {
    /// Samples in the batch (its first dimension).
    pub fn len(&self) -> usize {
        self.inputs.size().first().copied().unwrap_or(0) as usize
    }

    /// Whether the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The training batches of every epoch. Epoch `e` (0-based) must be the same
/// sequence whenever it is asked for (a resumed run asks again), so a sampler
/// draws from the run's seed and `e`, never from a generator that carries
/// state across epochs.
pub trait Sampler {
    /// Batches of one epoch.
    fn num_batches(&self) -> usize;
    /// Training samples of one epoch.
    fn num_samples(&self) -> usize;
    /// The batches of epoch `epoch` (0-based), starting after the first
    /// `skip` of them (a run resumed part-way through the epoch).
    fn epoch(&self, epoch: usize, skip: usize) -> Box<dyn Iterator<Item = Batch> + '_>;
}

/// Mini-batches of a pair of tensors in a new seeded order every epoch
/// ([`LoopConfig::order`]), the last partial batch kept: the sampler of the
/// three epoch-based examples, and PyTorch's `DataLoader(shuffle=True)` with
/// the twins' permutation.
#[derive(Debug)]
pub struct ShuffledPairs<'a> {
    xs: &'a Tensor,
    ys: &'a Tensor,
    cfg: &'a LoopConfig,
    device: Device,
}

impl<'a> ShuffledPairs<'a> {
    /// Batches of `cfg.batch_size` samples of `xs`/`ys` (`[n, ...]` each),
    /// moved to `device`.
    pub fn new(xs: &'a Tensor, ys: &'a Tensor, cfg: &'a LoopConfig, device: Device) -> Self {
        Self {
            xs,
            ys,
            cfg,
            device,
        }
    }

    /// [`ShuffledPairs::new`] as the boxed [`Sampler`] a task's `batches` returns.
    pub fn boxed(
        xs: &'a Tensor,
        ys: &'a Tensor,
        cfg: &'a LoopConfig,
        device: Device,
    ) -> Box<dyn Sampler + 'a> {
        Box::new(Self::new(xs, ys, cfg, device))
    }
}

impl Sampler for ShuffledPairs<'_> {
    fn num_batches(&self) -> usize {
        self.num_samples().div_ceil(self.cfg.batch_size.max(1))
    }

    fn num_samples(&self) -> usize {
        self.xs.size().first().copied().unwrap_or(0) as usize
    }

    fn epoch(&self, epoch: usize, skip: usize) -> Box<dyn Iterator<Item = Batch> + '_> {
        let (n, bs) = (self.num_samples(), self.cfg.batch_size);
        let order = self.cfg.order(n, epoch);
        let batches = Batches::new(self.xs, self.ys, bs)
            .order(&order)
            .to_device(self.device)
            .skip_samples((skip * bs).min(n));
        Box::new(batches.map(|(inputs, targets)| Batch { inputs, targets }))
    }
}
