//! `host classify --serial PORT IMAGE...`: the host client of the board's request server.
//! Each image is decoded, resized to the blob's input (grayscale for one channel), sent as a
//! request frame ([`crate::serial_frame`]) and the board's class and scores are printed, with
//! probabilities from the blob's output quantization.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use shared::blob::{Blob, BlobError};
use shared::quant::QuantParams;

use crate::serial_frame::{decode_answer, encode_request, response_len, Answer, FrameError};
use crate::serial_frame::{ERROR_LEN, ERROR_MAGIC, RESPONSE_MAGIC};
use crate::vision::image_folder::{load_image, to_grayscale, ImageFolderError};

/// Options of `host classify`.
#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// The board's serial port (`/dev/ttyACM0` for a NUCLEO's ST-LINK on Linux, `COM3`, ...).
    #[arg(long)]
    pub serial: String,
    /// The int8 blob the board runs (its input shape and classes size the frames).
    #[arg(long, default_value = "firmware/model/mnist_int8.blob")]
    pub blob: PathBuf,
    /// Baud rate (the firmware's USART2: 115200).
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    /// Invert the pixels (255 - p): dark strokes on a light background become MNIST's light
    /// strokes on black.
    #[arg(long)]
    pub invert: bool,
    /// Images to classify (JPEG or PNG, any size).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

/// Errors of `host classify`.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    /// The blob cannot be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The blob file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The blob is invalid or not an int8 classifier.
    #[error("{}: {reason}", path.display())]
    Blob {
        /// The blob file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An image cannot be decoded.
    #[error(transparent)]
    Image(#[from] ImageFolderError),
    /// The port cannot be opened.
    #[error("cannot open serial port {port}")]
    Open {
        /// The port.
        port: String,
        /// The serial error.
        #[source]
        source: serialport::Error,
    },
    /// Writing to or reading from the port failed (or timed out).
    #[error("serial port {port}: {what}")]
    Link {
        /// The port.
        port: String,
        /// What happened.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The board's answer is not a valid frame.
    #[error("serial port {port}: bad answer to {}: {source}", image.display())]
    Frame {
        /// The port.
        port: String,
        /// The image whose answer it was.
        image: PathBuf,
        /// What is wrong.
        #[source]
        source: FrameError,
    },
    /// The board reported an error.
    #[error("{}: the board answered error code {code} ({})", image.display(), match code { 1 => "request checksum mismatch", 2 => "serial overrun or framing error", _ => "unknown" })]
    Board {
        /// The image.
        image: PathBuf,
        /// The code.
        code: u8,
    },
}

/// What the frames need to know of the model: input `(h, w, c)`, classes, output quantization.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlobIo {
    /// Input height, width and channels.
    pub input: (usize, usize, usize),
    /// Number of classes (the last layer's outputs).
    pub classes: usize,
    /// Quantization of the scores.
    pub output: QuantParams,
}

/// Reads the input shape, class count and score quantization of the int8 blob `bytes`.
pub fn blob_io(bytes: &[u8]) -> Result<BlobIo, String> {
    let blob = Blob::decode(bytes).map_err(|e: BlobError| e.to_string())?;
    let last = blob.layers().last().ok_or("the blob has no layers")?;
    let output = last
        .quant
        .map(|q| q.output)
        .ok_or("not an int8 blob (the board serves int8 models)")?;
    let i = blob.header().input;
    Ok(BlobIo {
        input: (i.h as usize, i.w as usize, i.c as usize),
        classes: last.desc.output.len(),
        output,
    })
}

/// The pixels of `path` as the board takes them: resized to `(h, w)`, RGB or grayscale.
pub fn image_pixels(
    path: &Path,
    (h, w, c): (usize, usize, usize),
    invert: bool,
) -> Result<Vec<u8>, ClassifyError> {
    let rgb = load_image(path, h, w)?;
    let values = if c == 1 { to_grayscale(&rgb) } else { rgb };
    Ok(values
        .into_iter()
        .map(|v| {
            let p = v.round().clamp(0.0, 255.0) as u8;
            if invert {
                255 - p
            } else {
                p
            }
        })
        .collect())
}

/// Softmax of the dequantized scores.
pub fn probabilities(scores: &[i8], q: QuantParams) -> Vec<f32> {
    let real: Vec<f32> = scores.iter().map(|&s| q.dequantize(s)).collect();
    if real.len() == 1 {
        // A sigmoid output: one logit.
        return vec![1.0 / (1.0 + (-real[0]).exp())];
    }
    let max = real.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = real.iter().map(|&r| (r - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Sends one request on `port` and reads the answer.
pub fn exchange<P: Read + Write + ?Sized>(
    port: &mut P,
    pixels: &[u8],
    classes: usize,
) -> std::io::Result<Result<Answer, FrameError>> {
    port.write_all(&encode_request(pixels))?;
    port.flush()?;
    let mut first = [0u8; 1];
    port.read_exact(&mut first)?;
    let len = match first[0] {
        ERROR_MAGIC => ERROR_LEN,
        RESPONSE_MAGIC => response_len(classes),
        other => return Ok(Err(FrameError::Magic(other))),
    };
    let mut frame = vec![0u8; len];
    frame[0] = first[0];
    port.read_exact(&mut frame[1..])?;
    Ok(decode_answer(&frame, classes))
}

/// `host classify`.
pub fn run(args: &ClassifyArgs) -> Result<(), ClassifyError> {
    let bytes = std::fs::read(&args.blob).map_err(|source| ClassifyError::Io {
        path: args.blob.clone(),
        source,
    })?;
    let io = blob_io(&bytes).map_err(|reason| ClassifyError::Blob {
        path: args.blob.clone(),
        reason,
    })?;
    let timeout = Duration::from_secs_f64(args.timeout.clamp(0.001, 3600.0));
    let mut port = serialport::new(&args.serial, args.baud)
        .timeout(timeout)
        .open()
        .map_err(|source| ClassifyError::Open {
            port: args.serial.clone(),
            source,
        })?;
    for image in &args.images {
        let pixels = image_pixels(image, io.input, args.invert)?;
        let link = |what: &str| {
            let port = args.serial.clone();
            let what = what.to_string();
            move |source| ClassifyError::Link { port, what, source }
        };
        let answer = exchange(&mut *port, &pixels, io.classes)
            .map_err(link("no answer"))?
            .map_err(|source| ClassifyError::Frame {
                port: args.serial.clone(),
                image: image.clone(),
                source,
            })?;
        match answer {
            Answer::Response { class, scores } => {
                let probs = probabilities(&scores, io.output);
                let shown: Vec<String> = probs.iter().map(|p| format!("{p:.3}")).collect();
                println!(
                    "{}: class {class}, scores {scores:?}, probabilities [{}]",
                    image.display(),
                    shown.join(", ")
                );
            }
            Answer::Error { code } => {
                return Err(ClassifyError::Board {
                    image: image.clone(),
                    code,
                })
            }
        }
    }
    Ok(())
}
