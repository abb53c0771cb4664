//! Lottery tickets (Frankle & Carbin): train, prune, then rewind the surviving weights to an early
//! snapshot and train that sparse network again.
//!
//! With a [`LotteryTicket`] on a [`SparsifyCallback`](super::SparsifyCallback):
//! - at the start of epoch `rewind_epoch`, the chosen layers' weights and biases are kept;
//! - each time the mask changes, the weights that survive it go back to that snapshot (the dropped
//!   ones stay at 0);
//! - with `reset_end`, they go back once more at the end of training (the "supermask": the mask
//!   found by training, on the snapshot's weights);
//! - init-based criteria (`large_init`, `movement`, ...) compare against the snapshot.
//!
//! The snapshot must exist before the first mask, so the rewind epoch may not come after the
//! epoch the schedule starts pruning at; [`LotteryTicket::check`] refuses it before training.
//!
//! ```
//! use fasterai_runtime::compress::sparsify::{LotteryTicket, SparsitySchedule};
//! let ticket = LotteryTicket::new(1).reset_end(true);
//! // agp starts at 20% of training: epoch 2 of 10.
//! assert!(ticket.check(&SparsitySchedule::agp(), 10).is_ok());
//! assert!(ticket.check(&SparsitySchedule::agp(), 4).unwrap_err().to_string().contains("epoch 0.80 of 4"));
//! ```

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;

use super::sparsity_schedule::SparsitySchedule;
use super::sparsifier::{apply_masks, LayerMask};
use super::target::SparsifyTarget;
use crate::compress::CompressError;
use crate::model::{read_tensor, write_tensors};

/// Lottery-ticket settings (fasterai's `lth`, `rewind_epoch`, `reset_end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LotteryTicket {
    /// The epoch at whose start the weights are kept (0: the weights training starts from).
    pub rewind_epoch: usize,
    /// Whether to rewind once more when training ends.
    pub reset_end: bool,
}

impl LotteryTicket {
    /// Rewinds to the weights at the start of `rewind_epoch`, not at the end.
    pub fn new(rewind_epoch: usize) -> Self {
        Self { rewind_epoch, reset_end: false }
    }

    /// Also rewinds when training ends.
    pub fn reset_end(self, reset_end: bool) -> Self {
        Self { reset_end, ..self }
    }

    /// Checks that the snapshot is taken no later than `schedule` starts pruning in a fit of
    /// `n_epochs` epochs (at `start_pct · n_epochs`). Errors with [`CompressError::RewindAfterStart`].
    pub fn check(&self, schedule: &SparsitySchedule, n_epochs: usize) -> Result<(), CompressError> {
        let start_epoch = schedule.start_pct() * n_epochs as f64;
        // A tolerance for start_pct·n_epochs landing a hair below an integer.
        if self.rewind_epoch as f64 > start_epoch + 1e-9 {
            return Err(CompressError::RewindAfterStart { rewind_epoch: self.rewind_epoch, start_epoch, n_epochs });
        }
        Ok(())
    }
}

/// The weights and biases of the chosen layers at one point of training.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// `(tensor name, values)`: each target's weight, then its bias if it has one.
    tensors: Vec<(String, Vec<f32>)>,
}

impl Snapshot {
    /// Copies the weights and biases of `targets`.
    pub(crate) fn take<M: TensorCollection<f32, Cpu>>(
        model: &M,
        targets: &[SparsifyTarget],
    ) -> Result<Self, CompressError> {
        let mut tensors = Vec::new();
        for t in targets {
            for name in std::iter::once(t.weight_name()).chain(t.bias_name()) {
                let values = read_tensor(model, &name)?.data;
                tensors.push((name, values));
            }
        }
        Ok(Self { tensors })
    }

    /// The kept weight of layer `layer`.
    pub(crate) fn weight(&self, layer: &str) -> Option<&[f32]> {
        let name = format!("{layer}.weight");
        self.tensors.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_slice())
    }

    /// Writes the snapshot back, then applies `masks`: the surviving weights take their snapshot
    /// values, the dropped ones stay 0.
    pub(crate) fn rewind<M: TensorCollection<f32, Cpu>>(
        &self,
        model: &mut M,
        masks: &[LayerMask],
    ) -> Result<(), CompressError> {
        let refs: Vec<(&str, &[f32])> = self.tensors.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        write_tensors(model, &refs)?;
        apply_masks(model, masks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rewind_epoch_may_not_follow_the_start_of_pruning() {
        // (schedule, epochs, rewind epoch, accepted, reason)
        let rows = [
            (SparsitySchedule::cos(), 5, 0, true, "cos starts at once: only epoch 0"),
            (SparsitySchedule::cos(), 5, 1, false, "cos starts at once"),
            (SparsitySchedule::one_shot(), 4, 2, true, "one_shot prunes at half: epoch 2"),
            (SparsitySchedule::one_shot(), 4, 3, false, "epoch 3 is after the half"),
            (SparsitySchedule::agp(), 5, 1, true, "agp starts at 20%: epoch 1 exactly"),
            (SparsitySchedule::agp(), 3, 1, false, "20% of 3 epochs is 0.6"),
        ];
        for (schedule, n_epochs, rewind, ok, why) in rows {
            let result = LotteryTicket::new(rewind).check(&schedule, n_epochs);
            assert_eq!(result.is_ok(), ok, "{why}: {result:?}");
        }
    }
}
