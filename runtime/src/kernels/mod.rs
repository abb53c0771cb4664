//! Numeric kernels: fast versions beside the plain reference versions the tests compare them with.
