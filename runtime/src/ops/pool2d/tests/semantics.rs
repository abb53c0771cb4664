//! Semantics the random checks would not pin down: ties, NaN, accumulation, strided inputs, typing.

use dfdx::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::kernels::generic::pool_f32 as reference;

use super::*;

#[test]
fn max_pool_ties_send_gradient_to_first_maximum() {
    let dev = Cpu::default();
    for (size, window) in [(4, window(2, 2, 0)), (5, window(3, 2, 1))] {
        let x = images(&dev, vec![1.0; size * size], (1, 1, size, size));
        let grad = try_max_pool2d(x.leaky_trace(), window)
            .unwrap()
            .sum()
            .backward()
            .get(&x)
            .as_vec();
        let (_, argmax) = reference::max_pool2d(&vec![1.0; size * size], (size, size), window);
        // Each window's first real pixel (row-major) gets the gradient, and nothing else does.
        for (i, &g) in grad.iter().enumerate() {
            let wins = argmax.iter().filter(|&&a| a == i).count() as f32;
            assert_eq!(g, wins, "pixel {i}");
        }
        assert_eq!(grad[0], 1.0);
    }
}

#[test]
fn max_pool_propagates_nan_like_pytorch() {
    let dev = Cpu::default();
    let values = vec![1.0, f32::NAN, 3.0, 2.0];
    // The 2×2 fast path and the general loop, each without and with a tape (argmax tracking).
    for window in [window(2, 2, 0), window(3, 1, 1)] {
        let plain = try_max_pool2d(images(&dev, values.clone(), (1, 1, 2, 2)), window).unwrap();
        let x = images(&dev, values.clone(), (1, 1, 2, 2));
        let taped = try_max_pool2d(x.leaky_trace(), window).unwrap();
        assert!(plain.as_vec().iter().all(|v| v.is_nan()), "{window:?}");
        assert!(taped.as_vec().iter().all(|v| v.is_nan()), "{window:?}");
        // Every window's gradient goes to the NaN, as PyTorch's argmax does.
        let grad = taped.sum().backward().get(&x).as_vec();
        let windows = grad.iter().sum::<f32>();
        assert_eq!(grad, [0.0, windows, 0.0, 0.0], "{window:?}");
    }
}

#[test]
fn gradients_accumulate_over_two_uses() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(20);
    let window = window(3, 2, 1);
    let x = images(&dev, uniform(&mut rng, 2 * 3 * 6 * 6), (2, 3, 6, 6));
    let once = try_avg_pool2d(x.leaky_trace(), window)
        .unwrap()
        .sum()
        .backward()
        .get(&x)
        .as_vec();
    let a = try_avg_pool2d(x.leaky_trace(), window).unwrap().sum();
    let b = try_max_pool2d(x.leaky_trace(), window).unwrap().sum();
    let c = try_global_avg_pool2d(x.leaky_trace()).unwrap().sum();
    let both = (a + b + c).backward().get(&x).as_vec();
    let max_only = try_max_pool2d(x.leaky_trace(), window)
        .unwrap()
        .sum()
        .backward()
        .get(&x)
        .as_vec();
    for i in 0..once.len() {
        let want = once[i] + max_only[i] + 1.0 / 36.0;
        assert!(
            (both[i] - want).abs() < 1e-6,
            "element {i}: {} vs {want}",
            both[i]
        );
    }
}

#[test]
fn non_contiguous_input_gives_the_same_values_and_gradients() {
    let dev = Cpu::default();
    let mut rng = SmallRng::seed_from_u64(21);
    let window = window(3, 2, 1);
    // Stored as (b, c, w, h) and viewed as (b, c, h, w) through a permutation.
    let stored: Dynamic = images(&dev, distinct(&mut rng, 2 * 3 * 5 * 7), (2, 3, 5, 7));
    let contiguous: Dynamic = images(
        &dev,
        stored.clone().permute::<_, Axes4<0, 1, 3, 2>>().as_vec(),
        (2, 3, 7, 5),
    );
    let y_view = try_max_pool2d(
        stored.leaky_trace().permute::<_, Axes4<0, 1, 3, 2>>(),
        window,
    )
    .unwrap();
    let y_copy = try_max_pool2d(contiguous.leaky_trace(), window).unwrap();
    assert_eq!(y_view.as_vec(), y_copy.as_vec());
    let g_view = y_view
        .sum()
        .backward()
        .get(&stored)
        .permute::<_, Axes4<0, 1, 3, 2>>()
        .as_vec();
    let g_copy = y_copy.sum().backward().get(&contiguous).as_vec();
    assert_eq!(g_view, g_copy);
}

#[test]
fn channel_dim_stays_typed() {
    let dev = Cpu::default();
    let x: Images<Const<3>, NoneTape> = dev.zeros_like(&(2, Const::<3>, 8, 8));
    let y: Images<Const<3>, NoneTape> = try_max_pool2d(x.clone(), window(2, 2, 0)).unwrap();
    assert_eq!(*y.shape(), (2, Const::<3>, 4, 4));
    let g: Tensor<(usize, Const<3>), f32, Cpu> = try_global_avg_pool2d(x).unwrap();
    assert_eq!(g.shape().0, 2);
}
