//! The portable int8 matrix-vector product: one output per weight row, for batch-1 Linear layers
//! where a GEMM tile of 16 columns would compute 15 useless ones.

/// `out[r] = Σ_k w[r·stride + k] · x[k]` for every row, `k < x.len()` (`x.len() ≤ stride`).
pub fn generic_gemv_u8i8(w: &[i8], stride: usize, x: &[u8], out: &mut [i32]) {
    for (row, o) in w.chunks_exact(stride).zip(out.iter_mut()) {
        *o = row.iter().zip(x).map(|(&a, &b)| a as i32 * b as i32).sum();
    }
}
