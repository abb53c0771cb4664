//! Helpers shared by the benches (included with `#[path]`; not a bench itself).
#![allow(dead_code)]

/// CPU time used by this process so far (all threads), from /proc/self/stat (10 ms ticks).
pub fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Keeps freed memory in the process (like PyTorch's caching allocator) instead of glibc's
/// default of returning every large buffer to the kernel, which makes each fresh activation
/// buffer page-fault in again (measured: about a fifth of a conv layer's time). Set
/// `BENCH_SYSTEM_MALLOC=1` to measure with glibc's defaults.
pub fn keep_freed_memory() {
    if std::env::var_os("BENCH_SYSTEM_MALLOC").is_some() {
        return;
    }
    // SAFETY (the `unsafe` below): mallopt only changes glibc's allocation thresholds; called
    // before any threads allocate concurrently, with documented parameters and in-range values.
    // glibc refuses (returns 0 and changes nothing) an mmap threshold above 32 MiB on 64-bit
    // targets, so ask for exactly that: every SmallVgg activation at batch 64 is below it.
    let (mmap, trim) = unsafe { (libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20), libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX)) };
    assert!(mmap == 1 && trim == 1, "glibc refused the allocation thresholds");
}
