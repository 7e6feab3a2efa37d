//! `MaxPooling2D` and `AveragePooling2D`.

use kernels::{Padding, Pool2dGeom};
use serde::{Deserialize, Serialize};

use super::{Shape, MAX_WINDOW};

/// Window, strides and padding shared by both pooling layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool2D {
    /// Window height and width.
    pub pool_size: [usize; 2],
    /// Strides; Keras's default (`None`) is the pool size.
    #[serde(default)]
    pub strides: Option<[usize; 2]>,
    /// Padding mode.
    #[serde(with = "super::padding", default = "super::padding::default")]
    pub padding: Padding,
}

impl Pool2D {
    fn new(pool: usize) -> Self {
        Self {
            pool_size: [pool, pool],
            strides: None,
            padding: Padding::Valid,
        }
    }

    /// Effective strides.
    pub fn effective_strides(&self) -> [usize; 2] {
        self.strides.unwrap_or(self.pool_size)
    }

    /// Geometry for a batch of `batch` inputs of shape `input` (assumed valid).
    pub fn geom(&self, input: Shape, batch: usize) -> Pool2dGeom {
        let (in_h, in_w, c) = match input {
            Shape::Image { h, w, c } => (h, w, c),
            Shape::Flat(n) => (1, 1, n),
        };
        let [stride_h, stride_w] = self.effective_strides();
        Pool2dGeom {
            batch,
            in_h,
            in_w,
            c,
            pool_h: self.pool_size[0],
            pool_w: self.pool_size[1],
            stride_h,
            stride_w,
            padding: self.padding,
        }
    }

    /// Output shape, or why the input does not fit.
    pub fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        let (h, w) = match input {
            Shape::Image { h, w, .. } => (h, w),
            Shape::Flat(_) => return Err(format!("pooling needs an image input, got {input}")),
        };
        if self.pool_size.contains(&0) || self.effective_strides().contains(&0) {
            return Err("pool size and strides must be positive".into());
        }
        let strides = self.effective_strides();
        if self
            .pool_size
            .iter()
            .chain(&strides)
            .any(|&k| k > MAX_WINDOW)
        {
            return Err(format!(
                "pool size {:?} and strides {strides:?} must be at most {MAX_WINDOW}",
                self.pool_size
            ));
        }
        let g = self.geom(input, 1);
        if g.out_h() == 0 || g.out_w() == 0 {
            return Err(format!(
                "pool {}x{} does not fit the {h}x{w} input with valid padding",
                self.pool_size[0], self.pool_size[1]
            ));
        }
        Ok(Shape::image(g.out_h(), g.out_w(), g.c))
    }
}

/// Keras `MaxPooling2D(pool_size, strides=None, padding="valid")`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MaxPooling2D(pub Pool2D);

/// Keras `AveragePooling2D(pool_size, strides=None, padding="valid")`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AveragePooling2D(pub Pool2D);

macro_rules! pool_builders {
    ($t:ident) => {
        impl $t {
            /// A square `pool × pool` window, strides equal to the pool size, valid padding.
            pub fn new(pool: usize) -> Self {
                Self(Pool2D::new(pool))
            }

            /// Sets the same stride on both axes.
            pub fn strides(mut self, s: usize) -> Self {
                self.0.strides = Some([s, s]);
                self
            }

            /// Sets the padding mode.
            pub fn padding(mut self, p: Padding) -> Self {
                self.0.padding = p;
                self
            }
        }
    };
}

pool_builders!(MaxPooling2D);
pool_builders!(AveragePooling2D);
