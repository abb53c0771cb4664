//! Running an int8 plan: the buffers it owns (allocated once) and the per-layer dispatch.
//!
//! Pooling keeps the quantization of its input. Max pooling compares the `u8` values directly
//! (the map `q ↦ s·(q − z)` is increasing). The average pools average `q − z` (so padding counts as
//! real 0) on the `f32` slice kernels and round half to even back onto the same grid.

use std::ops::Range;

use super::layer::{Compiled, Int8Layer};
use crate::deploy::bands::{BandLayer, BandSchedule, RowMap};
use crate::kernels::pool::{max_pool_on_team, max_pool_rows};
use crate::deploy::graph::Op;
use crate::deploy::DeployError;
#[cfg(target_arch = "x86_64")]
use crate::kernels::conv_u8::conv_quad_rows;
use crate::kernels::int8::{GemvScratch, Int8Kernels, Split, SEQUENTIAL_BELOW_MACS};
use crate::kernels::team::Team;
use crate::kernels::OutPtr;
use crate::kernels::conv_u8::{ConvScratch, Patches};
use crate::kernels::conv_u8_shallow as shallow;
use crate::model::ShapeInfo;
use crate::kernels::pool::slices;
use crate::quant::{round_half_even, ActivationQParams};
use crate::deploy::residual::Skips;

/// Everything a run writes, sized at build time.
#[derive(Debug, Clone)]
pub(crate) struct Buffers {
    front: Vec<u8>,
    back: Vec<u8>,
    pool_in: Vec<f32>,
    pool_out: Vec<f32>,
    conv: ConvScratch,
    gemv: GemvScratch,
    acc: Vec<i32>,
    /// The input of a stride-2 conv as its phases ([`crate::kernels::SpaceToDepth`]).
    phases: Vec<u8>,
    /// The input of a direct conv as channel quads ([`crate::kernels::conv_u8_direct`]).
    quads: Vec<u8>,
    logits: Vec<f32>,
    /// Runs of AMX quad convs ending in a max pool, each thread over its own rows ([`BandSchedule`]).
    bands: BandSchedule<u8>,
    /// The inputs and main paths of the residual blocks open during a run.
    skips: Skips<u8>,
}

fn chw(shape: ShapeInfo) -> (usize, usize, usize) {
    match shape {
        ShapeInfo::Chw { c, h, w } => (c, h, w),
        ShapeInfo::Flat { n } => (n, 1, 1),
    }
}

impl Buffers {
    pub(crate) fn new(layers: &[Int8Layer], compiled: &[Compiled], kernels: &Int8Kernels, input: ShapeInfo, output: ShapeInfo) -> Self {
        let row_local: Vec<Option<BandLayer>> = layers.iter().zip(compiled).map(|(l, c)| band_layer(l, c, kernels)).collect();
        let widest = layers.iter().map(|l| l.node.output.numel()).fold(input.numel(), usize::max);
        let averages = layers
            .iter()
            .any(|l| matches!(l.node.op, Op::AvgPool(_) | Op::AdaptiveAvgPool { .. } | Op::GlobalAvgPool));
        let float_len = if averages { widest } else { 0 };
        let acc_len = layers
            .iter()
            .filter(|l| matches!(l.node.op, Op::Linear { .. }))
            .map(|l| l.node.output.numel())
            .max()
            .unwrap_or(0);
        let phases_len = compiled
            .iter()
            .filter_map(|c| match c {
                Compiled::Conv { phases: Some(s2d), .. } => Some(s2d.len()),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        Self {
            front: vec![0; widest],
            back: vec![0; widest],
            pool_in: vec![0.0; float_len],
            pool_out: vec![0.0; float_len],
            conv: ConvScratch::default(),
            gemv: GemvScratch::default(),
            acc: vec![0; acc_len],
            phases: vec![0; phases_len],
            quads: Vec::new(),
            logits: vec![0.0; output.numel()],
            bands: BandSchedule::new(&row_local, Team::global().threads()),
            skips: Skips::new(widest),
        }
    }

    /// Switches the band schedule on or off.
    pub(crate) fn set_bands(&mut self, on: bool) {
        self.bands.set_enabled(on);
    }

    /// The layers of each run that goes as bands.
    pub(crate) fn banded_layers(&self) -> Vec<Range<usize>> {
        self.bands.banded()
    }

    /// Runs `image` (already checked to be the input's length) through `layers`.
    pub(crate) fn run(
        &mut self,
        kernels: &Int8Kernels,
        input: ActivationQParams,
        layers: &[Int8Layer],
        compiled: &[Compiled],
        image: &[f32],
        mut trace: Option<&mut Vec<(usize, std::time::Instant)>>,
    ) -> Result<&[f32], DeployError> {
        let mut len = image.len();
        crate::kernels::quantize_u8::quantize_map(input, image, &mut self.front);
        let mut current = input;
        let mut logits_written = false;
        self.skips.reset();
        let all = compiled;
        // Set by a `Fork` whose block's first layer reads the input from the skips.
        let mut input_kept = false;
        let mut index = 0;
        while index < layers.len() {
            if let Some(segment) = self.bands.starting_at(index) {
                let end = segment.layers.end;
                let out_len = layers[end - 1].node.output.numel();
                self.bands.run(segment, &self.front[..len], &mut self.back[..out_len], |i, x, out, rows, quads| {
                    // SAFETY: the schedule hands each thread its own rows of the segment's output,
                    // and its own buffers for the layers inside.
                    unsafe { run_rows(&layers[i], &compiled[i], x, out, rows, quads) }
                })?;
                std::mem::swap(&mut self.front, &mut self.back);
                current = layers[index..end].iter().fold(current, |q, l| l.output.unwrap_or(q));
                (index, len) = (end, out_len);
                if let Some(trace) = trace.as_deref_mut() {
                    trace.push((index, std::time::Instant::now()));
                }
                continue;
            }
            let (layer, compiled) = (&layers[index], &compiled[index]);
            index += 1;
            let out_len = layer.node.output.numel();
            // Residual nodes work in place on `front`, beside the skips they keep.
            let residual = match (compiled, layer.node.op) {
                (_, Op::Fork) => {
                    // A conv that starts the block reads the input where it is kept: no copy.
                    let conv_next = matches!(all.get(index), Some(Compiled::Direct(_) | Compiled::Conv { .. }));
                    if conv_next && self.bands.starting_at(index).is_none() {
                        self.skips.fork_in_place(&mut self.front, len);
                        input_kept = true;
                    } else {
                        self.skips.fork(&self.front[..len]);
                    }
                    true
                }
                (_, Op::Shortcut) => {
                    // The main path's output and the kept input trade buffers (no copy).
                    self.skips.shortcut(&mut self.front, len, layer.node.layer)?;
                    true
                }
                (Compiled::Add(add), Op::Add { .. }) => {
                    let other = self.skips.close(len, layer.node.layer)?;
                    crate::kernels::add_u8::add_maps(add, &mut self.front[..len], other);
                    true
                }
                (_, Op::Add { .. }) => return Err(DeployError::Residual { layer: layer.node.layer, reason: "the add has no stage" }),
                _ => false,
            };
            if residual {
                current = layer.output.unwrap_or(current);
                len = out_len;
                if let Some(trace) = trace.as_deref_mut() {
                    trace.push((index, std::time::Instant::now()));
                }
                continue;
            }
            let x = if std::mem::take(&mut input_kept) { self.skips.kept(layer.node.layer)? } else { &self.front[..len] };
            let y = &mut self.back[..out_len];
            let mut swap = true;
            match (compiled, layer.node.op) {
                (Compiled::Direct(conv), _) => {
                    conv.forward(x, layer.input.zero_point, y, &mut self.quads, conv.macs() >= SEQUENTIAL_BELOW_MACS)?
                }
                (Compiled::Conv { winograd: Some(conv), .. }, _) => conv.forward(x, y, true)?,
                (Compiled::Conv { shape, packed, quads, shallow, stage, phases, steps, .. }, _) => {
                    let zero_point = layer.input.zero_point;
                    let x = match phases {
                        Some(s2d) => {
                            let rearranged = &mut self.phases[..s2d.len()];
                            s2d.rearrange(x, zero_point, rearranged, true)?;
                            &*rearranged
                        }
                        None => x,
                    };
                    match shallow {
                        Some(conv) => conv.forward(x, zero_point, stage, y, conv.macs() >= shallow::PARALLEL_MACS)?,
                        None => {
                            // The tap rows exist only in the wide patch matrix.
                            let patches = if steps.is_some() { Patches::Wide } else { Patches::for_shape(*shape) };
                            let weights = (packed, quads.as_ref(), steps.as_deref());
                            self.conv.conv(kernels, *shape, patches, weights, stage, zero_point, x, y, Split::Auto)?;
                        }
                    }
                }
                (Compiled::Linear { packed, stage, scales, folded }, _) => {
                    let acc = &mut self.acc[..out_len];
                    kernels.gemv_i32(packed, x, acc, &mut self.gemv)?;
                    match stage {
                        Some(stage) => {
                            for (r, (o, &a)) in y.iter_mut().zip(acc.iter()).enumerate() {
                                *o = stage.requantize(r, a);
                            }
                        }
                        None => {
                            let relu = layer.relu();
                            for (r, o) in self.logits[..out_len].iter_mut().enumerate() {
                                let v = (scales[r] * (acc[r] as i64 + folded[r]) as f64) as f32;
                                *o = if relu { crate::ops::relu::relu_value(v) } else { v };
                            }
                            logits_written = true;
                            swap = false;
                        }
                    }
                }
                (Compiled::Add(_), _) => unreachable!("residual nodes are run above, beside the skips"),
                (Compiled::Plain, Op::Relu) => {
                    let z = layer.input.zero_point;
                    for q in &mut self.front[..len] {
                        *q = (*q).max(z);
                    }
                    swap = false;
                }
                (Compiled::Plain, Op::MaxPool(window)) => {
                    let (c, h, w) = chw(layer.node.input);
                    max_pool_on_team(x, c, (h, w), window, y)?;
                }
                (Compiled::Plain, op) => {
                    let z = layer.input.zero_point as f32;
                    let (c, h, w) = chw(layer.node.input);
                    let (fx, fy) = (&mut self.pool_in[..len], &mut self.pool_out[..out_len]);
                    for (f, &q) in fx.iter_mut().zip(x) {
                        *f = q as f32 - z;
                    }
                    match op {
                        Op::AvgPool(window) => {
                            slices::avg_pool2d(fx, c, (h, w), window, fy)?;
                        }
                        Op::AdaptiveAvgPool { out_h, out_w } => slices::adaptive_avg_pool2d(fx, c, (h, w), (out_h, out_w), fy)?,
                        _ => slices::global_avg_pool2d(fx, c, (h, w), fy)?,
                    }
                    for (q, &f) in y.iter_mut().zip(fy.iter()) {
                        *q = (round_half_even(f) + z).clamp(0.0, 255.0) as u8;
                    }
                }
            }
            if swap {
                std::mem::swap(&mut self.front, &mut self.back);
            }
            current = layer.output.unwrap_or(current);
            len = out_len;
            if let Some(trace) = trace.as_deref_mut() {
                trace.push((index, std::time::Instant::now()));
            }
        }
        if !logits_written {
            for (o, &q) in self.logits.iter_mut().zip(&self.front[..len]) {
                *o = current.dequantize(q);
            }
        }
        Ok(&self.logits)
    }
}

/// The layer as the band schedule sees it, if it is row-local: a shallow conv on its direct kernel, a
/// conv on the AMX channel-quad path, or a max pool with an unpadded window.
fn band_layer(layer: &Int8Layer, compiled: &Compiled, kernels: &Int8Kernels) -> Option<BandLayer> {
    let (ShapeInfo::Chw { h, .. }, ShapeInfo::Chw { h: out_h, .. }) = (layer.node.input, layer.node.output) else {
        return None;
    };
    let (map, macs) = match (compiled, layer.node.op) {
        // A conv over its input's phases reads another map than the layer before writes.
        (Compiled::Conv { phases: Some(_), .. }, _) => return None,
        (Compiled::Conv { shape, shallow: Some(conv), .. }, _) => (RowMap::Conv { kernel: shape.kernel, padding: shape.padding }, conv.macs()),
        // The condition under which `ConvScratch::conv` takes the quad path.
        (Compiled::Conv { shape, quads: Some(_), stage, .. }, _) if kernels.amx() && Patches::for_shape(*shape) == Patches::Wide => {
            (RowMap::Conv { kernel: shape.kernel, padding: shape.padding }, stage.channels.len() * shape.depth() * shape.positions())
        }
        (Compiled::Plain, Op::MaxPool(window)) if window.padding == 0 => (RowMap::Pool { kernel: window.kernel, stride: window.stride }, 0),
        _ => return None,
    };
    Some(BandLayer { map, rows: (h, out_h), len: (layer.node.input.numel(), layer.node.output.numel()), macs })
}

/// Output rows `rows` of the row-local `layer` (see [`band_layer`]) into `out`; `quads` is the
/// thread's buffer for a conv's channel quads or padded rows.
///
/// # Safety
/// No other thread may reach rows `rows` of `out` while this runs.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
unsafe fn run_rows(layer: &Int8Layer, compiled: &Compiled, x: &[u8], out: &OutPtr<'_, u8>, rows: Range<usize>, quads: &mut Vec<u8>) -> Result<(), DeployError> {
    match (compiled, layer.node.op) {
        // SAFETY: the caller keeps other threads off these rows.
        (Compiled::Conv { shallow: Some(conv), stage, .. }, _) => unsafe { conv.forward_rows(x, layer.input.zero_point, stage, out, rows, quads)? },
        // SAFETY: `band_layer` takes quad convs only from a table with AMX; the caller keeps other
        // threads off these rows.
        #[cfg(target_arch = "x86_64")]
        (Compiled::Conv { quads: Some(form), stage, .. }, _) => unsafe { conv_quad_rows((form, stage), layer.input.zero_point, x, out, rows, quads)? },
        // SAFETY: passed on from the caller.
        (Compiled::Plain, Op::MaxPool(window)) => {
            let (c, h, w) = chw(layer.node.input);
            unsafe { max_pool_rows(x, c, (h, w), window, out, rows)? }
        }
        _ => unreachable!("the band schedule holds only row-local layers"),
    }
    Ok(())
}
