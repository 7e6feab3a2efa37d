//! Serial framing of classification requests and responses (ST-LINK virtual COM port, USART2,
//! 115200 baud, 8N1, no flow control).
//!
//! Every frame starts with a magic byte and ends with a checksum byte: the wrapping 8-bit sum of
//! every byte before it in the frame, the magic included.
//!
//! The sizes come from the model: `P` pixels per input (`h * w * c` of the blob's input, HWC,
//! row-major, `u8`) and `C` scores (the last layer's outputs). For the MNIST model `P = 784`
//! and `C = 10`.
//!
//! | frame    | bytes            | layout                                                    |
//! |----------|------------------|-----------------------------------------------------------|
//! | request  | [`request_len`]  | `0xA5`, `P` pixels, sum                                    |
//! | response | [`response_len`] | `0x5A`, class (`u8`), `C` scores (`i8`, class 0 first), sum |
//! | error    | 3                | `0xEE`, error code (see [`FrameError`]), sum               |
//!
//! The scores are the int8 outputs of the model's last layer (quantised logits); the class is
//! the index of the largest one (the first on ties), or for a one-unit sigmoid output 1 when
//! the logit is positive. The device answers each request with
//! exactly one response or error frame. Bytes that arrive while it waits for a request magic
//! are skipped, so a host resynchronises by waiting longer than one inference (the board's
//! defmt log gives its cycle count) and
//! sending a fresh request.
//!
//! This module has no dependencies beyond `core`, so host code can include it as-is.

// A complete codec: the board decodes requests and encodes answers, the QEMU self-test and
// host tools build requests; each build uses a part.
#![allow(dead_code)]

/// First byte of a request frame.
pub const REQUEST_MAGIC: u8 = 0xA5;
/// First byte of a response frame.
pub const RESPONSE_MAGIC: u8 = 0x5A;
/// First byte of an error frame.
pub const ERROR_MAGIC: u8 = 0xEE;
/// Length of a request frame for `pixels` pixels: magic, pixels, checksum.
pub const fn request_len(pixels: usize) -> usize {
    pixels + 2
}
/// Length of a response frame for `classes` scores: magic, class, scores, checksum.
pub const fn response_len(classes: usize) -> usize {
    classes + 3
}
/// Length of an error frame: magic, code, checksum.
pub const ERROR_LEN: usize = 3;

/// Why a request was rejected; the discriminant is the code sent in an error frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameError {
    /// The request's checksum byte did not match its contents.
    Checksum = 1,
    /// The serial port lost bytes (overrun, framing or noise error) during the request.
    Link = 2,
}

/// Wrapping 8-bit sum of `bytes`: the checksum of a frame is this over all bytes before it.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b))
}

/// Builds a request frame (`N` must be [`request_len`]`(P)`, checked at compile time).
pub fn encode_request<const P: usize, const N: usize>(pixels: &[u8; P]) -> [u8; N] {
    const { assert!(N == request_len(P), "N must be request_len(P)") };
    let mut frame = [0u8; N];
    for (out, byte) in frame.iter_mut().zip(request_bytes(pixels)) {
        *out = byte;
    }
    frame
}

/// The bytes of a request frame, without building it in memory.
pub fn request_bytes(pixels: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let sum = checksum(pixels).wrapping_add(REQUEST_MAGIC);
    core::iter::once(REQUEST_MAGIC)
        .chain(pixels.iter().copied())
        .chain(core::iter::once(sum))
}

/// Builds a response frame for a predicted class and its scores (`N` must be
/// [`response_len`]`(C)`, checked at compile time).
pub fn encode_response<const C: usize, const N: usize>(class: u8, scores: &[i8; C]) -> [u8; N] {
    const { assert!(N == response_len(C), "N must be response_len(C)") };
    let mut frame = [0u8; N];
    frame[0] = RESPONSE_MAGIC;
    frame[1] = class;
    for (out, &s) in frame[2..2 + C].iter_mut().zip(scores) {
        *out = s.to_le_bytes()[0];
    }
    frame[N - 1] = checksum(&frame[..N - 1]);
    frame
}

/// Builds an error frame.
pub fn encode_error(error: FrameError) -> [u8; ERROR_LEN] {
    let code = error as u8;
    [ERROR_MAGIC, code, checksum(&[ERROR_MAGIC, code])]
}

/// What [`RequestDecoder::push`] made of one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// More bytes are needed (or the byte was skipped while waiting for a magic).
    Pending,
    /// A complete request with a valid checksum: its pixels are in [`RequestDecoder::pixels`].
    Request,
    /// A complete request whose checksum did not match; the decoder waits for the next magic.
    BadChecksum,
}

/// Byte-at-a-time decoder of request frames of `P` pixels.
pub struct RequestDecoder<const P: usize> {
    pixels: [u8; P],
    /// Pixels received so far, or `None` while waiting for a magic byte.
    filled: Option<usize>,
    sum: u8,
}

impl<const P: usize> Default for RequestDecoder<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const P: usize> RequestDecoder<P> {
    /// A decoder waiting for a request magic.
    pub const fn new() -> Self {
        Self {
            pixels: [0; P],
            filled: None,
            sum: 0,
        }
    }

    /// Forgets any partial frame (after a link error) and waits for the next magic.
    pub fn reset(&mut self) {
        self.filled = None;
    }

    /// Whether a frame has started and is not complete yet.
    pub fn in_frame(&self) -> bool {
        self.filled.is_some()
    }

    /// Feeds one received byte.
    pub fn push(&mut self, byte: u8) -> Decoded {
        match self.filled {
            None => {
                if byte == REQUEST_MAGIC {
                    self.filled = Some(0);
                    self.sum = REQUEST_MAGIC;
                }
                Decoded::Pending
            }
            Some(n) if n < P => {
                self.pixels[n] = byte;
                self.sum = self.sum.wrapping_add(byte);
                self.filled = Some(n + 1);
                Decoded::Pending
            }
            Some(_) => {
                self.filled = None;
                if byte == self.sum {
                    Decoded::Request
                } else {
                    Decoded::BadChecksum
                }
            }
        }
    }

    /// The pixels of the last complete request.
    pub fn pixels(&self) -> &[u8; P] {
        &self.pixels
    }
}
