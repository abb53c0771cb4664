//! Single-sample CPU latency: warm-up, then timed runs, summarised as percentiles.

use std::{
    fmt,
    hint::black_box,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::{MeasureError, Millis};

/// How to measure: runs discarded first, runs timed, and the size of the thread pool.
///
/// ```
/// use fasterai_runtime::measure::LatencyOptions;
/// let opts = LatencyOptions::default().runs(200).threads(2);
/// assert_eq!((opts.warmup, opts.runs, opts.threads), (10, 200, Some(2)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyOptions {
    /// Untimed runs first, to fill caches and let allocators settle (default 10).
    pub warmup: usize,
    /// Timed runs (default 100; use at least 50 for stable percentiles).
    pub runs: usize,
    /// Threads of the rayon pool the runs execute in (`None`: rayon's default, one per core).
    pub threads: Option<usize>,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        Self { warmup: 10, runs: 100, threads: None }
    }
}

impl LatencyOptions {
    /// Sets the number of untimed warm-up runs.
    pub fn warmup(mut self, warmup: usize) -> Self {
        self.warmup = warmup;
        self
    }

    /// Sets the number of timed runs.
    pub fn runs(mut self, runs: usize) -> Self {
        self.runs = runs;
        self
    }

    /// Runs inside a rayon pool of `threads` threads (dfdx's matmuls and our kernels use it).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }
}

/// Summary of timed runs, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median (linear interpolation between the closest ranks).
    pub p50: Millis,
    /// 90th percentile (same interpolation).
    pub p90: Millis,
    /// Arithmetic mean.
    pub mean: Millis,
    /// Sample standard deviation (divides by `runs - 1`; 0 for a single run).
    pub std: Millis,
    /// Fastest run.
    pub min: Millis,
    /// Slowest run.
    pub max: Millis,
    /// Number of timed runs.
    pub runs: usize,
    /// Threads of the pool the runs executed in.
    pub threads: usize,
}

impl Latency {
    /// Summarises measured run times. Errors when `samples` is empty.
    ///
    /// ```
    /// use std::time::Duration;
    /// use fasterai_runtime::measure::{Latency, Millis};
    /// let runs: Vec<Duration> = [4, 1, 3, 2].map(Duration::from_millis).to_vec();
    /// let lat = Latency::from_samples(&runs, 1)?;
    /// assert_eq!((lat.p50, lat.mean, lat.max), (Millis(2.5), Millis(2.5), Millis(4.0)));
    /// # Ok::<(), fasterai_runtime::measure::MeasureError>(())
    /// ```
    pub fn from_samples(samples: &[Duration], threads: usize) -> Result<Self, MeasureError> {
        if samples.is_empty() {
            return Err(MeasureError::EmptyLatencyRun);
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let mean = ms.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (ms.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Ok(Self {
            p50: Millis(percentile(&ms, 0.5)),
            p90: Millis(percentile(&ms, 0.9)),
            mean: Millis(mean),
            std: Millis(std),
            min: Millis(ms[0]),
            max: Millis(ms[n - 1]),
            runs: n,
            threads,
        })
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {} · p90 {} · mean {:.2} ± {:.2} ms ({} runs, {} thread{})",
            self.p50,
            self.p90,
            self.mean.0,
            self.std.0,
            self.runs,
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }
}

/// The `q`-quantile of sorted values, interpolating linearly between the closest ranks.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Times `f(sample)`: `opts.warmup` untimed calls, then `opts.runs` timed ones, all inside a rayon
/// pool of `opts.threads` threads.
///
/// `f` is typically one forward pass of a model on a single image; its result is passed through
/// [`black_box`] so the call is not optimised away. Anything `f` does (cloning the input for a
/// by-value `forward`, for instance) is part of the time.
///
/// ```
/// use fasterai_runtime::{dfdx::prelude::{Rank1, ZerosTensor}, measure::{cpu_latency, LatencyOptions}, nn::Linear, prelude::*};
/// let dev = Cpu::default();
/// let model: Linear<64, 10> = BuildModule::build(&dev);
/// let x: Tensor<Rank1<64>, f32, Cpu> = dev.zeros();
/// let lat = cpu_latency(|x| model.forward(x.clone()), &x, &LatencyOptions::default().runs(50).threads(1))?;
/// assert_eq!((lat.runs, lat.threads), (50, 1));
/// assert!(lat.p50 <= lat.p90);
/// # Ok::<(), fasterai_runtime::measure::MeasureError>(())
/// ```
pub fn cpu_latency<S, R, F>(mut f: F, sample: &S, opts: &LatencyOptions) -> Result<Latency, MeasureError>
where
    S: Sync + ?Sized,
    F: FnMut(&S) -> R + Send,
{
    if opts.runs == 0 {
        return Err(MeasureError::EmptyLatencyRun);
    }
    let mut builder = rayon::ThreadPoolBuilder::new();
    match opts.threads {
        Some(0) => return Err(MeasureError::ZeroThreads),
        Some(n) => builder = builder.num_threads(n),
        None => {}
    }
    let pool = builder
        .build()
        .map_err(|source| MeasureError::ThreadPool { threads: opts.threads.unwrap_or(0), source })?;
    let samples = pool.install(|| {
        for _ in 0..opts.warmup {
            black_box(f(black_box(sample)));
        }
        let mut samples = Vec::with_capacity(opts.runs);
        for _ in 0..opts.runs {
            let start = Instant::now();
            black_box(f(black_box(sample)));
            samples.push(start.elapsed());
        }
        samples
    });
    Latency::from_samples(&samples, pool.current_num_threads())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_known_samples() {
        let samples: Vec<Duration> = (1..=10).rev().map(Duration::from_millis).collect();
        let lat = Latency::from_samples(&samples, 3).unwrap();
        let close = |a: Millis, b: f64| (a.0 - b).abs() < 1e-9;
        assert!(close(lat.p50, 5.5), "{lat:?}");
        assert!(close(lat.p90, 9.1), "{lat:?}");
        assert!(close(lat.mean, 5.5), "{lat:?}");
        // Sample variance of 1..=10 is 55/6.
        assert!(close(lat.std, (55.0f64 / 6.0).sqrt()), "{lat:?}");
        assert!(close(lat.min, 1.0) && close(lat.max, 10.0));
        assert_eq!((lat.runs, lat.threads), (10, 3));
        let one = Latency::from_samples(&[Duration::from_micros(250)], 1).unwrap();
        assert_eq!((one.p50, one.p90, one.std), (Millis(0.25), Millis(0.25), Millis(0.0)));
        assert!(matches!(Latency::from_samples(&[], 1), Err(MeasureError::EmptyLatencyRun)));
    }

    #[test]
    fn runs_warmup_plus_runs_calls_in_a_pool_of_the_asked_size() {
        let mut calls = 0usize;
        let mut pool_sizes = Vec::new();
        let opts = LatencyOptions::default().warmup(3).runs(7).threads(2);
        let lat = cpu_latency(
            |x: &usize| {
                calls += 1;
                pool_sizes.push(rayon::current_num_threads());
                x + 1
            },
            &41,
            &opts,
        )
        .unwrap();
        assert_eq!(calls, 10);
        assert!(pool_sizes.iter().all(|&n| n == 2), "{pool_sizes:?}");
        assert_eq!((lat.runs, lat.threads), (7, 2));
    }

    #[test]
    fn a_sleeping_workload_orders_its_statistics() {
        // Every call sleeps at least 1 ms, the calls after the 40th at least 3 ms: sleeps are lower
        // bounds, so the ordering below holds however loaded the machine is.
        let mut i = 0;
        let opts = LatencyOptions::default().warmup(0).runs(50).threads(1);
        let lat = cpu_latency(
            |_: &()| {
                i += 1;
                std::thread::sleep(Duration::from_millis(if i > 40 { 3 } else { 1 }));
            },
            &(),
            &opts,
        )
        .unwrap();
        assert!(lat.min.0 >= 1.0, "{lat:?}");
        assert!(lat.min <= lat.p50 && lat.p50 <= lat.p90 && lat.p90 <= lat.max, "{lat:?}");
        assert!(lat.min <= lat.mean && lat.mean <= lat.max, "{lat:?}");
        assert!(lat.max.0 >= 3.0, "{lat:?}");
    }

    #[test]
    fn zero_runs_or_zero_threads_are_errors() {
        let f = |_: &()| ();
        assert!(matches!(
            cpu_latency(f, &(), &LatencyOptions::default().runs(0)),
            Err(MeasureError::EmptyLatencyRun)
        ));
        assert!(matches!(
            cpu_latency(f, &(), &LatencyOptions::default().threads(0)),
            Err(MeasureError::ZeroThreads)
        ));
    }
}
