//! The step of a quantization grid, as a type: one integer step is worth `scale` real units.

use super::QuantError;

/// A quantization step: the real value of one integer step. Always positive and finite.
///
/// ```
/// use fasterai_runtime::quant::Scale;
/// let s = Scale::new(0.5).unwrap();
/// assert_eq!(s.get(), 0.5);
/// assert!(Scale::new(0.0).is_err());
/// assert!(Scale::new(f32::NAN).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "f32", into = "f32")]
pub struct Scale(f32);

impl Scale {
    /// A step of `value` real units; errors unless `value` is positive and finite.
    pub fn new(value: f32) -> Result<Self, QuantError> {
        if value.is_finite() && value > 0.0 {
            Ok(Self(value))
        } else {
            Err(QuantError::InvalidScale(value))
        }
    }

    /// The real value of one step.
    pub fn get(self) -> f32 {
        self.0
    }
}

impl TryFrom<f32> for Scale {
    type Error = QuantError;
    fn try_from(value: f32) -> Result<Self, QuantError> {
        Self::new(value)
    }
}

impl From<Scale> for f32 {
    fn from(s: Scale) -> f32 {
        s.0
    }
}
