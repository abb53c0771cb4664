//! x86-64 kernels (AVX2 + FMA; AVX-VNNI; AVX-512; AVX-512 VNNI; AMX), named
//! `<isa>_<family>_<dtype>_<tile>`. Each is reached only through a table ([`super::int8::Int8Kernels`],
//! [`super::F32Kernels`]) or a check of [`super::isa`](mod@super::isa), and has a portable twin in [`super::generic`].

pub(crate) mod conv_f32;
pub mod gemm_i8;
pub mod gemm_i8_maddubs;
pub mod gemm_i8_avx512;
pub mod gemm_i8_amx;
pub mod gemm_i8_vnni;
pub mod gemv_f32;
pub mod gemv_i8;
pub mod interleave;
pub mod pack512;
pub mod pool_2x2;
pub(crate) mod pool_max3;
pub(crate) mod requantize;
pub(crate) mod requantize512;
pub(crate) mod winograd_u8;
