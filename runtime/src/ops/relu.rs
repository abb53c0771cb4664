//! ReLU on all cores: `y = max(x, 0)`, gradient passed where `x > 0`.
//!
//! As in PyTorch, NaN passes through (`relu(NaN) = NaN`, and its gradient is passed too), so a NaN
//! in the data reaches the loss instead of being hidden as 0. `f32::max(x, 0.0)` would return 0.

use dfdx::prelude::*;
use dfdx::tensor::CpuError;
use rayon::prelude::*;

use super::tensor_io::read_vec;

/// Elements per parallel chunk: large enough that scheduling costs nothing.
const CHUNK: usize = 1 << 14;

/// Rectified linear unit of any shape, recording its backward on `x`'s tape.
///
/// One pass on all cores clamps a copy of `x` in place; with a gradient tape it also keeps one
/// byte per element saying where `x` was positive, all the backward needs (instead of a second
/// copy of the input and a separate output buffer).
pub(crate) fn relu<S: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
) -> Result<Tensor<S, f32, Cpu, T>, CpuError> {
    let (x, mut tape) = x.split_tape();
    let mut ys = read_vec(&x)?;
    if !T::OWNS_TAPE {
        ys.par_chunks_mut(CHUNK).for_each(|y| y.iter_mut().for_each(|y| *y = relu_value(*y)));
        return Ok(x.device().tensor_from_vec(ys, *x.shape()).put_tape(tape));
    }
    let mut positive = vec![false; ys.len()];
    ys.par_chunks_mut(CHUNK).zip(positive.par_chunks_mut(CHUNK)).for_each(|(y, p)| {
        for (y, p) in y.iter_mut().zip(p) {
            // PyTorch's backward passes the gradient where `!(x <= 0)`: positive or NaN.
            *p = !(*y <= 0.0);
            *y = relu_value(*y);
        }
    });
    let out = x.device().tensor_from_vec(ys, *x.shape());
    let (xg, og) = (x.ghost(), out.ghost());
    tape.add_backward_op(move |grads| {
        // Borrow the output gradient by moving it out (no copy) and back once done.
        let dy: Vec<f32> = std::mem::take(&mut **grads.get_or_alloc_mut(&og)?);
        let dx: &mut [f32] = grads.get_or_alloc_mut(&xg)?;
        dx.par_chunks_mut(CHUNK).zip(dy.par_chunks(CHUNK)).zip(positive.par_chunks(CHUNK)).for_each(
            |((dx, dy), positive)| {
                for ((d, &g), &p) in dx.iter_mut().zip(dy).zip(positive) {
                    if p {
                        *d += g;
                    }
                }
            },
        );
        **grads.get_or_alloc_mut(&og)? = dy;
        Ok(())
    });
    Ok(out.put_tape(tape))
}

/// `max(x, 0)` that keeps NaN (PyTorch's semantics); `-0.0` and negatives give `0.0`.
#[inline(always)]
pub(crate) fn relu_value(x: f32) -> f32 {
    if x <= 0.0 {
        0.0
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_backward_match_the_definition() {
        let dev: Cpu = Default::default();
        let v: Vec<f32> = (0..40_000).map(|i| ((i * 7919) % 201) as f32 - 100.0).collect();
        let x = dev.tensor_from_vec(v.clone(), (v.len(),));
        let weights = dev.tensor_from_vec((0..v.len()).map(|i| (i % 5) as f32).collect(), (v.len(),));
        let y = relu(x.leaky_trace()).unwrap();
        assert_eq!(y.as_vec(), v.iter().map(|x| x.max(0.0)).collect::<Vec<_>>());
        let g = (y * weights).sum().backward();
        let want: Vec<f32> = v.iter().enumerate().map(|(i, &x)| if x > 0.0 { (i % 5) as f32 } else { 0.0 }).collect();
        assert_eq!(g.get(&x).as_vec(), want);
    }

    #[test]
    fn without_a_tape_the_values_are_the_same() {
        let dev: Cpu = Default::default();
        let v = vec![-2.0, -0.0, 0.0, 0.5, f32::NAN, 3.0, -1e-30, 1e-30];
        let traced = relu(dev.tensor_from_vec(v.clone(), (v.len(),)).leaky_trace()).unwrap().as_vec();
        let plain = relu(dev.tensor_from_vec(v.clone(), (v.len(),))).unwrap().as_vec();
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()));
        let want = [0.0, 0.0, 0.0, 0.5, f32::NAN, 3.0, 0.0, 1e-30];
        assert!(same(&plain, &want), "{plain:?}");
        assert!(same(&traced, &plain));
    }

    #[test]
    fn nan_propagates_forward_and_backward_as_in_pytorch() {
        let dev: Cpu = Default::default();
        let v = vec![-1.0, f32::NAN, 2.0];
        let x = dev.tensor_from_vec(v.clone(), (Const::<3>,));
        let y = relu(x.leaky_trace()).unwrap();
        assert!(y.as_vec()[1].is_nan());
        // The loss sees the NaN, and the gradient reaches the NaN's input (PyTorch passes it).
        let g = (y * dev.tensor([1.0f32, 2.0, 3.0])).sum().backward();
        assert_eq!(g.get(&x).as_vec(), vec![0.0, 2.0, 3.0]);
    }

    #[test]
    fn strided_input_is_read_in_logical_order() {
        let dev: Cpu = Default::default();
        let x: Tensor<Rank2<2, 3>, f32, Cpu> = dev.tensor([[-1.0, 2.0, -3.0], [4.0, -5.0, 6.0]]);
        let y = relu(x.permute::<Rank2<3, 2>, _>()).unwrap();
        assert_eq!(y.array(), [[0.0, 4.0], [2.0, 0.0], [0.0, 6.0]]);
    }
}
