//! Turning a batch of images into the tensor a model takes.

use dfdx::prelude::{Const, Cpu, Shape, Tensor, TensorFromVec};

use super::LearnError;

/// A batch shape the learner can fill from images stored `C×H×W` row-major, one after the other.
///
/// Implemented for the three input kinds models in this project take:
/// - `(usize, Const<C>, Const<H>, Const<W>)`: fully typed image batches;
/// - `(usize, Const<C>, usize, usize)`: image batches with run-time height and width (the input of
///   [`crate::nn`]'s convolutions);
/// - `(usize, Const<N>)`: flat batches for MLPs, `N = C·H·W`.
///
/// ```
/// use fasterai_runtime::learn::BatchInput;
/// use fasterai_runtime::dfdx::prelude::*;
/// let dev = Cpu::default();
/// let images = vec![0.5f32; 3 * 4];
/// let flat = <(usize, Const<4>)>::from_images(&dev, images.clone(), [1, 2, 2]).unwrap();
/// assert_eq!(flat.shape().0, 3);
/// let typed = <(usize, Const<1>, Const<2>, Const<2>)>::from_images(&dev, images.clone(), [1, 2, 2]).unwrap();
/// assert_eq!(typed.shape().0, 3);
/// assert!(<(usize, Const<5>)>::from_images(&dev, images, [1, 2, 2]).is_err());
/// ```
pub trait BatchInput: Shape {
    /// What this shape asks of one image, in words, for error messages.
    fn describe() -> String;

    /// True when images of `[C, H, W]` fit this shape.
    fn accepts(image: [usize; 3]) -> bool;

    /// This shape for `n` images of `[C, H, W]`, or `None` when they do not fit.
    fn for_images(n: usize, image: [usize; 3]) -> Option<Self>;

    /// Builds the tensor from `images` (a whole number of images of `image` size).
    fn from_images(dev: &Cpu, images: Vec<f32>, image: [usize; 3]) -> Result<Tensor<Self, f32, Cpu>, LearnError> {
        let per_image: usize = image.iter().product();
        if per_image == 0 || !images.len().is_multiple_of(per_image) {
            return Err(LearnError::RaggedImages { values: images.len(), per_image });
        }
        let shape = Self::for_images(images.len() / per_image, image)
            .ok_or_else(|| LearnError::InputShape { expected: Self::describe(), found: image })?;
        Ok(dev.try_tensor_from_vec(images, shape)?)
    }
}

impl<const C: usize, const H: usize, const W: usize> BatchInput for (usize, Const<C>, Const<H>, Const<W>) {
    fn describe() -> String {
        format!("images of [{C}, {H}, {W}]")
    }
    fn accepts(image: [usize; 3]) -> bool {
        image == [C, H, W]
    }
    fn for_images(n: usize, image: [usize; 3]) -> Option<Self> {
        Self::accepts(image).then_some((n, Const, Const, Const))
    }
}

impl<const C: usize> BatchInput for (usize, Const<C>, usize, usize) {
    fn describe() -> String {
        format!("images of {C} channels (any height and width)")
    }
    fn accepts(image: [usize; 3]) -> bool {
        image[0] == C && image[1] > 0 && image[2] > 0
    }
    fn for_images(n: usize, image: [usize; 3]) -> Option<Self> {
        Self::accepts(image).then_some((n, Const, image[1], image[2]))
    }
}

impl<const N: usize> BatchInput for (usize, Const<N>) {
    fn describe() -> String {
        format!("flat vectors of {N} values")
    }
    fn accepts(image: [usize; 3]) -> bool {
        image.iter().product::<usize>() == N
    }
    fn for_images(n: usize, image: [usize; 3]) -> Option<Self> {
        Self::accepts(image).then_some((n, Const))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::prelude::*;

    #[test]
    fn each_input_kind_keeps_the_pixel_order() {
        let dev = Cpu::default();
        let images: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let typed = <(usize, Const<1>, Const<2>, Const<3>)>::from_images(&dev, images.clone(), [1, 2, 3]).unwrap();
        assert_eq!(typed.as_vec(), images);
        let runtime_hw = <(usize, Const<1>, usize, usize)>::from_images(&dev, images.clone(), [1, 2, 3]).unwrap();
        assert_eq!(*runtime_hw.shape(), (2, Const::<1>, 2, 3));
        let flat = <(usize, Const<6>)>::from_images(&dev, images.clone(), [1, 2, 3]).unwrap();
        assert_eq!(flat.shape().0, 2);
        assert_eq!(flat.as_vec(), images);
    }

    #[test]
    fn mismatched_images_are_errors_not_panics() {
        let dev = Cpu::default();
        let six = vec![0.0f32; 6];
        for (result, why) in [
            (
                <(usize, Const<1>, Const<3>, Const<2>)>::from_images(&dev, six.clone(), [1, 2, 3]).err(),
                "H and W swapped",
            ),
            (<(usize, Const<3>, usize, usize)>::from_images(&dev, six.clone(), [1, 2, 3]).err(), "wrong channel count"),
            (<(usize, Const<5>)>::from_images(&dev, six.clone(), [1, 2, 3]).err(), "flat size differs"),
            (
                <(usize, Const<4>)>::from_images(&dev, six.clone(), [1, 2, 2]).err(),
                "6 values are not whole 4-value images",
            ),
        ] {
            assert!(result.is_some(), "{why}");
        }
        let err = <(usize, Const<5>)>::from_images(&dev, six, [1, 2, 3]).unwrap_err();
        assert!(err.to_string().contains("flat vectors of 5 values"), "{err}");
    }
}
