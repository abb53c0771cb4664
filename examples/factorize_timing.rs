//! Times the truncated SVDs that `cargo run --release --example vgg16` runs (fc1 = 12544 → 4096
//! and fc2 = 4096 → 4096, both at rank 2048) on random weights, by the Gram route, one layer after
//! the other (as `compress!` runs them) or with `--side-by-side` both at once (`factorize_all`).
//! With `--exact` it runs faer's dense SVD on one thread too (the path every layer took before the
//! Gram route) and compares the two: the kept singular values (the norms of the first factor's
//! rows) and the layer outputs on a few random inputs.
//!
//! ```sh
//! cargo run --release --example factorize_timing                    # Gram route, one layer after the other
//! cargo run --release --example factorize_timing -- --side-by-side  # both layers at once
//! cargo run --release --example factorize_timing -- --exact       # and the dense SVD, with the differences
//! FASTERAI_SVD_PHASES=1 cargo run --release --example factorize_timing  # each phase's wall and CPU time
//! ```
//!
//! The last line gives the process's CPU time beside the wall time (`/proc/self/stat`, Linux):
//! on a shared machine the wall time says little without it.

use std::time::Instant;

use fasterai::compress::factorize::{factorize_all, factorize_using, Factorization, FactorizeRequest, RankRule, SvdMethod};
use rand::{rngs::SmallRng, Rng, SeedableRng};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Inputs the outputs are compared on.
const PROBES: usize = 8;

const RANK: usize = 2048;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exact = args.iter().any(|a| a == "--exact");
    let sequential = !args.iter().any(|a| a == "--side-by-side");
    println!("{} rayon threads", rayon::current_num_threads());
    let mut rng = SmallRng::seed_from_u64(16);
    let layers = [("fc1", 4096, 12544), ("fc2", 4096, 4096)];
    // PyTorch's default Linear init: uniform in ±1/√inputs.
    let weights: Vec<Vec<f32>> = layers
        .iter()
        .map(|&(_, outputs, inputs)| {
            let bound = 1.0 / (inputs as f32).sqrt();
            (0..outputs * inputs).map(|_| rng.gen_range(-bound..bound)).collect()
        })
        .collect();
    let rule = RankRule::Fixed(RANK);
    let (start, cpu) = (Instant::now(), process_cpu_seconds());
    let grams: Vec<Factorization> = if sequential {
        layers
            .iter()
            .zip(&weights)
            .map(|(&(name, outputs, inputs), w)| {
                let start = Instant::now();
                let f = factorize_using(name, w, outputs, inputs, rule, RANK, SvdMethod::Gram).expect("gram");
                println!("{name} {outputs}×{inputs} rank {RANK}, Gram route: {:.1} s", start.elapsed().as_secs_f64());
                f
            })
            .collect()
    } else {
        let requests: Vec<FactorizeRequest<'_>> = layers
            .iter()
            .zip(&weights)
            .map(|(&(layer, outputs, inputs), weight)| FactorizeRequest {
                layer,
                weight,
                outputs,
                inputs,
                rule,
                capacity: RANK,
                method: SvdMethod::Gram,
            })
            .collect();
        factorize_all(&requests).into_iter().map(|f| f.expect("gram")).collect()
    };
    let (gram_wall, gram_cpu) = (start.elapsed().as_secs_f64(), process_cpu_seconds() - cpu);
    let how = if sequential { "one after the other" } else { "side by side" };
    println!("fc1 + fc2, Gram route {how}: {gram_wall:.1} s wall, {gram_cpu:.1} s CPU ({:.2} cores busy)", gram_cpu / gram_wall);
    if !exact {
        return;
    }
    let mut exact_total = 0.0;
    for ((&(name, outputs, inputs), w), gram) in layers.iter().zip(&weights).zip(&grams) {
        // One thread, as faer ran before its rayon feature was on.
        faer::set_global_parallelism(faer::Par::Seq);
        let start = Instant::now();
        let reference = factorize_using(name, w, outputs, inputs, rule, RANK, SvdMethod::Exact).expect("exact");
        let seconds = start.elapsed().as_secs_f64();
        faer::set_global_parallelism(faer::Par::rayon(0));
        exact_total += seconds;
        println!("{name} {outputs}×{inputs} rank {RANK}, exact SVD: {seconds:.1} s");
        let sigma = |f: &Factorization, k: usize| {
            f.first[k * inputs..(k + 1) * inputs].iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
        };
        let worst_sigma = (0..RANK)
            .map(|k| (sigma(gram, k) - sigma(&reference, k)).abs() / sigma(&reference, k))
            .fold(0.0, f64::max);
        let x: Vec<f32> = (0..PROBES * inputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let (yg, yr) = (apply(gram, &x, outputs, inputs), apply(&reference, &x, outputs, inputs));
        let scale = yr.iter().fold(0.0f64, |m, y| m.max(y.abs()));
        let worst_output = yg.iter().zip(&yr).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        println!(
            "  kept σ: max relative difference {worst_sigma:.2e}; outputs on {PROBES} inputs: max difference {worst_output:.2e} (largest output {scale:.2}); \
             Frobenius error {:.6} vs {:.6}",
            gram.report.frobenius_error, reference.report.frobenius_error
        );
    }
    println!("fc1 + fc2: exact SVD {exact_total:.1} s");
}

/// CPU seconds this process has used so far, all threads (`utime + stime` of `/proc/self/stat`,
/// 10 ms ticks; 0 where it is missing).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
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
