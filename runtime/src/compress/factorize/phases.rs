//! Opt-in timing of the Gram route's phases, for `examples/factorize_timing.rs` and anyone
//! profiling a factorization: with `FASTERAI_SVD_PHASES=1` in the environment, each phase of
//! [`truncated_svd`](super::gram::truncated_svd) prints one line to stderr,
//!
//! ```text
//! svd 4096×12544 m=2048  gram f32                 wall  1.21 s  cpu  2.35 s
//! ```
//!
//! with its wall time and the CPU time the whole process spent meanwhile (`utime + stime` of
//! `/proc/self/stat`, 10 ms ticks; Linux only, 0 elsewhere). CPU over wall is the number of cores
//! the phase kept busy. When two factorizations run at once their phases overlap and each line
//! counts the other's CPU too. Off (the default), a phase costs one branch.

use std::sync::OnceLock;
use std::time::Instant;

/// Whether `FASTERAI_SVD_PHASES` is set to something other than `0` or empty (read once).
fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("FASTERAI_SVD_PHASES").is_ok_and(|v| !v.is_empty() && v != "0"))
}

/// CPU seconds this process has used so far, all threads (0 where `/proc` is missing).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// The clock of one factorization's phases: [`Phases::mark`] ends the current phase.
pub(super) struct Phases {
    /// `None` when timing is off.
    state: Option<(String, Instant, f64)>,
}

impl Phases {
    /// Starts the first phase of the factorization described by `label` (timing only when
    /// `FASTERAI_SVD_PHASES` asks for it).
    pub(super) fn start(label: impl FnOnce() -> String) -> Self {
        let state = enabled().then(|| (label(), Instant::now(), process_cpu_seconds()));
        Phases { state }
    }

    /// Ends the phase called `name` (printing its times when on) and starts the next.
    pub(super) fn mark(&mut self, name: &str) {
        if let Some((label, wall, cpu)) = &mut self.state {
            let (now, cpu_now) = (Instant::now(), process_cpu_seconds());
            eprintln!(
                "svd {label}  {name:<24} wall {:5.2} s  cpu {:5.2} s",
                (now - *wall).as_secs_f64(),
                cpu_now - *cpu
            );
            (*wall, *cpu) = (now, cpu_now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_cpu_time_is_finite_and_not_negative() {
        let t = process_cpu_seconds();
        assert!(t.is_finite() && t >= 0.0);
    }

    #[test]
    fn marks_without_the_variable_print_nothing_and_do_not_fail() {
        let mut phases = Phases { state: None };
        phases.mark("nothing");
        assert!(phases.state.is_none());
    }
}
