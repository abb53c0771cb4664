//! The fp32 plan's band schedule: a run of row-local layers (stride-1 direct convs, unpadded max
//! pools) that each thread of the [team](crate::kernels::team::Team) runs start to end on its own
//! band of rows, instead of every layer being split over the threads on its own.
//!
//! Split layer by layer, each layer reads rows the other core wrote a moment before, and the threads
//! meet after every layer. In a band, thread `t` owns rows of the segment's *last* output; walking
//! back through the layers, it computes the rows each one needs (its band widened by the kernels'
//! overlap, a row or two per conv) into its own buffers, so every intermediate row stays in its
//! core's cache and the threads meet once per segment. The overlap rows are computed by both
//! neighbours: a little more arithmetic, no data crossing between cores. Every output equals the
//! layer-by-layer run's bit for bit (the same kernels, the same order of additions per output).
//!
//! A segment ends after a pooling layer (halos would grow through the next block), before any layer
//! that is not row-local, and only runs split when its last output has a row per thread, its convs
//! enough work to share, and the overlap rows little of it. A pool whose rows do not split evenly
//! (SmallVgg's second: 7 rows over 2 threads would give one thread 8 of the 14 conv rows before it)
//! is left out of the segment when the convs then split more evenly; a large pool left out of every
//! segment runs as one of its own, each thread pooling the rows it has just written.
//!
//! The fp32 plan's segments hold direct convs; the int8 plan's, shallow first convs on their direct
//! kernel and convs on the AMX channel-quad path (each thread pads, or copies into quads, only the
//! input rows its band reads). Both pool with [`max_pool_rows`](crate::kernels::pool::max_pool_rows).

use std::ops::Range;
use std::sync::Mutex;

use super::DeployError;
use crate::kernels::team::Team;
use crate::kernels::OutPtr;

/// Segments whose layers do fewer multiply-adds than this run layer by layer.
const MIN_SEGMENT_MACS: usize = 1 << 17;

/// A max pool that is not part of a segment runs as one on its own (every thread pooling the rows
/// it wrote in the segment before) when its input has at least this many values.
const MIN_POOL_VALUES: usize = 8 * 1024;

/// Segments whose overlap rows add more than this part (`1/16`) to their multiply-adds run layer by
/// layer. SmallVgg's adds 5%; VGG16's blocks at 16×16 and 8×8 would add 12% and 25%.
const MAX_OVERLAP_PART: usize = 16;

/// Which input rows a row-local layer's output rows read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowMap {
    /// A stride-1 conv: output row `y` reads input rows `y − padding .. y − padding + kernel`.
    Conv { kernel: usize, padding: usize },
    /// An unpadded pooling window: output row `y` reads input rows `y·stride .. y·stride + kernel`.
    Pool { kernel: usize, stride: usize },
}

impl RowMap {
    /// The input rows (of `input_rows`) that output rows `out` read.
    pub(super) fn input_rows(self, out: Range<usize>, input_rows: usize) -> Range<usize> {
        if out.is_empty() {
            return 0..0;
        }
        let (start, end) = match self {
            RowMap::Conv { kernel, padding } => (out.start.saturating_sub(padding), (out.end - 1 + kernel).saturating_sub(padding)),
            RowMap::Pool { kernel, stride } => (out.start * stride, (out.end - 1) * stride + kernel),
        };
        start.min(input_rows)..end.min(input_rows)
    }
}

/// A layer the band schedule can run: how its rows map, its sizes, and its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BandLayer {
    pub map: RowMap,
    /// Rows of the input and of the output maps.
    pub rows: (usize, usize),
    /// Values of the whole input and output (`C·H·W`).
    pub len: (usize, usize),
    /// Multiply-adds (convs) or 0 (pools).
    pub macs: usize,
}

/// Consecutive layers that every thread runs over its own band. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Segment {
    /// The plan's layers of the segment.
    pub layers: Range<usize>,
    /// `bands[t][i]`: the output rows thread `t` computes of the segment's layer `i`; the last
    /// layer's bands are disjoint and cover its output.
    bands: Vec<Vec<Range<usize>>>,
    /// Values of each layer's output.
    out_len: Vec<usize>,
    /// Values of each layer's input.
    in_len: Vec<usize>,
    /// Multiply-adds of the thread with the most (its band's overlap rows included).
    busiest: usize,
}

/// A thread's buffers: two whole-size maps taken in turn by the segment's inner layers, and the
/// padded input rows of its convs (or, in the int8 plan, their channel quads).
#[derive(Debug)]
struct BandScratch<T> {
    maps: [Vec<T>; 2],
    padded: Vec<T>,
}

/// The segments of a plan (of `f32` or `u8` maps) and each thread's buffers.
#[derive(Debug)]
pub(super) struct BandSchedule<T> {
    segments: Vec<Segment>,
    scratch: Vec<Mutex<BandScratch<T>>>,
    /// Off: [`Self::starting_at`] finds no segment, and the plan runs layer by layer.
    enabled: bool,
}

impl<T> Clone for BandSchedule<T> {
    fn clone(&self) -> Self {
        Self { enabled: self.enabled, ..Self::with_segments(self.segments.clone(), self.scratch.len()) }
    }
}

impl<T> BandSchedule<T> {
    /// The segments of a plan whose layers are `layers` (`None`: not row-local), for `threads`.
    pub(super) fn new(layers: &[Option<BandLayer>], threads: usize) -> Self {
        let mut segments = Vec::new();
        if threads >= 2 {
            let mut start = 0;
            while start < layers.len() {
                let mut end = segment_end(layers, start);
                let mut segment = Segment::new(&layers[start..end], start, threads);
                // A pool whose rows do not split evenly leaves one thread a larger band of every
                // layer before it. When the convs alone split better, they go without it, and the
                // pool runs as a segment of its own.
                if end - start > 2 && matches!(layers[end - 1], Some(BandLayer { map: RowMap::Pool { .. }, .. })) {
                    if let (Some(with), Some(without)) = (&segment, Segment::new(&layers[start..end - 1], start, threads)) {
                        if without.busiest < with.busiest {
                            (segment, end) = (Some(without), end - 1);
                        }
                    }
                }
                if let Some(segment) = segment {
                    segments.push(segment);
                }
                start = end.max(start + 1);
            }
        }
        Self::with_segments(segments, threads)
    }

    fn with_segments(segments: Vec<Segment>, threads: usize) -> Self {
        let fresh = || Mutex::new(BandScratch { maps: [Vec::new(), Vec::new()], padded: Vec::new() });
        let scratch = if segments.is_empty() { Vec::new() } else { (0..threads).map(|_| fresh()).collect() };
        Self { segments, scratch, enabled: true }
    }

    /// The segment that starts at layer `layer`, if any (none while switched off).
    pub(super) fn starting_at(&self, layer: usize) -> Option<&Segment> {
        self.segments.iter().find(|s| self.enabled && s.layers.start == layer)
    }

    /// Switches the schedule on (the default) or off.
    pub(super) fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }

    /// The layers of each segment that runs (none while switched off).
    pub(super) fn banded(&self) -> Vec<Range<usize>> {
        self.segments.iter().filter(|_| self.enabled).map(|s| s.layers.clone()).collect()
    }

    /// Runs `segment` from `x` (its first layer's whole input) into `y` (its last layer's whole
    /// output) on the team. `step(layer, input, output, rows, padded)` computes output rows `rows`
    /// of the plan's layer `layer`, touching no other rows of `output`.
    pub(super) fn run<F>(&self, segment: &Segment, x: &[T], y: &mut [T], step: F) -> Result<(), DeployError>
    where
        T: Copy + Default + Send + Sync,
        F: Fn(usize, &[T], &OutPtr<'_, T>, Range<usize>, &mut Vec<T>) -> Result<(), DeployError> + Sync,
    {
        let last = segment.bands[0].len() - 1;
        assert!(x.len() == segment.in_len[0] && y.len() == segment.out_len[last], "the segment's buffers have its sizes");
        let out = OutPtr::new(y);
        let failure = Mutex::new(None);
        Team::global().run(segment.bands.len(), &|threads| {
            for t in threads {
                let mut scratch = self.scratch[t].lock().unwrap_or_else(|poison| poison.into_inner());
                if let Err(e) = segment.run_band(t, x, &out, &mut scratch, &step) {
                    *failure.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(e);
                }
            }
        });
        match failure.into_inner().unwrap_or_else(|poison| poison.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The plan's segments.
    #[cfg(test)]
    fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

/// The end of the run of row-local layers from `start`: the first layer that is not, or just past
/// the first pool.
fn segment_end(layers: &[Option<BandLayer>], start: usize) -> usize {
    let mut end = start;
    while let Some(Some(layer)) = layers.get(end) {
        end += 1;
        if matches!(layer.map, RowMap::Pool { .. }) {
            break;
        }
    }
    end
}

impl Segment {
    /// The segment of `layers` (the plan's layers from `first`), or `None` when it would not pay:
    /// fewer than two layers, fewer output rows than threads, too little work, or too much of it
    /// done twice (overlap rows).
    fn new(layers: &[Option<BandLayer>], first: usize, threads: usize) -> Option<Self> {
        let layers: Vec<BandLayer> = layers.iter().map(|l| l.expect("segments hold row-local layers")).collect();
        let last = layers.last()?;
        let macs: usize = layers.iter().map(|l| l.macs).sum();
        let lone_pool = layers.len() == 1 && matches!(last.map, RowMap::Pool { .. }) && last.len.0 >= MIN_POOL_VALUES;
        if last.rows.1 < threads || !(lone_pool || layers.len() >= 2 && macs >= MIN_SEGMENT_MACS) {
            return None;
        }
        let rows = last.rows.1;
        let bands: Vec<Vec<Range<usize>>> = (0..threads)
            .map(|t| {
                let mut band = vec![0..0; layers.len()];
                band[layers.len() - 1] = t * rows / threads..(t + 1) * rows / threads;
                for i in (1..layers.len()).rev() {
                    band[i - 1] = layers[i].map.input_rows(band[i].clone(), layers[i].rows.0);
                }
                band
            })
            .collect();
        // Overlap rows are computed by both neighbours: on small maps (VGG's last blocks) that
        // costs more than the split saves.
        let work = |band: &Vec<Range<usize>>| -> usize { band.iter().zip(&layers).map(|(rows, l)| rows.len() * l.macs / l.rows.1.max(1)).sum() };
        let computed: usize = bands.iter().map(work).sum();
        if computed > macs + macs / MAX_OVERLAP_PART {
            return None;
        }
        Some(Self {
            layers: first..first + layers.len(),
            busiest: bands.iter().map(work).max().unwrap_or(0),
            bands,
            out_len: layers.iter().map(|l| l.len.1).collect(),
            in_len: layers.iter().map(|l| l.len.0).collect(),
        })
    }

    /// Thread `t`'s band: the inner layers into its own maps, the last into its rows of `out`.
    fn run_band<T, F>(&self, t: usize, x: &[T], out: &OutPtr<'_, T>, scratch: &mut BandScratch<T>, step: &F) -> Result<(), DeployError>
    where
        T: Copy + Default,
        F: Fn(usize, &[T], &OutPtr<'_, T>, Range<usize>, &mut Vec<T>) -> Result<(), DeployError>,
    {
        let BandScratch { maps, padded } = scratch;
        let last = self.bands[t].len() - 1;
        for (i, rows) in self.bands[t].iter().enumerate() {
            let layer = self.layers.start + i;
            // Layer i reads map (i − 1) % 2 and writes map i % 2; the first reads `x`.
            let [even, odd] = maps;
            let (input, output) = if i % 2 == 0 { (&*odd, even) } else { (&*even, odd) };
            let input = if i == 0 { x } else { &input[..self.in_len[i]] };
            if i == last {
                step(layer, input, out, rows.clone(), padded)?;
            } else {
                if output.len() < self.out_len[i] {
                    output.resize(self.out_len[i], T::default());
                }
                step(layer, input, &OutPtr::new(&mut output[..self.out_len[i]]), rows.clone(), padded)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::pool::max_pool_rows;
    use crate::kernels::{ConvF32, ConvGeometry, ConvScratchF32, Parallelism};
    use crate::kernels::pool::{slices, PoolWindow};

    fn conv(c: usize, o: usize, side: usize, seed: usize) -> ConvF32 {
        let g = ConvGeometry::new(c, side, side, 3, 1, 1).unwrap();
        let w: Vec<f32> = (0..o * c * 9).map(|i| (((i + seed) * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let b: Vec<f32> = (0..o).map(|i| i as f32 * 0.01 - 0.1).collect();
        ConvF32::new(g, &w, o, Some(&b), true).unwrap()
    }

    fn conv_layer(conv: &ConvF32) -> Option<BandLayer> {
        let g = conv.geometry();
        Some(BandLayer {
            map: RowMap::Conv { kernel: g.kernel(), padding: g.padding() },
            rows: (g.height(), g.out_height()),
            len: (g.image_len(), conv.out_channels() * g.out_len()),
            macs: conv.out_channels() * g.col_rows() * g.out_len(),
        })
    }

    const POOL: PoolWindow = PoolWindow { kernel: 2, stride: 2, padding: 0 };

    #[test]
    fn input_rows_widen_by_the_kernel_and_stop_at_the_borders() {
        let conv = RowMap::Conv { kernel: 3, padding: 1 };
        assert_eq!(conv.input_rows(0..7, 14), 0..8);
        assert_eq!(conv.input_rows(7..14, 14), 6..14);
        assert_eq!(RowMap::Conv { kernel: 5, padding: 0 }.input_rows(2..4, 10), 2..8);
        assert_eq!(RowMap::Pool { kernel: 2, stride: 2 }.input_rows(3..7, 14), 6..14);
        assert_eq!(RowMap::Pool { kernel: 3, stride: 2 }.input_rows(0..3, 7), 0..7);
        assert_eq!(conv.input_rows(4..4, 14), 0..0);
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // lists of one band
    fn segments_end_after_pools_and_skip_what_does_not_pay() {
        let (c1, c2, c3) = (conv(1, 32, 28, 1), conv(32, 32, 28, 2), conv(32, 64, 14, 3));
        let pool = |c: usize, side: usize| {
            Some(BandLayer { map: RowMap::Pool { kernel: 2, stride: 2 }, rows: (side, side / 2), len: (c * side * side, c * side * side / 4), macs: 0 })
        };
        // conv, conv, pool | conv, conv | (not row-local) | conv alone.
        let layers = [conv_layer(&c1), conv_layer(&c2), pool(32, 28), conv_layer(&c3), conv_layer(&conv(64, 64, 14, 4)), None, conv_layer(&c3)];
        let schedule = BandSchedule::<f32>::new(&layers, 2);
        let found: Vec<_> = schedule.segments().iter().map(|s| s.layers.clone()).collect();
        assert_eq!(found, [0..3, 3..5]);
        // Thread 1 of the first segment: pool rows 7..14 ← conv2 rows 14..28 ← conv1 rows 13..28.
        assert_eq!(schedule.segments()[0].bands[1], [13..28, 14..28, 7..14]);
        assert!(BandSchedule::<f32>::new(&layers, 1).segments().is_empty(), "one thread needs no bands");
        let tiny = [conv_layer(&conv(1, 2, 6, 5)), conv_layer(&conv(2, 2, 6, 6))];
        assert!(BandSchedule::<f32>::new(&tiny, 2).segments().is_empty(), "too little work to share");
        // Three convs and a pool on 8×8 maps: the first conv's band would be 6 rows of 8 per thread.
        let small = conv(64, 64, 8, 7);
        let late = [conv_layer(&small), conv_layer(&small), conv_layer(&small), pool(64, 8)];
        assert!(BandSchedule::<f32>::new(&late, 2).segments().is_empty(), "a quarter of the work done twice");
        // 7 pooled rows split 3 + 4 would give one thread 8 + 9 conv rows, the other 6 + 7: the
        // convs go alone (7 + 8 rows each), then the pool.
        let (c3, c4) = (conv_layer(&conv(32, 64, 14, 9)), conv_layer(&conv(64, 64, 14, 10)));
        let uneven = BandSchedule::<f32>::new(&[c3, c4, pool(64, 14)], 2);
        assert_eq!(uneven.segments().iter().map(|s| s.layers.clone()).collect::<Vec<_>>(), [0..2, 2..3]);
        assert_eq!(uneven.segments()[1].bands, [[0..3].to_vec(), [3..7].to_vec()]);
        let larger = conv(64, 64, 16, 8);
        let block = [conv_layer(&larger), conv_layer(&larger), pool(64, 16)];
        assert_eq!(BandSchedule::<f32>::new(&block, 2).segments().len(), 1, "a sixteenth done twice");
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // lists of one band
    fn a_banded_segment_equals_the_layer_by_layer_run_bit_for_bit() {
        // Odd sizes: 3 threads over 9 pooled rows of a 19-row map (the last input row is dropped).
        let (c1, c2) = (conv(3, 24, 19, 1), conv(24, 16, 19, 2));
        let layers = [
            conv_layer(&c1),
            conv_layer(&c2),
            Some(BandLayer { map: RowMap::Pool { kernel: 2, stride: 2 }, rows: (19, 9), len: (16 * 19 * 19, 16 * 9 * 9), macs: 0 }),
        ];
        let x: Vec<f32> = (0..3 * 19 * 19).map(|i| ((i * 31) % 101) as f32 / 50.0 - 1.0).collect();
        let mut s = ConvScratchF32::default();
        let (mut a, mut b, mut want) = (vec![0.0; 24 * 361], vec![0.0; 16 * 361], vec![0.0; 16 * 81]);
        c1.forward(&x, &mut a, &mut s, Parallelism::Sequential).unwrap();
        c2.forward(&a, &mut b, &mut s, Parallelism::Sequential).unwrap();
        slices::max_pool2d(&b, 16, (19, 19), POOL, &mut want).unwrap();
        let step = |layer: usize, input: &[f32], out: &OutPtr<'_>, rows: Range<usize>, padded: &mut Vec<f32>| {
            // SAFETY: the schedule hands each thread its own rows; a layer outside a segment runs
            // on this thread alone.
            unsafe {
                match layer {
                    0 => c1.forward_rows(input, out, rows, padded, None)?,
                    1 => c2.forward_rows(input, out, rows, padded, None)?,
                    _ => max_pool_rows(input, 16, (19, 19), POOL, out, rows)?,
                }
            }
            Ok(())
        };
        // 3 threads share the 9 pooled rows evenly; 2 would split them 4 + 5, so the convs go
        // alone (the pool's map is too small to split).
        for (threads, segments) in [(3, [0..3]), (2, [0..2])] {
            let schedule = BandSchedule::<f32>::new(&layers, threads);
            assert_eq!(schedule.banded(), segments, "{threads} threads");
            let (mut input, mut next) = (x.clone(), 0);
            while next < layers.len() {
                let segment = schedule.starting_at(next);
                let end = segment.map_or(next + 1, |s| s.layers.end);
                let mut out = vec![f32::NAN; layers[end - 1].unwrap().len.1];
                match segment {
                    Some(segment) => schedule.run(segment, &input, &mut out, step).unwrap(),
                    None => step(next, &input, &OutPtr::new(&mut out), 0..layers[next].unwrap().rows.1, &mut Vec::new()).unwrap(),
                }
                next = end;
                input = out;
            }
            assert_eq!(input, want, "{threads} threads");
        }
    }

    #[test]
    fn a_failing_step_is_an_error() {
        let layers = [conv_layer(&conv(1, 32, 28, 1)), conv_layer(&conv(32, 32, 28, 2))];
        let schedule = BandSchedule::<f32>::new(&layers, 2);
        let segment = schedule.starting_at(0).unwrap();
        let mut y = vec![0.0; 32 * 784];
        let failed = schedule.run(segment, &[0.0; 784], &mut y, |_, _, _, _, _| Err(DeployError::MissingScalar { name: "probe".into() }));
        assert!(failed.is_err());
    }
}
