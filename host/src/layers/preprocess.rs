//! `Preprocess`: the input normalisation of a pretrained network
//! (`keras.applications.*.preprocess_input`) as a layer, so that a saved model carries it and
//! `evaluate` of that model preprocesses its inputs the same way.

use serde::{Deserialize, Serialize};

use super::Shape;

/// Which `preprocess_input` convention (`keras.applications.imagenet_utils`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreprocessMode {
    /// Caffe's (VGG16, VGG19, ResNet50): RGB → BGR, then subtract the ImageNet channel means
    /// `[103.939, 116.779, 123.68]` (B, G, R), no scaling. Inputs are pixels in 0..255.
    #[default]
    Caffe,
}

/// ImageNet channel means in BGR order, as `keras.applications.imagenet_utils` subtracts them.
pub const CAFFE_BGR_MEAN: [f32; 3] = [103.939, 116.779, 123.68];

/// Keras `preprocess_input` of a pretrained base, as a parameter-free layer over RGB images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preprocess {
    /// The convention.
    pub mode: PreprocessMode,
}

impl Preprocess {
    /// Caffe-style preprocessing (VGG16's).
    pub fn caffe() -> Self {
        Self {
            mode: PreprocessMode::Caffe,
        }
    }

    /// The output shape: the input's, which must be an RGB image.
    pub fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        match input {
            Shape::Image { c: 3, .. } => Ok(input),
            other => Err(format!("preprocess_input needs RGB images, got {other}")),
        }
    }

    /// The layer as a per-pixel affine map of the channels: output channel `o` is
    /// `sum_i x[i] * matrix[i][o] + offset[o]` (row-major `[in][out]`, a `Dense` kernel).
    /// For Caffe's mode the matrix is a permutation (entries 0 and 1), so the map is exact in
    /// `f32`: `1·x + 0·y + 0·z + offset` rounds like `x + offset`.
    pub fn channel_map(&self) -> ([f32; 9], [f32; 3]) {
        match self.mode {
            PreprocessMode::Caffe => {
                let mut m = [0.0; 9];
                // Output channel o (B, G, R) takes input channel 2 - o (of R, G, B).
                for o in 0..3 {
                    m[(2 - o) * 3 + o] = 1.0;
                }
                (m, CAFFE_BGR_MEAN.map(|v| -v))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caffe_is_bgr_minus_mean() {
        let p = Preprocess::caffe();
        // The map as the backend's Dense computes it: sum over inputs, then the offset.
        let (m, off) = p.channel_map();
        let rgb = [200.0f32, 100.0, 50.0];
        let out: Vec<f32> = (0..3)
            .map(|o| (0..3).map(|i| rgb[i] * m[i * 3 + o]).sum::<f32>() + off[o])
            .collect();
        let [b, g, r] = [out[0], out[1], out[2]];
        assert_eq!(b, 50.0 - 103.939);
        assert_eq!(g, 100.0 - 116.779);
        assert_eq!(r, 200.0 - 123.68);
        assert!(p.output_shape(Shape::image(4, 4, 1)).is_err());
    }
}
