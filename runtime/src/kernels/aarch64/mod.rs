//! aarch64 kernels (NEON; the ARMv8.2 dot product), named `<isa>_<family>_<dtype>_<tile>`. Each is
//! reached only through a table ([`super::int8::Int8Kernels`], [`super::F32Kernels`]) or a check of
//! [`super::isa`](mod@super::isa), and has a portable twin in [`super::generic`]; the same
//! conformance suites hold them to it.

pub(crate) mod conv_f32;
pub mod gemm_i8;
pub mod gemv_f32;
pub mod gemv_i8;
pub mod pool_2x2;
mod requantize;
