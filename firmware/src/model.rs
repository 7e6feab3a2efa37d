//! The embedded int8 model: the blob chosen at build time (`TINYCONV_BLOB`, see `build.rs`),
//! with its activation arena in a static sized at build time from the blob.
//!
//! Two engines, chosen by `build.rs`: for the MNIST network (`model_mnist`), `shared`'s
//! hand-written MNIST path (const-generic layers with the Cortex-M4 DSP kernels); for any other
//! int8 blob, `shared`'s interpreter over the blob's layer list.

use shared::blob::BlobError;
use static_cell::{ConstStaticCell, StaticCell};

use crate::protocol::{request_len, response_len};

mod consts {
    include!(concat!(env!("OUT_DIR"), "/model_consts.rs"));
}
pub use consts::{ARENA_LEN, INPUT_LEN, INPUT_SHAPE, LAYERS, SCORES};

/// Which inference code runs the blob: `mnist` (shared's const-generic MNIST path) or
/// `interpreter`.
pub const ENGINE: &str = if cfg!(model_mnist) {
    "mnist"
} else {
    "interpreter"
};

/// Length of a request frame for this model.
pub const REQUEST_LEN: usize = request_len(INPUT_LEN);
/// Length of a response frame for this model.
pub const RESPONSE_LEN: usize = response_len(SCORES);

/// The model blob, kept in flash; `shared` borrows the weights from it in place.
static BLOB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model.blob"));

/// Length of the embedded blob in bytes.
pub fn blob_len() -> usize {
    BLOB.len()
}

/// Why the model could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The blob is invalid (magic, version, checksum, architecture or quantization).
    Blob(BlobError),
    /// The blob's shapes differ from the ones the firmware was built for (a firmware bug:
    /// `build.rs` derives them from the same blob).
    Shape,
    /// The model was already loaded (a firmware bug: load it once).
    AlreadyLoaded,
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Blob(e) => write!(f, "{e}"),
            LoadError::Shape => f.write_str("the blob's shapes differ from the build's"),
            LoadError::AlreadyLoaded => f.write_str("the model is already loaded"),
        }
    }
}

// The QEMU build prints the full `Display` message instead.
#[cfg_attr(platform_qemu, allow(dead_code))]
impl LoadError {
    /// What is wrong, without `core::fmt` (see [`BlobError::summary`]).
    pub fn summary(&self) -> &'static str {
        match self {
            LoadError::Blob(e) => e.summary(),
            LoadError::Shape => "the blob's shapes differ from the build's",
            LoadError::AlreadyLoaded => "the model is already loaded",
        }
    }

    /// The blob layer at fault, if any.
    pub fn layer(&self) -> Option<usize> {
        match self {
            LoadError::Blob(e) => e.layer(),
            _ => None,
        }
    }
}

/// One answer: the class and the int8 scores of the last layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// The predicted class.
    pub class: u8,
    /// The last layer's int8 outputs.
    pub scores: [i8; SCORES],
}

#[cfg(model_mnist)]
mod engine {
    use shared::blob::BlobError;
    use shared::mnist::{MnistInt8, MnistScratchI8};

    use super::{Prediction, INPUT_LEN, SCORES};

    /// The ping-pong activation arena (27 KiB).
    pub type Arena = MnistScratchI8;
    /// An empty arena.
    pub const EMPTY: Arena = MnistScratchI8::new();
    /// The bound network.
    pub type Net = MnistInt8<'static>;

    const _: () = assert!(INPUT_LEN == shared::mnist::MNIST_PIXELS && SCORES == 10);

    /// Binds the blob.
    pub fn bind(blob: &'static [u8]) -> Result<Net, BlobError> {
        MnistInt8::from_blob(blob)
    }

    /// Whether the bound network has the build's shapes (always: the type fixes them).
    pub fn shapes_match(_: &Net) -> bool {
        true
    }

    /// Classifies one image.
    #[inline(always)]
    pub fn classify(net: &Net, arena: &mut Arena, image: &[u8; INPUT_LEN]) -> Prediction {
        let p = net.predict(image, arena);
        Prediction {
            class: p.digit,
            scores: p.scores,
        }
    }
}

#[cfg(not(model_mnist))]
mod engine {
    use shared::blob::BlobError;
    use shared::int8::interpreter::Interpreter;

    use super::{Prediction, ARENA_LEN, INPUT_LEN, LAYERS, SCORES};

    /// The activation arena, sized by `build.rs` from the interpreter's plan.
    pub type Arena = [i8; ARENA_LEN];
    /// An empty arena.
    pub const EMPTY: Arena = [0; ARENA_LEN];
    /// The bound network, sized for exactly the blob's layers.
    pub type Net = Interpreter<'static, LAYERS>;

    /// Binds the blob.
    pub fn bind(blob: &'static [u8]) -> Result<Net, BlobError> {
        Net::bind(blob)
    }

    /// Whether the bound network has the build's shapes.
    pub fn shapes_match(net: &Net) -> bool {
        net.input_len() == INPUT_LEN && net.output_len() == SCORES && net.arena_len() <= ARENA_LEN
    }

    /// Classifies one image. The image and arena sizes are the ones the network was checked
    /// against at load time, so the run cannot fail; if it ever did, the answer is class 0
    /// with zero scores rather than a panic.
    pub fn classify(net: &Net, arena: &mut Arena, image: &[u8; INPUT_LEN]) -> Prediction {
        let mut scores = [0i8; SCORES];
        let class = match net.run(image, arena) {
            Ok(out) => {
                let n = SCORES.min(out.len());
                scores[..n].copy_from_slice(&out[..n]);
                net.class_of(out) as u8
            }
            Err(_) => 0,
        };
        Prediction { class, scores }
    }
}

/// The activation arena, in `.bss` rather than on the stack.
static ARENA: ConstStaticCell<engine::Arena> = ConstStaticCell::new(engine::EMPTY);

/// The classifier, once loaded.
static CLASSIFIER: StaticCell<Classifier> = StaticCell::new();

/// The int8 network bound to the embedded blob, with its arena.
pub struct Classifier {
    net: engine::Net,
    arena: &'static mut engine::Arena,
}

impl Classifier {
    /// Validates the embedded blob (everything `shared` checks: magic, version, CRC, every
    /// shape, weight length and quantization range) and binds it, in a static. Call once.
    ///
    /// Not inlined: decoding needs ~3 KiB of stack, which is released before inference rather
    /// than kept reserved in the caller's frame.
    #[inline(never)]
    pub fn load() -> Result<&'static mut Self, LoadError> {
        let slot = CLASSIFIER.try_uninit().ok_or(LoadError::AlreadyLoaded)?;
        let net = engine::bind(BLOB).map_err(LoadError::Blob)?;
        if !engine::shapes_match(&net) {
            return Err(LoadError::Shape);
        }
        let arena = ARENA.try_take().ok_or(LoadError::AlreadyLoaded)?;
        Ok(slot.write(Self { net, arena }))
    }

    /// Classifies an image of 8-bit pixels (HWC, row-major, as the model was trained on).
    pub fn classify(&mut self, image: &[u8; INPUT_LEN]) -> Prediction {
        engine::classify(&self.net, self.arena, image)
    }
}
