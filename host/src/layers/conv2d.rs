//! `Conv2D`: 2-D convolution with an HWIO kernel, optional bias and activation.

use kernels::{Conv2dGeom, Padding};
use serde::{Deserialize, Serialize};

use super::{checked_volume, Activation, ParamSpec, Shape, MAX_VALUES, MAX_WINDOW};

/// Keras `Conv2D(filters, kernel_size, strides=1, padding="valid", activation=None)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2D {
    /// Output channels.
    pub filters: usize,
    /// Kernel height and width.
    pub kernel_size: [usize; 2],
    /// Vertical and horizontal stride.
    #[serde(default = "one_one")]
    pub strides: [usize; 2],
    /// Padding mode.
    #[serde(with = "super::padding", default = "super::padding::default")]
    pub padding: Padding,
    /// Activation.
    #[serde(default)]
    pub activation: Activation,
    /// Whether the layer has a bias.
    #[serde(default = "yes")]
    pub use_bias: bool,
}

fn one_one() -> [usize; 2] {
    [1, 1]
}

fn yes() -> bool {
    true
}

impl Conv2D {
    /// `filters` output channels, a square `kernel × kernel` window, stride 1, valid padding,
    /// no activation, with bias.
    pub fn new(filters: usize, kernel: usize) -> Self {
        Self {
            filters,
            kernel_size: [kernel, kernel],
            strides: [1, 1],
            padding: Padding::Valid,
            activation: Activation::Linear,
            use_bias: true,
        }
    }

    /// Sets a non-square kernel.
    pub fn kernel_size(mut self, kh: usize, kw: usize) -> Self {
        self.kernel_size = [kh, kw];
        self
    }

    /// Sets the same stride on both axes.
    pub fn strides(mut self, s: usize) -> Self {
        self.strides = [s, s];
        self
    }

    /// Sets the padding mode.
    pub fn padding(mut self, p: Padding) -> Self {
        self.padding = p;
        self
    }

    /// Sets the activation.
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }

    /// Turns the bias on or off.
    pub fn use_bias(mut self, b: bool) -> Self {
        self.use_bias = b;
        self
    }

    /// Input channels, or why the input does not fit.
    fn in_channels(&self, input: Shape) -> Result<(usize, usize, usize), String> {
        match input {
            Shape::Image { h, w, c } => Ok((h, w, c)),
            Shape::Flat(_) => Err(format!(
                "Conv2D needs an image input (height, width, channels), got {input}"
            )),
        }
    }

    /// The geometry for a batch of `batch` inputs of shape `input` (assumed valid).
    pub fn geom(&self, input: Shape, batch: usize) -> Conv2dGeom {
        let (in_h, in_w, in_c) = match input {
            Shape::Image { h, w, c } => (h, w, c),
            Shape::Flat(n) => (1, 1, n),
        };
        Conv2dGeom {
            batch,
            in_h,
            in_w,
            in_c,
            out_c: self.filters,
            kh: self.kernel_size[0],
            kw: self.kernel_size[1],
            stride_h: self.strides[0],
            stride_w: self.strides[1],
            padding: self.padding,
        }
    }

    /// Output shape, or why the input does not fit.
    pub fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        let (h, w, in_c) = self.in_channels(input)?;
        if self.filters == 0 || self.kernel_size.contains(&0) || self.strides.contains(&0) {
            return Err("filters, kernel size and strides must be positive".into());
        }
        if self
            .kernel_size
            .iter()
            .chain(&self.strides)
            .any(|&k| k > MAX_WINDOW)
        {
            return Err(format!(
                "kernel size {:?} and strides {:?} must be at most {MAX_WINDOW}",
                self.kernel_size, self.strides
            ));
        }
        let [kh, kw] = self.kernel_size;
        if checked_volume(&[kh, kw, in_c, self.filters]).is_none() {
            return Err(format!(
                "a kernel of shape [{kh}, {kw}, {in_c}, {}] has more than {MAX_VALUES} values",
                self.filters
            ));
        }
        let g = self.geom(input, 1);
        let (oh, ow) = (g.out_h(), g.out_w());
        if oh == 0 || ow == 0 {
            return Err(format!(
                "kernel {}x{} does not fit the {h}x{w} input with valid padding",
                self.kernel_size[0], self.kernel_size[1]
            ));
        }
        Ok(Shape::image(oh, ow, self.filters))
    }

    /// Kernel `[kh, kw, in, filters]` and bias `[filters]`.
    pub fn params(&self, input: Shape) -> Vec<ParamSpec> {
        let in_c = match input {
            Shape::Image { c, .. } => c,
            Shape::Flat(n) => n,
        };
        let [kh, kw] = self.kernel_size;
        let mut v = vec![ParamSpec::kernel(
            vec![kh, kw, in_c, self.filters],
            kh * kw * in_c,
            kh * kw * self.filters,
        )];
        if self.use_bias {
            v.push(ParamSpec::bias(self.filters));
        }
        v
    }
}
