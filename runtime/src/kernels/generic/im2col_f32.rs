//! im2col and col2im one element at a time from the definition: the references of the fast
//! [`im2col`](crate::kernels::im2col) / [`col2im`](crate::kernels::col2im) and of the convolutions.

use crate::kernels::{ConvGeometry, KernelError};

/// The input pixel each element of the column buffer reads, in buffer order (row `(c, ki, kj)`,
/// then output position `(oh, ow)`): its index in the image, `None` in the padding.
fn column_sources(g: &ConvGeometry) -> Vec<Option<usize>> {
    let (oh_len, ow_len) = (g.out_height(), g.out_width());
    let mut sources = Vec::with_capacity(g.channels() * g.kernel() * g.kernel() * oh_len * ow_len);
    for c in 0..g.channels() {
        for ki in 0..g.kernel() {
            for kj in 0..g.kernel() {
                for oh in 0..oh_len {
                    for ow in 0..ow_len {
                        let ih = (oh * g.stride() + ki) as isize - g.padding() as isize;
                        let iw = (ow * g.stride() + kj) as isize - g.padding() as isize;
                        let inside = (0..g.height() as isize).contains(&ih)
                            && (0..g.width() as isize).contains(&iw);
                        sources.push(
                            inside.then(|| (c * g.height() + ih as usize) * g.width() + iw as usize),
                        );
                    }
                }
            }
        }
    }
    sources
}

/// Reference twin of [`im2col`](crate::kernels::im2col): one element at a time from the definition.
pub fn reference_im2col_f32(x: &[f32], g: &ConvGeometry, col: &mut [f32]) -> Result<(), KernelError> {
    g.check_buffers(x.len(), col.len())?;
    for (value, source) in col.iter_mut().zip(column_sources(g)) {
        *value = source.map_or(0.0, |i| x[i]);
    }
    Ok(())
}

/// Reference twin of [`col2im`](crate::kernels::col2im): one element at a time from the definition.
pub fn reference_col2im_f32(col: &[f32], g: &ConvGeometry, x_grad: &mut [f32]) -> Result<(), KernelError> {
    g.check_buffers(x_grad.len(), col.len())?;
    for (&value, source) in col.iter().zip(column_sources(g)) {
        if let Some(i) = source {
            x_grad[i] += value;
        }
    }
    Ok(())
}
