//! The embedded int8 model: the blob chosen at build time (`TINYCONV_BLOB`, see `build.rs`),
//! bound to `shared`'s MNIST network, with its activation arena in a static.

use shared::blob::BlobError;
use shared::mnist::{MnistInt8, MnistScratchI8, PredictionI8};
use static_cell::{ConstStaticCell, StaticCell};

use crate::protocol::PIXELS;

/// The model blob, kept in flash; `shared` borrows the weights from it in place.
static BLOB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model.blob"));

/// The ping-pong activation arena (27 KiB), in `.bss` rather than on the stack.
static SCRATCH: ConstStaticCell<MnistScratchI8> = ConstStaticCell::new(MnistScratchI8::new());

/// The classifier, once loaded (the network view with its input table is ~0.5 KiB).
static CLASSIFIER: StaticCell<Classifier> = StaticCell::new();

/// Length of the embedded blob in bytes.
pub fn blob_len() -> usize {
    BLOB.len()
}

/// Why the model could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The blob is invalid (magic, version, checksum, architecture or quantization).
    Blob(BlobError),
    /// The model was already loaded (a firmware bug: load it once).
    AlreadyLoaded,
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Blob(e) => write!(f, "{e}"),
            LoadError::AlreadyLoaded => f.write_str("the model is already loaded"),
        }
    }
}

/// The int8 MNIST network bound to the embedded blob, with its arena.
pub struct Classifier {
    net: MnistInt8<'static>,
    scratch: &'static mut MnistScratchI8,
}

impl Classifier {
    /// Validates the embedded blob (everything `shared` checks: magic, version, CRC, the MNIST
    /// architecture, weight lengths, quantization ranges) and binds it, in a static. Call once.
    ///
    /// Not inlined: decoding needs ~3 KiB of stack, which is released before inference rather
    /// than kept reserved in the caller's frame.
    #[inline(never)]
    pub fn load() -> Result<&'static mut Self, LoadError> {
        let net = MnistInt8::from_blob(BLOB).map_err(LoadError::Blob)?;
        let scratch = SCRATCH.try_take().ok_or(LoadError::AlreadyLoaded)?;
        CLASSIFIER
            .try_init(Self { net, scratch })
            .ok_or(LoadError::AlreadyLoaded)
    }

    /// Classifies a 28 x 28 image of 8-bit pixels (row-major, 0 = background).
    pub fn classify(&mut self, image: &[u8; PIXELS]) -> PredictionI8 {
        self.net.predict(image, self.scratch)
    }
}
