//! The IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! An IDX file is a big-endian header, magic number `0x0000_08NN` (unsigned bytes, `NN` dimensions)
//! then one `u32` per dimension, followed by exactly the product of the dimensions in bytes.
//! [`read_idx_images`] and [`read_idx_labels`] read one file; [`idx_dir`] (and its shortcuts
//! [`mnist_dir`], [`fashion_mnist_dir`]) loads a whole directory as fetched by `scripts/fetch-data.sh`.

mod dir;
mod reader;
#[cfg(test)]
mod tests;

pub use dir::{fashion_mnist_dir, idx_dir, mnist_dir, IDX_CLASSES};
pub use reader::{read_idx_images, read_idx_labels, IdxImages, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC};
