//! `accelerate`: freeze a derived model into an fp32 inference plan. BatchNorms are folded, ReLUs
//! fused, weights laid out once for the GEMM, and every activation buffer allocated at build time;
//! a run touches no tape and allocates nothing.
//!
//! Each conv's kernel is chosen when the plan is built (`conv_kernel.rs`). Stride-1 convolutions
//! run on [`ConvF32`](crate::kernels::ConvF32) (patch rows read in place from the padded image,
//! bias and ReLU fused, split over the spinning threads of [`crate::kernels::team::Team`] when
//! large enough), or, for 3×3 kernels over many channels on maps of 8×8 or more, on
//! [`WinogradConv`](crate::kernels::WinogradConv). Where the table has AVX-512, strided convs and
//! maps under 8×8 of many channels run on [`LanesConvF32`](crate::kernels::LanesConvF32) (output
//! channels in lanes); elsewhere stride-2 convs run as stride-1 convs over the input's phases
//! ([`SpaceToDepth`](crate::kernels::SpaceToDepth)) on `ConvF32`, their zero taps left out. Other
//! convs run as im2col + the packed GEMM of [`crate::kernels::gemm`] (on the rayon pool). Linear layers
//! run as a matrix-vector product, pooling on the slice kernels of [`crate::kernels::pool::slices`].
//! Runs of direct convs ending in an unpadded max pool run as *bands* ([`super::bands`]): each
//! thread takes the whole run over its own rows, so activations stay in its core's cache.

use std::marker::PhantomData;

use dfdx::nn::TensorCollection;
use dfdx::prelude::Cpu;

use super::bands::{BandLayer, BandSchedule, RowMap};
use crate::kernels::pool::max_pool_rows;
use super::dynamic::{DynamicLinear, DynamicScratch};
use super::graph::{folded_weights, plan_nodes, FoldedWeights, Node, Op};
use super::DeployError;
use crate::kernels::{
    ConvGeometry, ConvScratchF32, OutPtr, Parallelism, WinogradScratch,
};
use crate::measure::Bytes;
use crate::model::{Compressible, ShapeInfo};
use crate::kernels::team::Team;
use super::residual::{add_f32, Skips};

mod conv_kernel;
mod run_layer;
use conv_kernel::ConvKernel;
use run_layer::{gemm_conv, hw, relu_in_place, run_layer, Scratch};

/// Layers with at least this many multiply-accumulates run their GEMM on every core; smaller ones
/// finish before threads would have started.
const PARALLEL_MACS: usize = 1 << 20;

/// One layer of the plan with its weights in the layout its kernel reads.
#[derive(Debug, Clone)]
struct Layer {
    node: Node,
    /// Out-channel-major weight: row `o` holds every weight of output `o` (`[O, C·K·K]` or `[O, I]`);
    /// empty once a direct kernel holds the weights in its own layout (or [`quantize_dynamic`] did).
    weight: Vec<f32>,
    /// Weights the layer stores, in `weight` or in its kernel's layout.
    weight_count: usize,
    bias: Option<Vec<f32>>,
    /// Convolution geometry (conv layers only).
    geometry: Option<ConvGeometry>,
    /// The `i8` form of a linear layer after [`quantize_dynamic`] (its `f32` weights are then dropped).
    dynamic: Option<DynamicLinear>,
    /// Stride-1 convolutions: their kernel with its weights laid out for it (the im2col + GEMM
    /// path runs the others).
    direct: Option<ConvKernel>,
    /// `Some(relu)` for a conv that ends a residual block (an `Add` follows it): its kernel can add
    /// the other side in its output stage, then the add's ReLU.
    ends_block: Option<bool>,
}

impl Layer {
    /// The layer as the band schedule sees it, if it is row-local: a direct conv, or a max pool
    /// with an unpadded window over a map.
    fn band(&self) -> Option<BandLayer> {
        let (input, output) = (self.node.input.numel(), self.node.output.numel());
        let (ShapeInfo::Chw { h, .. }, ShapeInfo::Chw { h: out_h, .. }) = (self.node.input, self.node.output) else {
            return None;
        };
        let (map, macs) = match (&self.direct, self.node.op) {
            (Some(ConvKernel::Direct(conv)), _) => {
                let g = conv.geometry();
                (RowMap::Conv { kernel: g.kernel(), padding: g.padding() }, self.weight_count * g.out_len())
            }
            (None, Op::MaxPool(window)) if window.padding == 0 => (RowMap::Pool { kernel: window.kernel, stride: window.stride }, 0),
            _ => return None,
        };
        Some(BandLayer { map, rows: (h, out_h), len: (input, output), macs })
    }

    /// Output rows `rows` of this row-local layer (see [`Self::band`]) into `out`.
    ///
    /// # Safety
    /// No other thread may reach rows `rows` of `out` while this runs.
    unsafe fn run_rows(&self, x: &[f32], out: &OutPtr<'_>, rows: std::ops::Range<usize>, padded: &mut Vec<f32>, add: Option<bool>) -> Result<(), DeployError> {
        let (c, h, w) = hw(self.node.input);
        // SAFETY: passed on from the caller.
        unsafe {
            match (&self.direct, self.node.op) {
                (Some(ConvKernel::Direct(conv)), _) => conv.forward_rows(x, out, rows, padded, add)?,
                (None, Op::MaxPool(window)) => max_pool_rows(x, c, (h, w), window, out, rows)?,
                _ => unreachable!("the band schedule holds only row-local layers"),
            }
        }
        Ok(())
    }

    fn parallelism(&self) -> Parallelism {
        let macs = match self.geometry {
            Some(g) => self.weight_count * g.out_len(),
            None => self.weight_count,
        };
        if macs >= PARALLEL_MACS {
            Parallelism::AllCores
        } else {
            Parallelism::Sequential
        }
    }
}

/// The fp32 inference plan of a model of type `M` (kept in the type so plans of different models
/// cannot be mixed up). Build it with [`accelerate`].
pub struct Accelerated<M> {
    layers: Vec<Layer>,
    input: ShapeInfo,
    output: ShapeInfo,
    front: Vec<f32>,
    back: Vec<f32>,
    col: Vec<f32>,
    scratch: DynamicScratch,
    padded: ConvScratchF32,
    /// The padded image of the [`LanesConvF32`](crate::kernels::LanesConvF32) convs.
    lanes_padded: Vec<f32>,
    winograd: WinogradScratch,
    /// The inputs and main paths of the residual blocks open during a run.
    skips: Skips<f32>,
    /// Runs of row-local layers each thread runs over its own band of rows ([`BandSchedule`]).
    bands: BandSchedule<f32>,
    /// Whether the convs that end residual blocks add the skip themselves ([`Self::set_fused_adds`]).
    fuse_adds: bool,
    model: PhantomData<fn() -> M>,
}

// By hand: derives would require `M: Debug`/`M: Clone`, though no `M` is stored.
impl<M> Clone for Accelerated<M> {
    fn clone(&self) -> Self {
        Self {
            layers: self.layers.clone(),
            input: self.input,
            output: self.output,
            front: self.front.clone(),
            back: self.back.clone(),
            col: self.col.clone(),
            scratch: self.scratch.clone(),
            padded: self.padded.clone(),
            lanes_padded: self.lanes_padded.clone(),
            winograd: self.winograd.clone(),
            skips: self.skips.clone(),
            bands: self.bands.clone(),
            fuse_adds: self.fuse_adds,
            model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Accelerated<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accelerated")
            .field("model", &std::any::type_name::<M>())
            .field("input", &self.input)
            .field("output", &self.output)
            .field("nodes", &self.layers.iter().map(|l| l.node).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Freezes `model` into an fp32 inference plan: BatchNorms folded, ReLUs fused, buffers allocated.
///
/// Errors name the layer that cannot run (an activation other than ReLU, a BatchNorm that does not
/// directly follow its conv/linear layer); nothing falls back silently.
///
/// ```
/// use fasterai_runtime::deploy::accelerate;
/// use fasterai_runtime::prelude::*;
/// # use fasterai_runtime::model::Coupling;
/// # // What `#[derive(Compressible)]` (crate `fasterai`) writes for `struct Net { fc: Linear<3, 2>, relu: ReLU }`:
/// # struct Net<E: Dtype = f32, D: Device<E> = Cpu> { fc: Linear<3, 2, E, D> }
/// # impl TensorCollection<f32, Cpu> for Net {
/// #     type To<E2: Dtype, D2: Device<E2>> = Net<E2, D2>;
/// #     fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(v: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
/// #         v.visit_fields(Self::module("fc", |s| &s.fc, |s| &mut s.fc), |fc| Net { fc })
/// #     }
/// # }
/// # impl Compressible for Net {
/// #     const INPUT: ShapeInfo = ShapeInfo::Flat { n: 3 };
/// #     const LAYERS: &'static [LayerInfo] = &[
/// #         LayerInfo { name: "fc", kind: LayerKindInfo::Linear { in_features: 3, out_features: 2, bias: true },
/// #             input: ShapeInfo::Flat { n: 3 }, output: ShapeInfo::Flat { n: 2 }, params: 8, macs: 6, tapped: false },
/// #         LayerInfo { name: "relu", kind: LayerKindInfo::Activation { name: "ReLU" },
/// #             input: ShapeInfo::Flat { n: 2 }, output: ShapeInfo::Flat { n: 2 }, params: 0, macs: 0, tapped: false },
/// #     ];
/// #     const COUPLINGS: &'static [Coupling] = &[];
/// # }
/// let dev = Cpu::default();
/// let mut fc: Linear<3, 2> = BuildModule::build(&dev);
/// fc.weight = dev.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]);
/// fc.bias = dev.tensor([0.5, 0.0]);
/// let model = Net { fc }; // fc → ReLU
/// let mut plan = accelerate(&model)?;
/// assert_eq!(plan.run(&[1.0, 2.0, 3.0])?, &[1.5, 0.0]);
/// assert_eq!(plan.parameters(), 8);
/// let latency = cpu_latency(|x| plan.run(x).map(|y| y[0]), &[1.0, 2.0, 3.0][..], &LatencyOptions::default().runs(5))?;
/// assert_eq!(latency.runs, 5);
/// # Ok::<(), fasterai_runtime::Error>(())
/// ```
pub fn accelerate<M>(model: &M) -> Result<Accelerated<M>, DeployError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let mut layers = Vec::new();
    let (mut widest, mut widest_col) = (M::INPUT.numel(), 0);
    let mut widest_padded = 0;
    for node in plan_nodes::<M>()? {
        let FoldedWeights { weight, bias } = folded_weights(model, &node)?.unwrap_or_default();
        let geometry = match (node.op, node.input) {
            (Op::Conv { kernel, stride, padding, .. }, ShapeInfo::Chw { c, h, w }) => {
                Some(ConvGeometry::new(c, h, w, kernel, stride, padding)?)
            }
            _ => None,
        };
        let direct = match (node.op, geometry) {
            (Op::Conv { out_channels, relu, .. }, Some(g)) => {
                let chosen = ConvKernel::choose(g, &weight, out_channels, bias.as_deref(), relu)?;
                (widest_col, widest_padded) = (widest_col.max(chosen.col), widest_padded.max(chosen.padded));
                chosen.kernel
            }
            _ => None,
        };
        widest = widest.max(node.output.numel());
        let weight_count = weight.len();
        // A direct kernel keeps its own copy of the weights: the row-major one would only take memory.
        let weight = if direct.is_some() { Vec::new() } else { weight };
        layers.push(Layer { node, weight, weight_count, bias, geometry, dynamic: None, direct, ends_block: None });
    }
    for i in 1..layers.len() {
        if let (Op::Conv { relu: false, .. }, Op::Add { relu }) = (layers[i - 1].node.op, layers[i].node.op) {
            layers[i - 1].ends_block = Some(relu);
        }
    }
    let row_local: Vec<Option<BandLayer>> = layers.iter().map(Layer::band).collect();
    Ok(Accelerated {
        bands: BandSchedule::new(&row_local, Team::global().threads()),
        layers,
        input: M::INPUT,
        output: M::output(),
        front: vec![0.0; widest],
        back: vec![0.0; widest],
        col: vec![0.0; widest_col],
        scratch: DynamicScratch::default(),
        padded: ConvScratchF32::default(),
        lanes_padded: Vec::with_capacity(widest_padded),
        winograd: WinogradScratch::default(),
        skips: Skips::new(widest),
        fuse_adds: true,
        model: PhantomData,
    })
}

/// [`accelerate`], then every linear layer quantized dynamically ([`DynamicLinear`]): `i8` weights,
/// the input of each call quantized from its own range, `f32` out. Convolutions stay `f32`. Needs no
/// calibration data.
pub fn quantize_dynamic<M>(model: &M) -> Result<Accelerated<M>, DeployError>
where
    M: Compressible + TensorCollection<f32, Cpu>,
{
    let mut plan = accelerate(model)?;
    for layer in &mut plan.layers {
        if let Op::Linear { out_features, .. } = layer.node.op {
            layer.dynamic = Some(DynamicLinear::new(&layer.weight, out_features, layer.bias.as_deref())?);
            layer.weight = Vec::new();
            layer.bias = None;
        }
    }
    Ok(plan)
}

impl<M> Accelerated<M> {
    /// Values of one input image.
    pub fn input_len(&self) -> usize {
        self.input.numel()
    }

    /// Values of one output (the logits).
    pub fn output_len(&self) -> usize {
        self.output.numel()
    }

    /// Weights and biases stored (after folding: a folded BatchNorm leaves only a bias per channel).
    pub fn parameters(&self) -> usize {
        let own = |l: &Layer| l.weight_count + l.bias.as_ref().map_or(0, Vec::len);
        self.layers.iter().map(|l| l.dynamic.as_ref().map_or_else(|| own(l), DynamicLinear::parameters)).sum()
    }

    /// Bytes of the stored weights and biases: 4 per `f32` value; dynamically quantized linear
    /// layers hold 1 per weight plus their `f32` scales and biases.
    pub fn size_bytes(&self) -> Bytes {
        let own = |l: &Layer| 4 * (l.weight_count + l.bias.as_ref().map_or(0, Vec::len));
        Bytes(self.layers.iter().map(|l| l.dynamic.as_ref().map_or_else(|| own(l), DynamicLinear::size_bytes) as u64).sum())
    }

    /// Runs one image (`C·H·W` values, NCHW) and returns the output, valid until the next run.
    pub fn run(&mut self, image: &[f32]) -> Result<&[f32], DeployError> {
        self.run_traced(image, None)
    }

    /// Milliseconds each node (or band segment) of a run takes, medians over `runs` runs of
    /// `image`, named by their first layer: for profiling the plan.
    #[doc(hidden)]
    pub fn node_times(&mut self, image: &[f32], runs: usize) -> Result<Vec<(String, f64)>, DeployError> {
        let medians = super::segment_medians(runs, |marks| self.run_traced(image, Some(marks)).map(|_| ()))?;
        Ok(medians.into_iter().map(|(start, ms)| (self.layers[start].node.layer.to_string(), ms)).collect())
    }

    /// [`Self::run`], pushing `(next node, now)` after every node or band segment into `trace`.
    fn run_traced(&mut self, image: &[f32], mut trace: Option<&mut Vec<(usize, std::time::Instant)>>) -> Result<&[f32], DeployError> {
        self.check_input(image)?;
        self.skips.reset();
        let mut len = image.len();
        self.front[..len].copy_from_slice(image);
        let mut index = 0;
        // Whether the layer at `index` reads its input from the block just opened in place.
        let mut input_kept = false;
        while index < self.layers.len() {
            (index, len) = match self.bands.starting_at(index) {
                _ if self.forks_in_place(index) => {
                    self.skips.fork_in_place(&mut self.front, len);
                    input_kept = true;
                    (index + 1, len)
                }
                Some(segment) => {
                    let last = segment.layers.end - 1;
                    let out_len = self.layers[last].node.output.numel();
                    let layers = &self.layers;
                    // A segment ending a residual block writes onto the block's other side.
                    let add = self.layers[last].ends_block.filter(|_| self.fuse_adds);
                    let out = match add {
                        Some(_) => self.skips.close_into(out_len, self.layers[last + 1].node.layer)?,
                        None => &mut self.back,
                    };
                    self.bands.run(segment, &self.front[..len], &mut out[..out_len], |i, x, out, rows, padded| {
                        // SAFETY: the schedule hands each thread its own rows of the segment's
                        // output, and its own buffers for the layers inside.
                        unsafe { layers[i].run_rows(x, out, rows, padded, add.filter(|_| i == last)) }
                    })?;
                    std::mem::swap(&mut self.front, out);
                    (segment.layers.end + usize::from(add.is_some()), out_len)
                }
                None => match self.step_fused(index, len)? {
                    Some(out_len) => (index + 2, out_len),
                    None => (index + 1, self.step_layer(index, len, std::mem::take(&mut input_kept))?),
                },
            };
            if let Some(trace) = trace.as_deref_mut() {
                trace.push((index, std::time::Instant::now()));
            }
        }
        Ok(&self.front[..len])
    }

    /// Turns the fused adds on (the default) or off. On, the conv that ends a residual block adds
    /// the other side in its output stage (then the add's ReLU), reading it from where the block
    /// kept it; off, the conv writes its output and a separate pass adds. The outputs agree within
    /// float rounding (the direct kernel starts its sums from the skip; the others add it last).
    ///
    /// ```
    /// # fn demo<M>(plan: &mut fasterai_runtime::deploy::Accelerated<M>) {
    /// plan.set_fused_adds(false);
    /// # }
    /// ```
    pub fn set_fused_adds(&mut self, on: bool) {
        self.fuse_adds = on;
    }

    /// Turns the band schedule on (the default) or off. On, each run of direct convs ending in an
    /// unpadded max pool runs as one job per thread over its own rows; off, every layer is split
    /// over the threads on its own. The outputs are the same bit for bit; only the speed differs.
    ///
    /// ```
    /// # use fasterai_runtime::deploy::accelerate;
    /// # fn demo<M>(plan: &mut fasterai_runtime::deploy::Accelerated<M>) {
    /// plan.set_bands(false);
    /// assert!(plan.banded_layers().is_empty());
    /// # }
    /// ```
    pub fn set_bands(&mut self, on: bool) {
        self.bands.set_enabled(on);
    }

    /// The layers (indices into the plan's nodes) of each run that goes as bands: none on one
    /// thread, on models without such runs, or after [`Self::set_bands`]`(false)`.
    pub fn banded_layers(&self) -> Vec<std::ops::Range<usize>> {
        self.bands.banded()
    }

    /// An error unless `image` has the plan's input length.
    fn check_input(&self, image: &[f32]) -> Result<(), DeployError> {
        if image.len() == self.input_len() {
            return Ok(());
        }
        Err(DeployError::InputLength { expected: self.input_len(), shape: self.input.to_string(), found: image.len() })
    }

    /// Runs the conv at `index` and the `Add` after it as one step, if it ends a residual block and
    /// adds are fused: its output, with the other side added, is then in `front`, and its length is
    /// returned; `None` (nothing run) otherwise.
    fn step_fused(&mut self, index: usize, len: usize) -> Result<Option<usize>, DeployError> {
        let layer = &self.layers[index];
        let Some(relu) = layer.ends_block.filter(|_| self.fuse_adds) else { return Ok(None) };
        let out_len = layer.node.output.numel();
        let side = self.skips.close_into(out_len, self.layers[index + 1].node.layer)?;
        let (x, y) = (&self.front[..len], &mut side[..out_len]);
        let all = Parallelism::AllCores;
        match &layer.direct {
            Some(ConvKernel::Direct(conv)) => conv.forward_add(x, y, &mut self.padded, all, relu)?,
            Some(ConvKernel::Winograd(conv)) => conv.forward_add(x, y, &mut self.winograd, all, relu)?,
            Some(ConvKernel::Lanes(conv)) => conv.forward_add(x, y, &mut self.lanes_padded, all, relu)?,
            Some(ConvKernel::Phases(s2d, conv)) => {
                let phases = &mut self.col[..s2d.len()];
                s2d.rearrange(x, 0.0, phases, true)?;
                conv.forward_add(phases, y, &mut self.padded, all, relu)?
            }
            None => {
                gemm_conv(layer, x, y, &mut self.col, true)?;
                if relu {
                    relu_in_place(y);
                }
            }
        }
        std::mem::swap(&mut self.front, side);
        Ok(Some(out_len))
    }

    /// Whether the block that layer `index` opens keeps its input by trading buffers instead of
    /// copying it: when the next layer is a conv run on its own that does not end the block (it
    /// then reads the input where the block keeps it). A band segment or a conv ending the block
    /// writes onto the kept input while it still reads it.
    fn forks_in_place(&self, index: usize) -> bool {
        let next = index + 1;
        matches!(self.layers[index].node.op, Op::Fork)
            && self.layers.get(next).is_some_and(|l| matches!(l.node.op, Op::Conv { .. }) && l.ends_block.is_none())
            && self.bands.starting_at(next).is_none()
    }

    /// Runs layer `index` on the `len` values in `front` (or, if `input_kept`, where the open block
    /// keeps them); its output is then in `front`, and its length is returned.
    fn step_layer(&mut self, index: usize, len: usize, input_kept: bool) -> Result<usize, DeployError> {
        let layer = &self.layers[index];
        let out_len = layer.node.output.numel();
        match layer.node.op {
            Op::Fork => {
                self.skips.fork(&self.front[..len]);
                return Ok(len);
            }
            Op::Shortcut => {
                return self.skips.shortcut(&mut self.front, len, layer.node.layer);
            }
            Op::Add { relu } => {
                let other = self.skips.close(len, layer.node.layer)?;
                add_f32(&mut self.front[..len], other, relu);
                return Ok(len);
            }
            _ => {}
        }
        let x = if input_kept { self.skips.kept(layer.node.layer)? } else { &self.front[..len] };
        let y = &mut self.back[..out_len];
        let scratch = Scratch { col: &mut self.col, dynamic: &mut self.scratch, direct: &mut self.padded, lanes: &mut self.lanes_padded, winograd: &mut self.winograd };
        if run_layer(layer, x, y, scratch)? {
            std::mem::swap(&mut self.front, &mut self.back);
        } else {
            relu_in_place(&mut self.front[..out_len]);
        }
        Ok(out_len)
    }

    /// Runs `images` (`n` images one after the other) and returns their outputs, one after the other.
    pub fn predict(&mut self, images: &[f32], n: usize) -> Result<Vec<f32>, DeployError> {
        let per_image = self.input_len();
        if images.len() != n * per_image {
            return Err(DeployError::BatchLength { what: "batch", images: n, per_image, found: images.len() });
        }
        let mut out = Vec::with_capacity(n * self.output_len());
        for image in images.chunks_exact(per_image.max(1)).take(n) {
            out.extend_from_slice(self.run(image)?);
        }
        Ok(out)
    }

    /// Like [`Self::run`], layer by layer (no bands: every layer's whole output is seen), calling
    /// `observe(node_index, output)` after every node (for calibration).
    pub(crate) fn run_observed(
        &mut self,
        image: &[f32],
        mut observe: impl FnMut(usize, &[f32]) -> Result<(), DeployError>,
    ) -> Result<&[f32], DeployError> {
        self.check_input(image)?;
        self.skips.reset();
        let mut len = image.len();
        self.front[..len].copy_from_slice(image);
        for index in 0..self.layers.len() {
            len = self.step_layer(index, len, false)?;
            observe(index, &self.front[..len])?;
        }
        Ok(&self.front[..len])
    }

    /// Like [`Self::run`], calling `observe(node_index, input)` with what every node receives
    /// (the image for the first node, the previous node's output for the others): a calibration pass
    /// over the inputs of each layer.
    pub(crate) fn run_observing_inputs(
        &mut self,
        image: &[f32],
        mut observe: impl FnMut(usize, &[f32]) -> Result<(), DeployError>,
    ) -> Result<&[f32], DeployError> {
        if image.len() == self.input_len() && !self.layers.is_empty() {
            observe(0, image)?;
        }
        let last = self.layers.len().saturating_sub(1);
        self.run_observed(image, |index, output| if index < last { observe(index + 1, output) } else { Ok(()) })
    }

    /// The nodes of the plan, in order.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.layers.iter().map(|l| &l.node)
    }
}
