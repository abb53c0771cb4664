//! A quantized convolution: im2col (padding with the input zero point) + int8 GEMM + fused output
//! stage, one `[C, H, W]` `u8` image in, one `[O, OH, OW]` `u8` image out. The im2col is fused
//! into the packing of the activations: the patch matrix is never written whole. Stride-1 convs
//! (nearly all of them) pad the input once and read each patch row as one contiguous run of it,
//! computing a few junk columns per output row that are then dropped; other
//! strides gather each patch row's columns with bounds checks ([`PackedActivationsU8::pack_im2col`]).
//!
//! ```
//! use fasterai_runtime::kernels::conv_u8::{ConvScratch, QuantizedConv2d};
//! use fasterai_runtime::kernels::generic::im2col_u8::ConvShape;
//! use fasterai_runtime::kernels::int8::{Int8Kernels, Split};
//! use fasterai_runtime::quant::{ActivationQParams, QuantizedWeights};
//! let shape = ConvShape::new(1, 3, 3, 3, 1, 1).unwrap();
//! let w = QuantizedWeights::quantize(&[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], 1).unwrap(); // identity
//! let p = ActivationQParams::from_range(0.0, 2.55).unwrap();
//! let kernels = Int8Kernels::best();
//! let conv = QuantizedConv2d::new(&kernels, shape, &w, None, p, p, true).unwrap();
//! let mut out = vec![0; 9];
//! conv.forward(&[1, 2, 3, 4, 5, 6, 7, 8, 9], &mut out, &mut ConvScratch::default(), Split::Auto).unwrap();
//! assert_eq!(out, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
//! ```

use super::conv_quads::QuadConv;
use super::generic::im2col_u8::ConvShape;
use super::conv_geometry::pad_planes;
use super::int8::{Columns, Int8Kernels, Sink, Split};
#[cfg(target_arch = "x86_64")]
use super::types::TileStage;
#[cfg(target_arch = "x86_64")]
use super::int8_amx::{conv_quads, conv_wide};
#[cfg(target_arch = "x86_64")]
use super::pack_tiles::TILE_ROWS;
use super::pack_i8::{wide_columns, PackedActivationsU8, PackedWeightsI8};
use crate::quant::{ActivationQParams, OutputStage, QuantError, QuantizedWeights};

/// A conv layer in int8: packed weights and the fused output stage.
#[derive(Debug, Clone)]
pub struct QuantizedConv2d {
    kernels: Int8Kernels,
    shape: ConvShape,
    weights: PackedWeightsI8,
    /// The channel-quad form for tile kernels, when they run and the channels fit.
    quads: Option<QuadConv>,
    stage: OutputStage,
    input: ActivationQParams,
}

/// The buffers a conv reuses from call to call: packed activations, and for stride-1 convs the
/// padded input.
#[derive(Debug, Clone, Default)]
pub struct ConvScratch {
    packed: Vec<PackedActivationsU8>,
    padded: Vec<u8>,
    starts: Vec<usize>,
    /// The input as channel quads ([`QuadConv`]), for the AMX kernels.
    #[cfg(target_arch = "x86_64")]
    quads: Vec<u8>,
}

/// How a conv builds its patch matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Patches {
    /// Stride 1: pad the input once, pack the *wide* patch matrix straight from it (one contiguous
    /// run per patch row), compute `W + 2p − OW` junk columns per output row and drop them as the
    /// tiles are stored.
    Wide,
    /// Any stride: gather each patch row's columns with bounds checks while packing.
    Gathered,
}

/// Output maps of at most this many positions (5×5) take the wide patches at any junk: the digits
/// ResNet's 16-channel convs on 4×4 maps (22 wide columns for 16 positions), one thread, measured
/// 8.6 µs gathered against 3.2 µs wide on AMX, 7.8 against 3.5 µs on the AVX2 table.
const TINY_POSITIONS: usize = 25;

impl Patches {
    /// Wide when the stride is 1 and the junk columns add at most a quarter to the GEMM, or the map
    /// is tiny (at most [`TINY_POSITIONS`] outputs), where gathering short rows costs more than the junk.
    pub(crate) fn for_shape(shape: ConvShape) -> Self {
        let cheap = 4 * wide_columns(shape) <= 5 * shape.positions() || shape.positions() <= TINY_POSITIONS;
        if shape.stride == 1 && cheap {
            Patches::Wide
        } else {
            Patches::Gathered
        }
    }
}

impl ConvScratch {
    /// `out = conv(x)`: one `[C, H, W]` image in, `[O, OH, OW]` out, through `kernels` with packed
    /// `weights` and the fused `stage`; `zero_point` is the input's (the padding value). With
    /// `steps`, a stride-1 conv whose weights hold only those rows of its patch matrix (a stride-2
    /// conv over its input's phases, the zero taps left out: [`super::SpaceToDepth::tap_steps`]);
    /// it runs on the wide patches and the tile kernels, never on the AMX conv paths.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn conv(
        &mut self,
        kernels: &Int8Kernels,
        shape: ConvShape,
        patches: Patches,
        (weights, quads, steps): (&PackedWeightsI8, Option<&QuadConv>, Option<&[usize]>),
        stage: &OutputStage,
        zero_point: u8,
        x: &[u8],
        out: &mut [u8],
        split: Split,
    ) -> Result<(), QuantError> {
        // One buffer per activation layout: kernels that choose the layout per weight matrix
        // (`Int8Kernels::saturating`) alternate between two from layer to layer.
        let want = kernels.activations_for(weights);
        let at = self.packed.iter().position(|p| p.layout() == want.layout() && p.unit_multiple() == want.unit_multiple());
        let at = at.unwrap_or_else(|| {
            self.packed.push(want);
            self.packed.len() - 1
        });
        let packed = &mut self.packed[at];
        if let Some(steps) = steps {
            if patches != Patches::Wide || shape.stride != 1 || weights.depth() != steps.len() || steps.iter().any(|&r| r >= shape.depth()) {
                return Err(QuantError::LengthMismatch { what: "patch-matrix rows of a conv's weights", expected: weights.depth(), found: steps.len() });
            }
        }
        if patches == Patches::Gathered || shape.stride != 1 {
            packed.pack_im2col(x, shape, zero_point)?;
            return kernels.gemm_u8(weights, packed, stage, out, split);
        }
        let len = shape.channels * shape.height * shape.width;
        if x.len() != len {
            return Err(QuantError::LengthMismatch { what: "conv input", expected: len, found: x.len() });
        }
        let (oh, ow, wp) = (shape.out_height(), shape.out_width(), shape.width + 2 * shape.padding);
        let plane = oh * ow;
        if out.len() != weights.rows() * plane {
            return Err(QuantError::LengthMismatch { what: "conv output", expected: weights.rows() * plane, found: out.len() });
        }
        #[cfg(target_arch = "x86_64")]
        if let (true, Some(quads)) = (kernels.amx() && patches == Patches::Wide && steps.is_none(), quads) {
            // The quad form is built from the conv's own shape (`Int8Kernels::quad_conv`).
            assert_eq!(quads.geometry().shape(), shape, "the channel-quad weights belong to this conv");
            if stage.channels.len() != weights.rows() {
                return Err(QuantError::LengthMismatch { what: "output stage", expected: weights.rows(), found: stage.channels.len() });
            }
            let cols = wide_columns(shape);
            let sink = Sink::new(out, weights.rows(), cols, Columns::Wide { wp, ow, plane })?;
            let tile_stage = TileStage::whole(stage);
            quads.geometry().fill(x, zero_point, &mut self.quads);
            // SAFETY: `amx()` holds only for the table built after checking AMX.
            unsafe { conv_quads(quads.weights(), weights.rows(), (quads.geometry(), &self.quads, quads.steps()), cols, tile_stage, &sink, split) };
            return Ok(());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = quads;
        let padded = if shape.padding == 0 {
            x
        } else {
            let (h, w, p) = (shape.height, shape.width, shape.padding);
            pad_planes(x, (h, w), p, (h + 2 * p, w + 2 * p), zero_point, &mut self.padded);
            &self.padded
        };
        let cols = wide_columns(shape);
        #[cfg(target_arch = "x86_64")]
        if let (true, Some(tiles), true) = (kernels.amx() && steps.is_none(), weights.tiles(), packed.unit_multiple() == TILE_ROWS) {
            if stage.channels.len() != weights.rows() {
                return Err(QuantError::LengthMismatch { what: "output stage", expected: weights.rows(), found: stage.channels.len() });
            }
            let sink = Sink::new(out, weights.rows(), cols, Columns::Wide { wp, ow, plane })?;
            let tile_stage = TileStage::whole(stage);
            // SAFETY: `amx()` holds only for the table built after checking AMX; `packed` was made
            // for tiles (checked).
            unsafe { conv_wide(tiles, weights.rows(), packed, (padded, shape, cols), &mut self.starts, tile_stage, &sink, split) };
            return Ok(());
        }
        // The GEMM's output stage drops the junk columns as it stores each tile.
        let columns = Columns::Wide { wp, ow, plane };
        let m = weights.rows();
        match split.for_work(m * cols * weights.depth()).resolve(m, cols) {
            Split::Rows => {
                packed.pack_padded_im2col(padded, shape, cols, steps, &mut self.starts);
                kernels.gemm_u8_into(weights, packed, stage, out, columns, Split::Rows)
            }
            split => {
                let sink = Sink::new(out, m, cols, columns)?;
                kernels.conv_wide_u8(weights, packed, (padded, shape, cols, steps), &mut self.starts, stage, &sink, split)
            }
        }
    }
}

/// Output rows `rows` of a stride-1 conv on the AMX channel-quad path (`quads`, with the fused
/// `stage`; `zero_point` is the input's), on the calling thread, into `out` (the whole `[O, OH,
/// OW]` output; its other rows are not touched). `buffer` receives the quads of only the input rows
/// the band reads. The int8 plan's band schedule runs its convs this way; the outputs are those of
/// [`ConvScratch::conv`], integer for integer.
///
/// # Safety
/// AMX must be available (an [`Int8Kernels`] with `amx` set), and no other thread may reach rows
/// `rows` of `out` while this runs.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn conv_quad_rows(
    (quads, stage): (&QuadConv, &OutputStage),
    zero_point: u8,
    x: &[u8],
    out: &super::OutPtr<'_, u8>,
    rows: std::ops::Range<usize>,
    buffer: &mut Vec<u8>,
) -> Result<(), QuantError> {
    let geometry = quads.geometry();
    let shape = geometry.shape();
    let m = stage.channels.len();
    let len = shape.channels * shape.height * shape.width;
    if x.len() != len {
        return Err(QuantError::LengthMismatch { what: "conv input", expected: len, found: x.len() });
    }
    let (oh, ow, wp) = (shape.out_height(), shape.out_width(), shape.width + 2 * shape.padding);
    if out.len() != m * oh * ow {
        return Err(QuantError::LengthMismatch { what: "conv output", expected: m * oh * ow, found: out.len() });
    }
    assert!(rows.start <= rows.end && rows.end <= oh, "the band {rows:?} lies inside the output");
    if rows.is_empty() || m == 0 || ow == 0 {
        return Ok(());
    }
    geometry.fill_rows(x, zero_point, rows.start..rows.end + shape.kernel - 1, buffer);
    // SAFETY: passed on from the caller: no other thread reaches these rows.
    let sink = unsafe { Sink::band(out, m, rows.clone(), (wp, ow, oh * ow)) };
    let cols = (rows.len() - 1) * wp + ow;
    // The band's wide positions start at its first row; its tiles read the quads from there on.
    let band = &buffer[4 * rows.start * wp..];
    // SAFETY: the caller checked AMX; one thread (`Split::Sequential`).
    unsafe { conv_quads(quads.weights(), m, (geometry, band, quads.steps()), cols, TileStage::whole(stage), &sink, Split::Sequential) };
    Ok(())
}

impl QuantizedConv2d {
    /// A conv run by `kernels`, of `shape` with `weights` (`[O, C·K·K]`), real `bias` (one per output channel),
    /// input and output activation parameters, and an optional fused ReLU.
    pub fn new(
        kernels: &Int8Kernels,
        shape: ConvShape,
        weights: &QuantizedWeights,
        bias: Option<&[f32]>,
        input: ActivationQParams,
        output: ActivationQParams,
        relu: bool,
    ) -> Result<Self, QuantError> {
        if weights.fan_in != shape.depth() {
            return Err(QuantError::LengthMismatch { what: "weight rows (C·K·K)", expected: shape.depth(), found: weights.fan_in });
        }
        Ok(Self {
            kernels: *kernels,
            shape,
            weights: kernels.pack_weights(&weights.values, weights.out_channels, weights.fan_in)?,
            quads: kernels.quad_conv(shape, &weights.values, weights.out_channels),
            stage: OutputStage::new(input, weights, bias, output, relu)?,
            input,
        })
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weights.rows()
    }

    /// The input geometry.
    pub fn shape(&self) -> ConvShape {
        self.shape
    }

    /// The fused output stage.
    pub fn stage(&self) -> &OutputStage {
        &self.stage
    }

    /// Runs the conv on one image `x` (`[C, H, W]`) into `out` (`[O, OH, OW]`).
    pub fn forward(&self, x: &[u8], out: &mut [u8], scratch: &mut ConvScratch, split: Split) -> Result<(), QuantError> {
        let patches = Patches::for_shape(self.shape);
        scratch.conv(&self.kernels, self.shape, patches, (&self.weights, self.quads.as_ref(), None), &self.stage, self.input.zero_point, x, out, split)
    }
}
