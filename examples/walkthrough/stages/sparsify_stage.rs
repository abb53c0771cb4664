//! TEMPORARY stage `sparsified`: a one-shot stand-in for the sparsify stage.
//!
//! The real stage trains with the SparsifyCallback, which zeroes filters gradually while the
//! network adapts. Until it is wired in, this file zeroes, in one step and without training, the
//! half of each convolution's filters with the smallest L1 norm (fasterai's `large_final`
//! criterion at filter granularity, local context), together with their bias and the γ and β of
//! the BatchNorm after them, so that those channels output exactly zero. The prune stage that
//! follows finds them with `PrunePlan::from_zero_filters` and fine-tunes. Replace this file, and
//! its one call in `main.rs`, by the callback stage.

use fasterai::compress::sparsify::{
    local_mask, ConvGranularity, Criteria, Criterion, Granularity, LayerSparsity, WeightState,
};
use fasterai::learn::{BatchInput, Classifier};
use fasterai::model::{read_tensor, write_tensors};
use fasterai::prelude::*;

use super::error::{InStage, StageError};
use super::measuring::CLASSES;
use super::story::Story;

/// The stage name of the sparsified model in the report.
pub const SPARSIFIED: &str = "sparsified";

/// The share of each convolution's filters zeroed, in percent.
pub const FILTER_SPARSITY_PERCENT: f64 = 50.0;

const EXPLANATION: &str = "Sparsified (temporary one-shot version): half of each convolution's filters, \
    those with the smallest weights, are set to zero. Nothing is removed yet, so size and speed do not \
    change: zeros are stored and multiplied like any other number. It marks what the next stage can cut.";

/// Zeroes [`FILTER_SPARSITY_PERCENT`] of the filters of every convolution of `model` (see the
/// module docs), records the per-layer sparsity and the `sparsified` row, and returns the model.
pub fn sparsify_one_shot<M, X>(story: &mut Story<X>, mut model: M) -> Result<M, StageError>
where
    M: Classifier<X, CLASSES> + Compressible + Sync,
    X: BatchInput,
{
    let sparsity = Sparsity::from_percent(FILTER_SPARSITY_PERCENT).stage(SPARSIFIED)?;
    zero_smallest_filters(&mut model, sparsity).stage(SPARSIFIED)?;
    story.set_sparsity(layer_sparsity(&model).stage(SPARSIFIED)?);
    for (layer, percent) in story.sparsity() {
        println!("  sparsity of {layer}: {percent:.2}%");
    }
    let mut learn = story.learner(model);
    story.record(SPARSIFIED, EXPLANATION, &mut learn)?;
    Ok(learn.into_model())
}

/// In every convolution of `model`, zeroes the `sparsity` share of filters with the smallest L1
/// norm: their weights, their bias entries, and γ and β of the BatchNorm that follows.
pub fn zero_smallest_filters<M>(model: &mut M, sparsity: Sparsity) -> Result<()>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let criteria = Criteria::new(Criterion::LargeFinal);
    let filters = Granularity::Conv(ConvGranularity::Filter);
    for layer in M::LAYERS {
        let LayerKindInfo::Conv2D { bias, .. } = layer.kind else { continue };
        let weight = read_tensor(model, &format!("{}.weight", layer.name))?;
        let scores = criteria.scores(&WeightState::new(&weight.data, &weight.shape), filters)?;
        let keep = local_mask(&scores.values, sparsity, None)?;
        let weight_mask = filters.broadcast(&keep, &scores.shape, &weight.shape)?;

        let mut updates: Vec<(String, Vec<f32>)> = Vec::new();
        let masked = |values: &[f32], mask: &[f32]| values.iter().zip(mask).map(|(v, m)| v * m).collect();
        updates.push((weight.name.clone(), masked(&weight.data, &weight_mask)));
        let mut per_channel = Vec::new();
        if bias {
            per_channel.push(format!("{}.bias", layer.name));
        }
        if let Some(bn) = M::COUPLINGS.iter().find(|c| c.producer == layer.name).and_then(|c| c.batch_norm) {
            per_channel.push(format!("{bn}.weight"));
            per_channel.push(format!("{bn}.bias"));
        }
        for name in per_channel {
            let tensor = read_tensor(model, &name)?;
            updates.push((name, masked(&tensor.data, &keep)));
        }
        let borrowed: Vec<(&str, &[f32])> = updates.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        write_tensors(model, &borrowed)?;
    }
    Ok(())
}

/// The share of zero weights of every convolution and linear layer, in percent.
pub fn layer_sparsity<M>(model: &M) -> Result<Vec<(String, f64)>>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let mut layers = Vec::new();
    for layer in M::LAYERS {
        if matches!(layer.kind, LayerKindInfo::Conv2D { .. } | LayerKindInfo::Linear { .. }) {
            let weight = read_tensor(model, &format!("{}.weight", layer.name))?;
            let measured = LayerSparsity::measure(layer.name, &weight.data);
            layers.push((layer.name.to_string(), measured.sparsity().percent()));
        }
    }
    Ok(layers)
}
