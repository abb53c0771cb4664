//! Bad input gives typed errors, never a panic.

use dfdx::prelude::*;

use super::*;
use crate::ops::assert_kernel_error;

#[test]
fn window_larger_than_padded_input_names_both_sizes() {
    let dev = Cpu::default();
    let x = images(&dev, vec![0.0; 2 * 3], (1, 1, 2, 3));
    let err = try_max_pool2d(x, window(5, 1, 1)).unwrap_err();
    assert_kernel_error!(err, PoolWindowTooLarge { kernel: 5, padded_height: 4, padded_width: 5, .. });
    let message = err.to_string();
    assert!(
        message.contains("5x5 window") && message.contains("4x5") && message.contains("2x3"),
        "{message}"
    );
}

#[test]
fn padding_over_half_the_kernel_is_refused() {
    let dev = Cpu::default();
    let x = images(&dev, vec![0.0; 16], (1, 1, 4, 4));
    let err = try_avg_pool2d(x, window(3, 1, 2)).unwrap_err();
    assert_kernel_error!(err, PoolPaddingTooLarge { kernel: 3, padding: 2, max_padding: 1, .. });
}

#[test]
fn zero_parameters_and_empty_images_are_refused() {
    let dev = Cpu::default();
    let x = images(&dev, vec![0.0; 16], (1, 1, 4, 4));
    let zero_stride = try_max_pool2d(x.clone(), window(2, 0, 0)).unwrap_err();
    assert_kernel_error!(zero_stride, PoolZeroParameter { what: "stride", .. });
    let zero_kernel = try_avg_pool2d(x.clone(), window(0, 1, 0)).unwrap_err();
    assert_kernel_error!(zero_kernel, PoolZeroParameter { what: "kernel size", .. });
    let zero_out = try_adaptive_avg_pool2d(x, 0, 3).unwrap_err();
    assert_kernel_error!(zero_out, PoolZeroParameter { what: "output height", .. });
    let empty = images(&dev, vec![], (2, 3, 0, 4));
    let err = try_global_avg_pool2d(empty).unwrap_err();
    assert_kernel_error!(err, PoolEmptyImage { height: 0, width: 4, .. });
}

#[test]
fn empty_batch_gives_empty_output() {
    let dev = Cpu::default();
    let x = images(&dev, vec![], (0, 3, 8, 8));
    let y = try_max_pool2d(x.leaky_trace(), window(2, 2, 0)).unwrap();
    assert_eq!(*y.shape(), (0, 3, 4, 4));
}
