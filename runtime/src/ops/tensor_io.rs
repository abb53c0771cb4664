//! Moving data between dfdx CPU tensors and plain slices, which the kernels work on.

use dfdx::prelude::*;

/// Copies a tensor's values, in logical row-major order, into a new `Vec`.
///
/// A contiguous tensor costs one `memcpy`; a strided one (a broadcast, a permutation) is first made
/// contiguous by dfdx.
pub(crate) fn read_vec<S: Shape>(t: &Tensor<S, f32, Cpu>) -> Result<Vec<f32>, dfdx::tensor::CpuError> {
    let t = t.clone().try_contiguous()?;
    let mut v = vec![0.0; t.shape().num_elements()];
    t.copy_into(&mut v);
    Ok(v)
}

/// A CPU tensor's values in logical row-major order, borrowed in place (no copy); `None` for a
/// view whose strides are not the row-major ones (a broadcast, a permutation).
///
/// dfdx keeps a tensor's values in one buffer and reads index `i` at `strides · i`. Those strides
/// are not public, so they are read off the addresses of the first element and of its neighbour
/// along each axis; the last element's address confirms the run lies inside the buffer.
pub(crate) fn borrow_values<S: Shape, T>(t: &Tensor<S, f32, Cpu, T>) -> Option<&[f32]> {
    let dims = t.shape().concrete();
    let len = t.shape().num_elements();
    if len == 0 {
        return Some(&[]);
    }
    let origin = S::Concrete::default();
    let first: *const f32 = &t[origin];
    let mut step = len;
    for axis in 0..S::NUM_DIMS {
        step /= dims[axis];
        if dims[axis] > 1 {
            let mut next = origin;
            next[axis] = 1;
            if !std::ptr::eq(&t[next], first.wrapping_add(step)) {
                return None;
            }
        }
    }
    let mut last = origin;
    for axis in 0..S::NUM_DIMS {
        last[axis] = dims[axis] - 1;
    }
    // SAFETY: with the row-major strides (checked above), the `len` values from `first` are the
    // tensor's, up to its last one, which lies in its one buffer (checked here); `t` keeps that
    // buffer alive and unchanged while the borrow lasts.
    std::ptr::eq(&t[last], first.wrapping_add(len - 1)).then(|| unsafe { std::slice::from_raw_parts(first, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_tensors_are_borrowed_and_views_are_not() {
        let dev = Cpu::default();
        let t: Tensor<Rank3<2, 3, 4>, f32, Cpu> = dev.tensor_from_vec((0..24).map(|v| v as f32).collect(), (Const, Const, Const));
        assert_eq!(borrow_values(&t), Some(&t.as_vec()[..]));
        let permuted = t.clone().permute::<Rank3<2, 4, 3>, _>();
        assert_eq!(borrow_values(&permuted), None);
        let broadcast: Tensor<Rank2<5, 3>, f32, Cpu> = dev.tensor([1.0, 2.0, 3.0]).broadcast();
        assert_eq!(borrow_values(&broadcast), None);
        let one: Tensor<Rank2<1, 1>, f32, Cpu> = dev.tensor([[7.0]]);
        assert_eq!(borrow_values(&one), Some(&[7.0][..]));
        let empty: Tensor<Rank2<0, 3>, f32, Cpu> = dev.zeros();
        assert_eq!(borrow_values(&empty), Some(&[][..]));
        let images: Tensor<(usize, Const<2>, usize, usize), f32, Cpu> = dev.zeros_like(&(3, Const, 4, 5));
        assert_eq!(borrow_values(&images).map(<[f32]>::len), Some(120));
    }
}
