//! The board's serial framing (`firmware/README.md`), sized from a model blob: a request is
//! `0xA5`, the input pixels (`u8`, HWC), a checksum; the answer is either a response `0x5A`,
//! the class, one `i8` score per class, a checksum, or an error `0xEE`, a code, a checksum.
//! The checksum is the wrapping 8-bit sum of every byte before it in the frame.
//!
//! The firmware's own codec is `firmware/src/protocol.rs`; the integration tests check that
//! the two agree.

/// First byte of a request.
pub const REQUEST_MAGIC: u8 = 0xA5;
/// First byte of a response.
pub const RESPONSE_MAGIC: u8 = 0x5A;
/// First byte of an error frame.
pub const ERROR_MAGIC: u8 = 0xEE;

/// The wrapping 8-bit sum of `bytes`.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b))
}

/// The request frame for `pixels`.
pub fn encode_request(pixels: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(pixels.len() + 2);
    frame.push(REQUEST_MAGIC);
    frame.extend_from_slice(pixels);
    frame.push(checksum(&frame));
    frame
}

/// A decoded answer of the board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The predicted class and the int8 scores (logits) of every class.
    Response {
        /// Index of the largest score.
        class: u8,
        /// One score per class.
        scores: Vec<i8>,
    },
    /// The board rejected the request (1: checksum mismatch, 2: serial overrun or framing).
    Error {
        /// The error code.
        code: u8,
    },
}

/// Why bytes from the board are not a valid answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first byte is neither a response nor an error magic.
    #[error("unexpected first byte {0:#04x} (expected 0x5a or 0xee)")]
    Magic(u8),
    /// The checksum does not match.
    #[error("checksum {found:#04x}, expected {expected:#04x}")]
    Checksum {
        /// The byte received.
        found: u8,
        /// The sum of the frame.
        expected: u8,
    },
    /// The frame has the wrong length for its kind.
    #[error("{kind} frame of {found} bytes, expected {expected}")]
    Length {
        /// `response` or `error`.
        kind: &'static str,
        /// Bytes given.
        found: usize,
        /// Bytes of such a frame.
        expected: usize,
    },
    /// The class index is not below the number of classes.
    #[error("class {class} out of range for {classes} classes")]
    Class {
        /// The index received.
        class: u8,
        /// Classes of the model.
        classes: usize,
    },
}

/// Length of a response frame for `classes` classes.
pub const fn response_len(classes: usize) -> usize {
    classes + 3
}

/// Length of an error frame.
pub const ERROR_LEN: usize = 3;

/// Decodes an answer: `frame` holds [`ERROR_LEN`] bytes for an error frame, or
/// [`response_len`] bytes for a response (the caller reads the first byte, then the rest).
pub fn decode_answer(frame: &[u8], classes: usize) -> Result<Answer, FrameError> {
    let magic = frame.first().copied().unwrap_or(0);
    let (kind, expected) = match magic {
        ERROR_MAGIC => ("error", ERROR_LEN),
        RESPONSE_MAGIC => ("response", response_len(classes)),
        other => return Err(FrameError::Magic(other)),
    };
    if frame.len() != expected {
        return Err(FrameError::Length {
            kind,
            found: frame.len(),
            expected,
        });
    }
    let (&sum, body) = frame.split_last().ok_or(FrameError::Magic(magic))?;
    let expected = checksum(body);
    if sum != expected {
        return Err(FrameError::Checksum {
            found: sum,
            expected,
        });
    }
    match magic {
        ERROR_MAGIC => Ok(Answer::Error { code: body[1] }),
        RESPONSE_MAGIC => {
            let class = body[1];
            if usize::from(class) >= classes {
                return Err(FrameError::Class { class, classes });
            }
            Ok(Answer::Response {
                class,
                scores: body[2..].iter().map(|&b| b as i8).collect(),
            })
        }
        other => Err(FrameError::Magic(other)),
    }
}
