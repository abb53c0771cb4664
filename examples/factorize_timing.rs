//! Times the truncated SVDs that `cargo run --release --example vgg16` runs (fc1 = 12544 → 4096
//! and fc2 = 4096 → 4096, both at rank 2048) on random weights, by the Gram route and, with
//! `--exact`, by faer's dense SVD on one thread too (the path every layer took before the Gram
//! route), and compares the two: the kept singular values (the norms of the first factor's rows)
//! and the layer outputs on a few random inputs.
//!
//! ```sh
//! cargo run --release --example factorize_timing            # Gram route only
//! cargo run --release --example factorize_timing -- --exact # both, with the differences
//! FASTERAI_SVD_PHASES=1 cargo run --release --example factorize_timing  # and each phase's wall and CPU time
//! ```

use std::time::Instant;

use fasterai::compress::factorize::{factorize_using, Factorization, RankRule, SvdMethod};
use rand::{rngs::SmallRng, Rng, SeedableRng};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Inputs the outputs are compared on.
const PROBES: usize = 8;

fn main() {
    let exact = std::env::args().skip(1).any(|a| a == "--exact");
    println!("{} rayon threads", rayon::current_num_threads());
    let mut rng = SmallRng::seed_from_u64(16);
    let mut totals = [0.0f64; 2];
    for (name, outputs, inputs) in [("fc1", 4096, 12544), ("fc2", 4096, 4096)] {
        // PyTorch's default Linear init: uniform in ±1/√inputs.
        let bound = 1.0 / (inputs as f32).sqrt();
        let w: Vec<f32> = (0..outputs * inputs).map(|_| rng.gen_range(-bound..bound)).collect();
        let rule = RankRule::Fixed(2048);
        let start = Instant::now();
        let gram = factorize_using(name, &w, outputs, inputs, rule, 2048, SvdMethod::Gram).expect("gram");
        let seconds = start.elapsed().as_secs_f64();
        totals[0] += seconds;
        println!("{name} {outputs}×{inputs} rank 2048, Gram route: {seconds:.1} s");
        if !exact {
            continue;
        }
        // One thread, as faer ran before its rayon feature was on.
        faer::set_global_parallelism(faer::Par::Seq);
        let start = Instant::now();
        let reference = factorize_using(name, &w, outputs, inputs, rule, 2048, SvdMethod::Exact).expect("exact");
        let seconds = start.elapsed().as_secs_f64();
        faer::set_global_parallelism(faer::Par::rayon(0));
        totals[1] += seconds;
        println!("{name} {outputs}×{inputs} rank 2048, exact SVD:  {seconds:.1} s");
        let sigma = |f: &Factorization, k: usize| {
            f.first[k * inputs..(k + 1) * inputs].iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
        };
        let worst_sigma = (0..2048)
            .map(|k| (sigma(&gram, k) - sigma(&reference, k)).abs() / sigma(&reference, k))
            .fold(0.0, f64::max);
        let x: Vec<f32> = (0..PROBES * inputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let (yg, yr) = (apply(&gram, &x, outputs, inputs), apply(&reference, &x, outputs, inputs));
        let scale = yr.iter().fold(0.0f64, |m, y| m.max(y.abs()));
        let worst_output = yg.iter().zip(&yr).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        println!(
            "  kept σ: max relative difference {worst_sigma:.2e}; outputs on {PROBES} inputs: max difference {worst_output:.2e} (largest output {scale:.2}); \
             Frobenius error {:.6} vs {:.6}",
            gram.report.frobenius_error, reference.report.frobenius_error
        );
    }
    println!("fc1 + fc2: Gram route {:.1} s{}", totals[0], if exact { format!(", exact SVD {:.1} s", totals[1]) } else { String::new() });
}

/// `second·(first·x)` for each of the `PROBES` rows of `x`, in f64.
fn apply(f: &Factorization, x: &[f32], outputs: usize, inputs: usize) -> Vec<f64> {
    let k = f.report.capacity;
    let mut out = Vec::with_capacity(PROBES * outputs);
    for row in x.chunks(inputs) {
        let middle: Vec<f64> = (0..k)
            .map(|r| f.first[r * inputs..(r + 1) * inputs].iter().zip(row).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum())
            .collect();
        out.extend((0..outputs).map(|o| (0..k).map(|r| f64::from(f.second[o * k + r]) * middle[r]).sum::<f64>()));
    }
    out
}
