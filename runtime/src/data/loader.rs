//! Cutting datasets into batches.

use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use super::Dataset;

/// One batch: `len` images laid out one after the other, and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Pixels of `len` images, each `C×H×W` row-major.
    pub images: Vec<f32>,
    /// One label per image.
    pub labels: Vec<usize>,
    /// `[C, H, W]` of one image.
    pub shape: [usize; 3],
}

impl Batch {
    /// Number of images in the batch.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A training and a validation set with a batch size and a shuffling seed.
///
/// ```
/// use fasterai_runtime::data::{DataLoaders, Dataset};
/// let train = Dataset::new(vec![0.0; 5], vec![0, 1, 0, 1, 0], [1, 1, 1], 2).unwrap();
/// let valid = train.clone();
/// let dls = DataLoaders::new(train, valid, 2, 42);
/// let batches: Vec<_> = dls.train_batches(0).collect();
/// assert_eq!(batches.iter().map(|b| b.len()).collect::<Vec<_>>(), [2, 2, 1]);
/// ```
#[derive(Debug, Clone)]
pub struct DataLoaders {
    /// The set the model learns from.
    pub train: Dataset,
    /// The set the model is evaluated on.
    pub valid: Dataset,
    /// Images per batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Seed of the per-epoch shuffle.
    pub seed: u64,
}

impl DataLoaders {
    /// Pairs two sets. `batch_size` is at least 1.
    pub fn new(train: Dataset, valid: Dataset, batch_size: usize, seed: u64) -> Self {
        Self { train, valid, batch_size: batch_size.max(1), seed }
    }

    /// The training batches of `epoch`, shuffled from `seed` and `epoch`; every sample once,
    /// the last partial batch kept.
    pub fn train_batches(&self, epoch: usize) -> impl Iterator<Item = Batch> + '_ {
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        let mut rng = StdRng::seed_from_u64(self.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        order.shuffle(&mut rng);
        batches(&self.train, order, self.batch_size)
    }

    /// The validation batches, in order.
    pub fn valid_batches(&self) -> impl Iterator<Item = Batch> + '_ {
        batches(&self.valid, (0..self.valid.len()).collect(), self.batch_size)
    }

    /// Number of training batches per epoch.
    pub fn train_len(&self) -> usize {
        self.train.len().div_ceil(self.batch_size)
    }
}

fn batches(ds: &Dataset, order: Vec<usize>, batch_size: usize) -> impl Iterator<Item = Batch> + '_ {
    let shape = ds.shape();
    let n = ds.image_len();
    (0..order.len().div_ceil(batch_size)).map(move |b| {
        let idx = &order[b * batch_size..((b + 1) * batch_size).min(order.len())];
        let mut images = Vec::with_capacity(idx.len() * n);
        for &i in idx {
            images.extend_from_slice(ds.image(i));
        }
        Batch { images, labels: idx.iter().map(|&i| ds.label(i)).collect(), shape }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` one-pixel images whose pixel is their index, labels index mod 3.
    fn numbered(n: usize) -> Dataset {
        Dataset::new((0..n).map(|i| i as f32).collect(), (0..n).map(|i| i % 3).collect(), [1, 1, 1], 3)
            .unwrap()
    }

    fn epoch_order(dls: &DataLoaders, epoch: usize) -> Vec<usize> {
        dls.train_batches(epoch).flat_map(|b| b.images.into_iter().map(|x| x as usize)).collect()
    }

    #[test]
    fn each_epoch_visits_every_sample_once_and_keeps_the_last_partial_batch() {
        let dls = DataLoaders::new(numbered(103), numbered(10), 10, 5);
        assert_eq!(dls.train_len(), 11);
        for epoch in 0..3 {
            let batches: Vec<Batch> = dls.train_batches(epoch).collect();
            let sizes: Vec<usize> = batches.iter().map(Batch::len).collect();
            assert_eq!(sizes, [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
            let mut seen = epoch_order(&dls, epoch);
            seen.sort_unstable();
            assert_eq!(seen, (0..103).collect::<Vec<_>>(), "epoch {epoch}");
            for b in &batches {
                assert_eq!(b.images.len(), b.len());
                assert_eq!(b.shape, [1, 1, 1]);
                for (x, &label) in b.images.iter().zip(&b.labels) {
                    assert_eq!(label, *x as usize % 3, "label travels with its image");
                }
            }
        }
    }

    #[test]
    fn shuffles_differ_between_epochs_and_repeat_for_the_same_seed() {
        let a = DataLoaders::new(numbered(200), numbered(1), 16, 11);
        let b = DataLoaders::new(numbered(200), numbered(1), 16, 11);
        let c = DataLoaders::new(numbered(200), numbered(1), 16, 12);
        assert_ne!(epoch_order(&a, 0), epoch_order(&a, 1));
        assert_ne!(epoch_order(&a, 1), epoch_order(&a, 2));
        assert_ne!(epoch_order(&a, 0), (0..200).collect::<Vec<_>>(), "shuffled, not in order");
        for epoch in 0..3 {
            assert_eq!(epoch_order(&a, epoch), epoch_order(&b, epoch));
            assert_ne!(epoch_order(&a, epoch), epoch_order(&c, epoch));
        }
    }

    #[test]
    fn validation_batches_come_in_order_with_the_last_partial_one() {
        let dls = DataLoaders::new(numbered(1), numbered(7), 3, 0);
        let seen: Vec<Vec<f32>> = dls.valid_batches().map(|b| b.images).collect();
        assert_eq!(seen, vec![vec![0.0, 1.0, 2.0], vec![3.0, 4.0, 5.0], vec![6.0]]);
    }

    #[test]
    fn batch_size_zero_is_raised_to_one() {
        let dls = DataLoaders::new(numbered(3), numbered(3), 0, 0);
        assert_eq!(dls.train_batches(0).count(), 3);
    }
}
