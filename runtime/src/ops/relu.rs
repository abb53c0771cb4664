//! ReLU on all cores: `y = max(x, 0)`, gradient passed where `x > 0`.

use dfdx::prelude::*;
use dfdx::tensor::CpuError;
use rayon::prelude::*;

use super::tensor_io::read_vec;

/// Elements per parallel chunk: large enough that scheduling costs nothing.
const CHUNK: usize = 1 << 14;

/// Rectified linear unit of any shape, recording its backward on `x`'s tape.
pub(crate) fn relu<S: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
) -> Result<Tensor<S, f32, Cpu, T>, CpuError> {
    let (x, mut tape) = x.split_tape();
    let xs = read_vec(&x)?;
    let mut ys = vec![0.0; xs.len()];
    ys.par_chunks_mut(CHUNK).zip(xs.par_chunks(CHUNK)).for_each(|(y, x)| {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x.max(0.0);
        }
    });
    let out = x.device().tensor_from_vec(ys, *x.shape());
    let (xg, og) = (x.ghost(), out.ghost());
    tape.add_backward_op(move |grads| {
        let dy = grads.get_or_alloc_mut(&og)?.to_vec();
        let dx: &mut [f32] = grads.get_or_alloc_mut(&xg)?;
        dx.par_chunks_mut(CHUNK).zip(dy.par_chunks(CHUNK)).zip(xs.par_chunks(CHUNK)).for_each(
            |((dx, dy), x)| {
                for ((d, &g), &x) in dx.iter_mut().zip(dy).zip(x) {
                    if x > 0.0 {
                        *d += g;
                    }
                }
            },
        );
        Ok(())
    });
    Ok(out.put_tape(tape))
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
    fn strided_input_is_read_in_logical_order() {
        let dev: Cpu = Default::default();
        let x: Tensor<Rank2<2, 3>, f32, Cpu> = dev.tensor([[-1.0, 2.0, -3.0], [4.0, -5.0, 6.0]]);
        let y = relu(x.permute::<Rank2<3, 2>, _>()).unwrap();
        assert_eq!(y.array(), [[0.0, 4.0], [2.0, 0.0], [0.0, 6.0]]);
    }
}
