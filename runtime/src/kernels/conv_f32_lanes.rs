//! An fp32 conv of any stride with its output channels in vector lanes: positions broadcast,
//! weights in panels of 64 channels, no patch matrix (AVX-512 and AVX2 tiles).
//!
//! The input is padded once into planes (`C × (H + 2p) × (W + 2p)`). A tile is six output
//! positions (consecutive in the flat `OH × OW` order, so a tile may span two rows) by up to 64
//! output channels (four vectors of sixteen). For each depth step `(c, ky, kx)` the six positions'
//! input values are broadcast and multiplied by four vectors of that step's weights: 24 fused
//! multiply-adds per four weight loads and six broadcasts, whatever the map's size or the stride. The
//! sums start from the bias; a transpose in registers turns each vector of sixteen channels × six
//! positions into sixteen runs of six values, which land in their channel planes (the skip of a
//! residual block added and the ReLU applied there). With AVX2 a tile is six positions by one
//! vector of sixteen channels of the same panels, in two registers ([`avx2`]).
//!
//! [`ConvF32`](super::ConvF32) puts positions in its lanes instead: it fills them on wide maps, but a
//! 7×7 map padded to 9 wide fills a quarter of its tiles with junk, and a stride needs the input's
//! phases. This kernel fills every lane at any map size and stride.
//!
//! ```
//! use fasterai_runtime::kernels::{ConvGeometry, LanesConvF32, Parallelism};
//! // 1 channel in, 2 out, 3×3, stride 2: output 0 copies the centre tap, output 1 doubles it plus 1.
//! let g = ConvGeometry::new(1, 4, 4, 3, 2, 1)?;
//! let mut w = vec![0.0; 18];
//! (w[4], w[13]) = (1.0, 2.0);
//! let conv = LanesConvF32::new(g, &w, 2, Some(&[0.0, 1.0]), false)?;
//! let image: Vec<f32> = (0..16).map(|i| i as f32).collect();
//! let mut out = vec![0.0; 8];
//! conv.forward(&image, &mut out, &mut Vec::new(), Parallelism::Sequential)?;
//! assert_eq!(out, [0.0, 2.0, 8.0, 10.0, 1.0, 5.0, 17.0, 21.0]);
//! # Ok::<(), fasterai_runtime::kernels::KernelError>(())
//! ```

use super::conv_geometry::pad_plane_rows;
#[cfg(target_arch = "x86_64")]
use super::conv_geometry::step_positions;
use super::isa::Isa;
use super::team::Team;
use super::OutPtr;
use super::{ConvGeometry, KernelError, Parallelism};

/// Output positions per tile.
#[cfg(target_arch = "x86_64")]
const POSITIONS: usize = 6;
/// Output channels per full panel where the table has AVX-512: four vectors of sixteen.
const WIDE_PANEL: usize = 64;
/// Channels per vector.
const LANES: usize = 16;

/// A conv with its weights in panels of output channels × depth step. See the module docs.
#[derive(Debug, Clone)]
pub struct LanesConvF32 {
    geometry: ConvGeometry,
    out_channels: usize,
    /// Output channels per full panel: [`WIDE_PANEL`] for the AVX-512 tiles, one vector of
    /// [`LANES`] for the AVX2 ones, which then stream each vector's weights in order (in a panel
    /// of four vectors they read every fourth cache line, and the first tile of each vector waited
    /// for memory: ResNet-18's 7×7 convs took 1.5× the time).
    panel: usize,
    /// Offset of depth step `(c, ky, kx)` (im2col row order) from a position's first tap in the
    /// padded planes: `c·Hp·Wp + ky·Wp + kx`.
    steps: Vec<usize>,
    /// Panel after panel; in each, step after step, the panel's channels' weights (zero past the
    /// last channel of the last vector).
    weights: Vec<f32>,
    /// One per output channel, zero to whole panels.
    bias: Vec<f32>,
    relu: bool,
}

/// Which SIMD tiles run the conv.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    /// Six positions × up to four vectors of sixteen channels ([`avx512`]).
    Avx512,
    /// Six positions × one vector of sixteen channels, in two registers ([`avx2`]).
    Avx2,
}

/// What the output stage does besides adding the bias: the skip's add (output planes hold it) and
/// the ReLU.
#[derive(Debug, Clone, Copy)]
struct Epilogue {
    add: bool,
    relu: bool,
}

impl LanesConvF32 {
    /// A conv of geometry `g` (any stride) with row-major weights `[O, C·K·K]`, an optional bias
    /// per output channel and an optional fused ReLU, its weights laid out for the table in force.
    pub fn new(
        g: ConvGeometry,
        weight: &[f32],
        out_channels: usize,
        bias: Option<&[f32]>,
        relu: bool,
    ) -> Result<Self, KernelError> {
        let panel = if Isa::Avx2.enabled() && !Isa::Avx512.enabled() {
            LANES
        } else {
            WIDE_PANEL
        };
        Self::with_panel(g, weight, out_channels, bias, relu, panel)
    }

    /// [`Self::new`] with `panel` output channels per panel (a multiple of [`LANES`], at most
    /// [`WIDE_PANEL`]).
    fn with_panel(
        g: ConvGeometry,
        weight: &[f32],
        out_channels: usize,
        bias: Option<&[f32]>,
        relu: bool,
        panel: usize,
    ) -> Result<Self, KernelError> {
        let depth = g.col_rows();
        let expected = out_channels
            .checked_mul(depth)
            .ok_or(KernelError::SizeOverflow {
                rows: out_channels,
                cols: depth,
            })?;
        if weight.len() != expected {
            return Err(KernelError::OperandLength {
                operand: "weight",
                expected,
                found: weight.len(),
            });
        }
        if let Some(b) = bias.filter(|b| b.len() != out_channels) {
            return Err(KernelError::OperandLength {
                operand: "bias",
                expected: out_channels,
                found: b.len(),
            });
        }
        let (k, wp, plane) = (
            g.kernel(),
            g.padded_width(),
            g.padded_height() * g.padded_width(),
        );
        let steps = (0..depth)
            .map(|d| (d / (k * k)) * plane + (d % (k * k) / k) * wp + d % k)
            .collect();
        let mut conv = Self {
            geometry: g,
            out_channels,
            panel,
            steps,
            weights: Vec::new(),
            bias: Vec::new(),
            relu,
        };
        let panels = out_channels.div_ceil(conv.panel).max(1);
        conv.weights = vec![0.0; conv.panel_offset(panels - 1) + conv.panel_len(panels - 1)];
        for (o, row) in weight
            .chunks_exact(depth.max(1))
            .enumerate()
            .take(out_channels)
        {
            let (base, width) = (
                conv.panel_offset(o / conv.panel),
                LANES * conv.vectors(o / conv.panel),
            );
            for (d, &v) in row.iter().enumerate() {
                conv.weights[base + d * width + o % conv.panel] = v;
            }
        }
        conv.bias = vec![0.0; panels * conv.panel];
        if let Some(b) = bias {
            conv.bias[..out_channels].copy_from_slice(b);
        }
        Ok(conv)
    }

    /// Whether [`Self::forward`] runs a SIMD kernel on this CPU (AVX-512 F, or AVX2 and FMA, within
    /// `FASTERAI_MAX_ISA`); elsewhere it runs the portable twin.
    pub fn available() -> bool {
        Isa::Avx2.enabled()
    }

    /// The conv's geometry.
    pub fn geometry(&self) -> ConvGeometry {
        self.geometry
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Multiply-adds per image.
    pub fn macs(&self) -> usize {
        self.out_channels * self.steps.len() * self.geometry.out_len()
    }

    /// The output stage of [`Self::forward`]: the bias and the conv's own ReLU, no skip.
    fn own_epilogue(&self) -> Epilogue {
        Epilogue {
            add: false,
            relu: self.relu,
        }
    }

    /// Vectors of sixteen channels in panel `panel` (four but in the last).
    fn vectors(&self, panel: usize) -> usize {
        (self.out_channels - panel * self.panel)
            .min(self.panel)
            .div_ceil(LANES)
            .max(1)
    }

    /// Values of panel `panel`'s weights.
    fn panel_len(&self, panel: usize) -> usize {
        self.steps.len() * LANES * self.vectors(panel)
    }

    /// Where panel `panel`'s weights start (every panel before it is full).
    fn panel_offset(&self, panel: usize) -> usize {
        panel * self.steps.len() * self.panel
    }

    /// Offset of output position `i`'s first tap in a padded plane.
    fn position(&self, i: usize) -> usize {
        let (ow, s) = (self.geometry.out_width(), self.geometry.stride());
        (i / ow) * s * self.geometry.padded_width() + (i % ow) * s
    }

    /// [`Self::position`] of the `n` positions from `first` on (one division per tile, not six:
    /// the 7×7 stem's tiles have only 147 depth steps); the slots past `n` repeat the last, whose
    /// sums are not stored.
    #[cfg(target_arch = "x86_64")]
    fn tile_positions(&self, first: usize, n: usize) -> [usize; POSITIONS] {
        let (s, wp) = (self.geometry.stride(), self.geometry.padded_width());
        step_positions(
            first,
            n,
            self.geometry.out_width(),
            self.position(first),
            (s * wp, s),
        )
    }

    /// `out = relu?(conv(x) + bias)`: one `[C, H, W]` image in, `[O, OH, OW]` out.
    /// [`Parallelism::AllCores`] splits the tiles over [`Team::global`](super::team::Team::global)
    /// in contiguous shares. `padded` receives the padded image (convs without padding read `x` in place).
    pub fn forward(
        &self,
        x: &[f32],
        out: &mut [f32],
        padded: &mut Vec<f32>,
        parallelism: Parallelism,
    ) -> Result<(), KernelError> {
        self.run(x, out, padded, parallelism, self.own_epilogue())
    }

    /// `out = relu?(out + conv(x) + bias)` with the ReLU given here instead of the conv's own: the
    /// add that ends a residual block fused into the conv that ends it (`out` holds the skip).
    ///
    /// ```
    /// use fasterai_runtime::kernels::{ConvGeometry, LanesConvF32, Parallelism};
    /// let g = ConvGeometry::new(1, 1, 2, 1, 1, 0)?;
    /// let conv = LanesConvF32::new(g, &[2.0], 1, None, false)?;
    /// let mut out = [10.0, -20.0];
    /// conv.forward_add(&[1.0, 2.0], &mut out, &mut Vec::new(), Parallelism::Sequential, true)?;
    /// assert_eq!(out, [12.0, 0.0]);
    /// # Ok::<(), fasterai_runtime::kernels::KernelError>(())
    /// ```
    pub fn forward_add(
        &self,
        x: &[f32],
        out: &mut [f32],
        padded: &mut Vec<f32>,
        parallelism: Parallelism,
        relu: bool,
    ) -> Result<(), KernelError> {
        self.run(x, out, padded, parallelism, Epilogue { add: true, relu })
    }

    fn run(
        &self,
        x: &[f32],
        out: &mut [f32],
        padded: &mut Vec<f32>,
        parallelism: Parallelism,
        epilogue: Epilogue,
    ) -> Result<(), KernelError> {
        self.check(x.len(), out.len())?;
        if self.out_channels == 0 || out.is_empty() {
            return Ok(());
        }
        #[cfg(target_arch = "x86_64")]
        if Self::available() {
            let tier = if Isa::Avx512.enabled() {
                Tier::Avx512
            } else {
                Tier::Avx2
            };
            self.run_simd(x, out, padded, parallelism, epilogue, tier);
            return Ok(());
        }
        let _ = parallelism;
        self.run_generic(x, out, padded, epilogue)
    }

    /// The checked operands on the tiles of `tier`, which the CPU must have.
    #[cfg(target_arch = "x86_64")]
    fn run_simd(
        &self,
        x: &[f32],
        out: &mut [f32],
        padded: &mut Vec<f32>,
        parallelism: Parallelism,
        epilogue: Epilogue,
        tier: Tier,
    ) {
        let g = &self.geometry;
        let team = Team::global();
        let threads = if parallelism == Parallelism::AllCores {
            team.threads()
        } else {
            1
        };
        let image = self.padded(x, padded, threads);
        let tiles = match tier {
            Tier::Avx512 => {
                self.out_channels.div_ceil(self.panel) * g.out_len().div_ceil(POSITIONS)
            }
            Tier::Avx2 => avx2::tile_count(self),
        };
        let parts = threads.min(tiles);
        // Contiguous shares, as the int8 direct conv: each thread keeps to its own panels.
        // (Shares cut into pieces that a thread done with its own takes from another's end
        // measured the same, also with a busy process on one core.)
        let out = OutPtr::new(out);
        team.run(parts, &|range| {
            for i in range {
                let share = i * tiles / parts..(i + 1) * tiles / parts;
                // SAFETY: the caller checked the tier's instructions and the operands; the
                // shares' tiles write disjoint positions of the output.
                unsafe {
                    match tier {
                        Tier::Avx512 => avx512::tiles(self, image, &out, share, epilogue),
                        Tier::Avx2 => avx2::tiles(self, image, &out, share, epilogue),
                    }
                };
            }
        });
    }

    /// [`Self::forward`] as plain loops over the same padded planes, weights and order of fused
    /// multiply-adds (the twin the SIMD kernel is tested against, equal to it bit for bit), on the
    /// calling thread.
    pub fn forward_generic(
        &self,
        x: &[f32],
        out: &mut [f32],
        padded: &mut Vec<f32>,
    ) -> Result<(), KernelError> {
        self.check(x.len(), out.len())?;
        self.run_generic(x, out, padded, self.own_epilogue())
    }

    /// [`Self::forward_add`] as [`Self::forward_generic`] runs [`Self::forward`].
    pub fn forward_add_generic(
        &self,
        x: &[f32],
        out: &mut [f32],
        padded: &mut Vec<f32>,
        relu: bool,
    ) -> Result<(), KernelError> {
        self.check(x.len(), out.len())?;
        self.run_generic(x, out, padded, Epilogue { add: true, relu })
    }

    fn run_generic(
        &self,
        x: &[f32],
        out: &mut [f32],
        padded: &mut Vec<f32>,
        epilogue: Epilogue,
    ) -> Result<(), KernelError> {
        let image = self.padded(x, padded, 1);
        let positions = self.geometry.out_len();
        for o in 0..self.out_channels {
            let (base, width) = (
                self.panel_offset(o / self.panel),
                LANES * self.vectors(o / self.panel),
            );
            for i in 0..positions {
                let at = self.position(i);
                let mut acc = self.bias[o];
                for (d, &step) in self.steps.iter().enumerate() {
                    acc = image[at + step]
                        .mul_add(self.weights[base + d * width + o % self.panel], acc);
                }
                let v = &mut out[o * positions + i];
                if epilogue.add {
                    acc += *v;
                }
                // ReLU keeping NaN, as the model's forward does.
                *v = if epilogue.relu && acc <= 0.0 {
                    0.0
                } else {
                    acc
                };
            }
        }
        Ok(())
    }

    /// The image as the kernel reads it: `x` itself when the conv has no padding (a 1×1 shortcut),
    /// else padded into `padded`, its planes shared out over `threads` of the team (a 56×56 map of
    /// 64 channels is 0.8 MB to copy).
    fn padded<'a>(&self, x: &'a [f32], padded: &'a mut Vec<f32>, threads: usize) -> &'a [f32] {
        let g = &self.geometry;
        let (c, h, w, p) = (g.channels(), g.height(), g.width(), g.padding());
        if p == 0 {
            return x;
        }
        let (plane, hp) = (g.padded_height() * g.padded_width(), g.padded_height());
        padded.resize(c * plane, 0.0);
        let dst = OutPtr::new(&mut padded[..]);
        let parts = threads.min(c).max(1);
        Team::global().run(parts, &|range| {
            for i in range {
                // SAFETY: share i pads its own planes.
                let mut view = unsafe { dst.view(plane, 0..plane) };
                for ch in i * c / parts..(i + 1) * c / parts {
                    pad_plane_rows(
                        &x[ch * h * w..][..h * w],
                        (h, w),
                        p,
                        0..hp,
                        0.0,
                        view.channel(ch),
                    );
                }
            }
        });
        padded
    }

    fn check(&self, x: usize, out: usize) -> Result<(), KernelError> {
        let g = &self.geometry;
        if x != g.image_len() {
            return Err(KernelError::OperandLength {
                operand: "image",
                expected: g.image_len(),
                found: x,
            });
        }
        let expected = self.out_channels * g.out_len();
        if out != expected {
            return Err(KernelError::OperandLength {
                operand: "output",
                expected,
                found: out,
            });
        }
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv_f32::tests::reference;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// `(C, H, W, K, stride, padding, O)`: strides 1 and 2, kernels 1 to 7, partial vectors and
    /// panels, maps smaller than a tile, tiles across rows.
    const SHAPES: [(usize, usize, usize, usize, usize, usize, usize); 9] = [
        (3, 11, 13, 7, 2, 3, 64),
        (16, 8, 8, 3, 1, 1, 64),
        (18, 7, 9, 3, 1, 1, 40),
        (32, 9, 9, 3, 2, 1, 80),
        (64, 8, 8, 1, 2, 0, 128),
        (5, 5, 5, 5, 1, 2, 130),
        (16, 1, 1, 3, 1, 1, 20),
        (24, 2, 3, 3, 1, 1, 7),
        (17, 6, 6, 2, 2, 0, 33),
    ];

    fn random(n: usize, rng: &mut StdRng) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    /// A conv of `shape` with random weights, bias and image.
    fn case(
        rng: &mut StdRng,
        (c, h, w, k, s, p, o): (usize, usize, usize, usize, usize, usize, usize),
        relu: bool,
    ) -> (LanesConvF32, Vec<f32>, Vec<f32>, Vec<f32>) {
        let g = ConvGeometry::new(c, h, w, k, s, p).unwrap();
        let (weight, bias, x) = (
            random(o * g.col_rows(), rng),
            random(o, rng),
            random(g.image_len(), rng),
        );
        (
            LanesConvF32::new(g, &weight, o, Some(&bias), relu).unwrap(),
            weight,
            bias,
            x,
        )
    }

    /// The portable twin equals the definition (im2col, the plain GEMM in f64, bias, ReLU), and
    /// with a skip, the definition plus the skip.
    #[test]
    fn the_portable_twin_equals_the_definition() {
        let mut rng = StdRng::seed_from_u64(31);
        let mut padded = Vec::new();
        for (i, shape) in SHAPES.into_iter().enumerate() {
            let relu = i % 2 == 0;
            let (conv, weight, bias, x) = case(&mut rng, shape, relu);
            let g = conv.geometry();
            let want = reference(g, &x, &weight, shape.6, &bias, relu);
            let mut got = vec![f32::NAN; want.len()];
            conv.forward_generic(&x, &mut got, &mut padded).unwrap();
            let skip = random(want.len(), &mut rng);
            let mut added = skip.clone();
            conv.forward_add_generic(&x, &mut added, &mut padded, true)
                .unwrap();
            let plain = reference(g, &x, &weight, shape.6, &bias, false);
            for (j, ((&a, &b), (&s, &d))) in got
                .iter()
                .zip(&want)
                .zip(skip.iter().zip(&plain))
                .enumerate()
            {
                assert!((a - b).abs() <= 1e-4, "{shape:?} at {j}: {a} against {b}");
                assert!(
                    (added[j] - (d + s).max(0.0)).abs() <= 1e-4,
                    "{shape:?} with the skip at {j}"
                );
            }
        }
    }

    /// The SIMD tiles this CPU has (whatever the cap).
    #[cfg(target_arch = "x86_64")]
    fn simd_tiers() -> Vec<Tier> {
        [(Isa::Avx512, Tier::Avx512), (Isa::Avx2, Tier::Avx2)]
            .into_iter()
            .filter(|(isa, _)| isa.on_cpu())
            .map(|(_, tier)| tier)
            .collect()
    }

    /// Each SIMD tier equals the portable twin bit for bit, on both weight layouts (panels of 64
    /// and of 16 channels), on one thread and on the team, with and without the skip.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_simd_kernel_equals_the_portable_twin() {
        let tiers = simd_tiers();
        if tiers.is_empty() {
            eprintln!("skipped: neither AVX-512 nor AVX2 on this CPU");
            return;
        }
        let mut rng = StdRng::seed_from_u64(32);
        let mut padded = Vec::new();
        for (i, shape) in SHAPES.into_iter().enumerate() {
            let (conv, weight, bias, x) = case(&mut rng, shape, i % 2 == 1);
            let len = shape.6 * conv.geometry().out_len();
            let mut want = vec![0.0; len];
            conv.forward_generic(&x, &mut want, &mut padded).unwrap();
            let skip = random(len, &mut rng);
            let mut want_added = skip.clone();
            let relu = i % 3 == 0;
            conv.forward_add_generic(&x, &mut want_added, &mut padded, relu)
                .unwrap();
            for (panel, parallelism) in [LANES, WIDE_PANEL]
                .into_iter()
                .flat_map(|p| [(p, Parallelism::Sequential), (p, Parallelism::AllCores)])
            {
                let conv = LanesConvF32::with_panel(
                    conv.geometry(),
                    &weight,
                    shape.6,
                    Some(&bias),
                    conv.relu,
                    panel,
                )
                .unwrap();
                for &tier in &tiers {
                    let plain = conv.own_epilogue();
                    let mut got = vec![f32::NAN; len];
                    conv.run_simd(&x, &mut got, &mut padded, parallelism, plain, tier);
                    assert_eq!(
                        got, want,
                        "{shape:?}, panel {panel}, {parallelism:?}, {tier:?}"
                    );
                    let mut added = skip.clone();
                    let epilogue = Epilogue { add: true, relu };
                    conv.run_simd(&x, &mut added, &mut padded, parallelism, epilogue, tier);
                    assert_eq!(
                        added, want_added,
                        "{shape:?} with the skip, panel {panel}, {parallelism:?}, {tier:?}"
                    );
                }
            }
        }
    }

    /// A NaN in the image stays NaN through the ReLU (PyTorch's semantics), on both kernels.
    #[test]
    fn the_relu_keeps_nan() {
        let g = ConvGeometry::new(1, 1, 2, 1, 1, 0).unwrap();
        let conv = LanesConvF32::new(g, &[1.0, -1.0], 2, None, true).unwrap();
        let x = [f32::NAN, -3.0];
        let (mut simd, mut twin) = ([0.0; 4], [0.0; 4]);
        conv.forward(&x, &mut simd, &mut Vec::new(), Parallelism::Sequential)
            .unwrap();
        conv.forward_generic(&x, &mut twin, &mut Vec::new())
            .unwrap();
        #[allow(unused_mut)]
        let mut outs = vec![simd, twin];
        #[cfg(target_arch = "x86_64")]
        for tier in simd_tiers() {
            let mut out = [0.0; 4];
            let epilogue = Epilogue {
                add: false,
                relu: true,
            };
            conv.run_simd(
                &x,
                &mut out,
                &mut Vec::new(),
                Parallelism::Sequential,
                epilogue,
                tier,
            );
            outs.push(out);
        }
        for out in outs {
            assert!(out[0].is_nan() && out[2].is_nan(), "{out:?}");
            assert_eq!([out[1], out[3]], [0.0, 3.0]);
        }
    }

    #[test]
    fn bad_operands_are_errors() {
        let g = ConvGeometry::new(2, 4, 4, 3, 2, 1).unwrap();
        assert!(matches!(
            LanesConvF32::new(g, &[0.0; 35], 2, None, false),
            Err(KernelError::OperandLength {
                operand: "weight",
                ..
            })
        ));
        assert!(matches!(
            LanesConvF32::new(g, &[0.0; 36], 2, Some(&[0.0]), false),
            Err(KernelError::OperandLength {
                operand: "bias",
                ..
            })
        ));
        let conv = LanesConvF32::new(g, &[0.0; 36], 2, None, false).unwrap();
        let mut out = vec![0.0; 8];
        assert!(matches!(
            conv.forward(
                &[0.0; 31],
                &mut out,
                &mut Vec::new(),
                Parallelism::Sequential
            ),
            Err(KernelError::OperandLength {
                operand: "image",
                ..
            })
        ));
        assert!(matches!(
            conv.forward_generic(&[0.0; 32], &mut out[1..], &mut Vec::new()),
            Err(KernelError::OperandLength {
                operand: "output",
                ..
            })
        ));
    }
}
