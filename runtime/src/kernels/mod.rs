//! Numeric kernels: fast versions beside the plain reference versions the tests compare them with.

pub mod conv_u8;
pub mod generic;
pub mod int8;
pub mod pack_i8;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;
#[cfg(test)]
mod conformance_i8;
