//! Copying an input tensor's values out of dfdx into a reused buffer.
//!
//! dfdx 0.13 gives no public borrow of a CPU tensor's storage; `copy_into` (a `memcpy`) is the fastest
//! public way to read it. Copying into a freshly allocated buffer would also pay the page faults of
//! new memory on every call, so each thread keeps one buffer and reuses it, up to [`KEEP_LIMIT`].

use std::cell::Cell;

use dfdx::prelude::{Cpu, HasShape, Shape, Tensor};

/// The largest buffer (in `f32`s, 64 MiB) a thread keeps between calls; larger inputs get a buffer
/// that is freed afterwards.
const KEEP_LIMIT: usize = 1 << 24;

thread_local! {
    static STAGING: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `work` on the values of `x`, which must be contiguous (strides of its own shape), in
/// logical order.
pub(super) fn with_values<S: Shape, T, R>(
    x: &Tensor<S, f32, Cpu, T>,
    work: impl FnOnce(&[f32]) -> R,
) -> R {
    let len = x.shape().num_elements();
    let mut buffer = STAGING.with(Cell::take);
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    x.copy_into(&mut buffer[..len]);
    let result = work(&buffer[..len]);
    if buffer.len() <= KEEP_LIMIT {
        STAGING.with(|staging| staging.set(buffer));
    }
    result
}
