//! Observers: watch calibration batches of one activation, then choose its quantization parameters.
//!
//! - [`MinMaxObserver`]: the full range seen. Never clips; one outlier coarsens every step.
//! - [`PercentileObserver`]: clip the rarest tail values (e.g. keep 99.99% of them).
//! - [`MseObserver`]: the clipping range that minimises the squared quantization error of what was seen.
//!
//! Asking before any value was seen is [`QuantError::EmptyCalibration`], never a default range.
//!
//! ```
//! use fasterai_runtime::quant::{MinMaxObserver, Observer};
//! let mut obs = MinMaxObserver::default();
//! assert!(obs.qparams().is_err());
//! obs.observe(&[0.0, 0.5, 2.55]).unwrap();
//! let p = obs.qparams().unwrap();
//! assert_eq!((p.zero_point, p.quantize(2.55)), (0, 255));
//! ```

mod histogram;
mod minmax;
mod mse;
mod percentile;

pub use histogram::Histogram;
pub use minmax::MinMaxObserver;
pub use mse::MseObserver;
pub use percentile::PercentileObserver;

use super::{ActivationQParams, QuantError};

/// Something that watches calibration data and proposes activation quantization parameters.
pub trait Observer {
    /// Records one batch of values (any shape, flattened). Non-finite values are an error.
    fn observe(&mut self, batch: &[f32]) -> Result<(), QuantError>;
    /// The parameters chosen from everything observed so far.
    fn qparams(&self) -> Result<ActivationQParams, QuantError>;
}

/// The first non-finite value of `batch`, as an error.
pub(crate) fn check_finite(batch: &[f32]) -> Result<(), QuantError> {
    match batch.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((index, &value)) => Err(QuantError::NonFinite { what: "calibration batch", index, value }),
        None => Ok(()),
    }
}
