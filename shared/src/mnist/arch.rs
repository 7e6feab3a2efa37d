//! The MNIST architecture as layer types and as a blob description.

use crate::blob::{Activation, LayerDesc, LayerKind, Shape};
use crate::layers::{Conv2d, Dense, Flatten, MaxPool2d};
use crate::padding::Valid;

/// `Conv2D(32, 3, activation="relu")`: 28×28×1 → 26×26×32.
pub type Conv1 = Conv2d<Valid, 28, 28, 1, 32, 3, 1, 26, 26>;
/// `MaxPooling2D(2)`: 26×26×32 → 13×13×32.
pub type Pool1 = MaxPool2d<Valid, 26, 26, 32, 2, 2, 13, 13>;
/// `Conv2D(64, 3, activation="relu")`: 13×13×32 → 11×11×64.
pub type Conv2 = Conv2d<Valid, 13, 13, 32, 64, 3, 1, 11, 11>;
/// `MaxPooling2D(2)`: 11×11×64 → 5×5×64.
pub type Pool2 = MaxPool2d<Valid, 11, 11, 64, 2, 2, 5, 5>;
/// `Conv2D(128, 3, activation="relu")`: 5×5×64 → 3×3×128.
pub type Conv3 = Conv2d<Valid, 5, 5, 64, 128, 3, 1, 3, 3>;
/// `Flatten()`: 3×3×128 → 1152.
pub type Flat = Flatten<3, 3, 128, 1152>;
/// `Dense(10, activation="softmax")`: 1152 → 10.
pub type Head = Dense<1152, 10>;

/// The layers of the MNIST network.
#[derive(Clone, Copy, Debug)]
pub struct MnistNet {
    /// Layer 0.
    pub conv1: Conv1,
    /// Layer 1.
    pub pool1: Pool1,
    /// Layer 2.
    pub conv2: Conv2,
    /// Layer 3.
    pub pool2: Pool2,
    /// Layer 4.
    pub conv3: Conv3,
    /// Layer 5.
    pub flatten: Flat,
    /// Layer 6.
    pub dense: Head,
}

/// The MNIST network's layers.
pub const MNIST_NET: MnistNet = MnistNet {
    conv1: Conv1::new(true),
    pool1: Pool1::new(),
    conv2: Conv2::new(true),
    pool2: Pool2::new(),
    conv3: Conv3::new(true),
    flatten: Flat::new(),
    dense: Head::new(Activation::Softmax),
};

/// The architecture a blob must describe to run as the MNIST network.
pub const MNIST_ARCH: [LayerDesc; 7] = [
    MNIST_NET.conv1.desc(),
    MNIST_NET.pool1.desc(),
    MNIST_NET.conv2.desc(),
    MNIST_NET.pool2.desc(),
    MNIST_NET.conv3.desc(),
    MNIST_NET.flatten.desc(),
    MNIST_NET.dense.desc(),
];

/// Input shape, 28×28×1.
pub const MNIST_INPUT: Shape = Shape::new(28, 28, 1);
/// Input pixels, 784.
pub const MNIST_PIXELS: usize = 28 * 28;
/// Output classes, 10.
pub const MNIST_CLASSES: usize = 10;

const fn count_params(arch: &[LayerDesc]) -> usize {
    let mut total = 0;
    let mut i = 0;
    while i < arch.len() {
        let d = arch[i];
        total += match d.kind {
            LayerKind::Conv2d {
                kernel, filters, ..
            } => {
                let k = kernel as usize;
                k * k * d.input.c as usize * filters as usize + filters as usize
            }
            LayerKind::Dense { units, .. } => d.input.c as usize * units as usize + units as usize,
            _ => 0,
        };
        i += 1;
    }
    total
}

/// Trainable parameters of the network (Keras's `model.summary()`: 104,202).
pub const MNIST_PARAMS: usize = 104_202;

const _: () = assert!(count_params(&MNIST_ARCH) == MNIST_PARAMS);
