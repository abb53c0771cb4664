//! im2col and col2im one element at a time from the definition: the references of the fast
//! [`im2col`](crate::kernels::im2col) / [`col2im`](crate::kernels::col2im) and of the convolutions.

use crate::kernels::{ConvGeometry, KernelError};

/// Reference twin of [`im2col`](crate::kernels::im2col): one element at a time from the definition.
pub fn reference_im2col_f32(x: &[f32], g: &ConvGeometry, col: &mut [f32]) -> Result<(), KernelError> {
    g.check_buffers(x.len(), col.len())?;
    let (oh_len, ow_len) = (g.out_height(), g.out_width());
    for c in 0..g.channels() {
        for ki in 0..g.kernel() {
            for kj in 0..g.kernel() {
                let r = (c * g.kernel() + ki) * g.kernel() + kj;
                for oh in 0..oh_len {
                    for ow in 0..ow_len {
                        let ih = (oh * g.stride() + ki) as isize - g.padding() as isize;
                        let iw = (ow * g.stride() + kj) as isize - g.padding() as isize;
                        let inside = (0..g.height() as isize).contains(&ih)
                            && (0..g.width() as isize).contains(&iw);
                        col[r * oh_len * ow_len + oh * ow_len + ow] = if inside {
                            x[(c * g.height() + ih as usize) * g.width() + iw as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
    Ok(())
}

/// Reference twin of [`col2im`](crate::kernels::col2im): one element at a time from the definition.
pub fn reference_col2im_f32(col: &[f32], g: &ConvGeometry, x_grad: &mut [f32]) -> Result<(), KernelError> {
    g.check_buffers(x_grad.len(), col.len())?;
    let (oh_len, ow_len) = (g.out_height(), g.out_width());
    for c in 0..g.channels() {
        for ki in 0..g.kernel() {
            for kj in 0..g.kernel() {
                let r = (c * g.kernel() + ki) * g.kernel() + kj;
                for oh in 0..oh_len {
                    for ow in 0..ow_len {
                        let ih = (oh * g.stride() + ki) as isize - g.padding() as isize;
                        let iw = (ow * g.stride() + kj) as isize - g.padding() as isize;
                        if (0..g.height() as isize).contains(&ih)
                            && (0..g.width() as isize).contains(&iw)
                        {
                            x_grad[(c * g.height() + ih as usize) * g.width() + iw as usize] +=
                                col[r * oh_len * ow_len + oh * ow_len + ow];
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
