//! Mini-batches over a pair of tensors, in a seeded order, on a chosen device.

use tch::{Device, Tensor};

/// An iterator of `(xs, ys)` mini-batches over the first dimension of two tensors.
///
/// By default it keeps the smaller last batch (unlike tch's `Iter2`, which drops
/// it) and visits samples in order; [`Batches::order`] sets a permutation (see
/// [`super::shuffle::permutation`]) and [`Batches::to_device`] the device the
/// batches are moved to.
#[derive(Debug)]
pub struct Batches<'a> {
    xs: &'a Tensor,
    ys: &'a Tensor,
    order: Option<Tensor>,
    batch_size: i64,
    len: i64,
    pos: i64,
    drop_last: bool,
    device: Device,
}

impl<'a> Batches<'a> {
    /// Batches of `batch_size` samples of `xs` and `ys`, whose first dimensions
    /// must agree.
    ///
    /// # Panics
    /// If `batch_size < 1` or the first dimensions differ: both are programming
    /// errors, checked where user input enters.
    pub fn new(xs: &'a Tensor, ys: &'a Tensor, batch_size: usize) -> Self {
        let len = xs.size().first().copied().unwrap_or(0);
        assert!(batch_size >= 1, "batch size must be at least 1");
        assert_eq!(
            len,
            ys.size().first().copied().unwrap_or(0),
            "inputs and targets must hold the same number of samples"
        );
        Self {
            xs,
            ys,
            order: None,
            batch_size: batch_size as i64,
            len,
            pos: 0,
            drop_last: false,
            device: xs.device(),
        }
    }

    /// Visits the samples in `order` (a permutation of `0..len`).
    pub fn order(mut self, order: &[i64]) -> Self {
        assert_eq!(
            order.len() as i64,
            self.len,
            "the order must be a permutation of every sample"
        );
        self.order = Some(Tensor::from_slice(order).to_device(self.xs.device()));
        self
    }

    /// Drops the last batch when it is smaller than the batch size.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Moves each batch to `device` (a no-op when the data already live there).
    pub fn to_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Starts after the first `n` samples of the order (resuming an epoch part-way).
    pub(crate) fn skip_samples(mut self, n: usize) -> Self {
        self.pos = (n as i64).min(self.len);
        self
    }

    /// Number of samples.
    pub fn samples(&self) -> i64 {
        self.len
    }

    /// Number of batches the iterator yields.
    pub fn num_batches(&self) -> i64 {
        if self.drop_last {
            self.len / self.batch_size
        } else {
            (self.len + self.batch_size - 1) / self.batch_size
        }
    }
}

impl Iterator for Batches<'_> {
    type Item = (Tensor, Tensor);

    fn next(&mut self) -> Option<Self::Item> {
        let size = self.batch_size.min(self.len - self.pos);
        if size <= 0 || (self.drop_last && size < self.batch_size) {
            return None;
        }
        let (xs, ys) = match &self.order {
            Some(order) => {
                let idx = order.narrow(0, self.pos, size);
                (self.xs.index_select(0, &idx), self.ys.index_select(0, &idx))
            }
            None => (
                self.xs.narrow(0, self.pos, size),
                self.ys.narrow(0, self.pos, size),
            ),
        };
        self.pos += size;
        Some((xs.to_device(self.device), ys.to_device(self.device)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn keeps_the_last_partial_batch_unless_told() {
        let xs = Tensor::arange(10, (Kind::Float, Device::Cpu));
        let ys = Tensor::arange(10, (Kind::Int64, Device::Cpu));
        let sizes: Vec<i64> = Batches::new(&xs, &ys, 4)
            .map(|(x, _)| x.size()[0])
            .collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        assert_eq!(Batches::new(&xs, &ys, 4).num_batches(), 3);
        let sizes: Vec<i64> = Batches::new(&xs, &ys, 4)
            .drop_last(true)
            .map(|(x, _)| x.size()[0])
            .collect();
        assert_eq!(sizes, vec![4, 4]);
    }

    #[test]
    fn follows_the_given_order() {
        let xs = Tensor::arange(5, (Kind::Float, Device::Cpu)) * 10.0;
        let ys = Tensor::arange(5, (Kind::Int64, Device::Cpu));
        let order = [3, 1, 4, 0, 2];
        let got: Vec<i64> = Batches::new(&xs, &ys, 2)
            .order(&order)
            .flat_map(|(_, y)| Vec::<i64>::try_from(&y).expect("labels are i64"))
            .collect();
        assert_eq!(got, order);
    }
}
