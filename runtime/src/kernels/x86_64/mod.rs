//! x86-64 kernels (AVX2 + FMA; AVX-VNNI; AVX-512 VNNI; AMX). Each is reached only through a table built after
//! `is_x86_feature_detected!`, and has a portable twin in [`super::generic`].

pub mod gemm_i8;
pub mod gemm_i8_avx512;
pub mod gemm_i8_amx;
pub mod gemm_i8_vnni;
pub mod gemv_i8;
mod requantize;
pub(crate) mod requantize512;
pub mod pack512;
