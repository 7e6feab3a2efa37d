//! Any byte sequence as a model blob: decode, walk the layers, bind it to the networks the
//! firmware and the host run (the MNIST views and the int8 and float interpreters), and run one
//! inference when binding succeeds. Nothing may panic. And `shared`'s hand-written payload
//! reader must agree with `postcard` (the format's reference decoder): a blob it accepts
//! decodes to the same header and records with postcard, and a payload postcard reads whole
//! is never rejected as malformed.
//!
//! Each input is tried twice: as it is (exercising the header checks), and with the header's
//! length and CRC fields rewritten to match the bytes after it, so mutations reach the
//! payload reader, the binding and the kernels instead of stopping at the checksum.
//! A bound network runs its inference for one input in 16 (chosen by the payload's CRC), so
//! the decoder and the binding see a million inputs in minutes, and the kernels thousands.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::blob::{
    Blob, BlobError, BlobHeader, LayerRecord, CRC, FORMAT_VERSION_1, HEADER_LEN, MAX_LAYERS,
};
use shared::float::interpreter::{FloatInterpreter, InterpreterF16, InterpreterF32};
use shared::int8::interpreter::Interpreter;
use shared::mnist::{MnistF16, MnistF32, MnistInt8, MnistScratchF32, MnistScratchI8, MNIST_PIXELS};
use shared::quant::{PixelScaling, QuantParams};
use shared::weights::FromBlobBytes;

/// A version-1 header (no `pixels`), as postcard reads it.
#[derive(serde::Deserialize)]
struct HeaderV1 {
    format: shared::blob::WeightFormat,
    input: shared::blob::Shape,
    input_quant: Option<QuantParams>,
    layer_count: u32,
}

/// The payload decoded by postcard: the header and every record, if it reads whole.
fn postcard_payload(version: u16, payload: &[u8]) -> Option<(BlobHeader, Vec<LayerRecord<'_>>)> {
    let (header, mut rest) = if version == FORMAT_VERSION_1 {
        let (h, rest) = postcard::take_from_bytes::<HeaderV1>(payload).ok()?;
        let header = BlobHeader {
            format: h.format,
            input: h.input,
            input_quant: h.input_quant,
            layer_count: h.layer_count,
            pixels: PixelScaling::Unit,
        };
        (header, rest)
    } else {
        postcard::take_from_bytes::<BlobHeader>(payload).ok()?
    };
    let mut records = Vec::new();
    for _ in 0..(header.layer_count as usize).min(MAX_LAYERS) {
        let (r, next) = postcard::take_from_bytes::<LayerRecord<'_>>(rest).ok()?;
        records.push(r);
        rest = next;
    }
    (rest.is_empty() && header.layer_count as usize <= MAX_LAYERS).then_some((header, records))
}

/// Bitwise equality of quantization parameters (NaN scales included).
fn same_quant(a: &QuantParams, b: &QuantParams) -> bool {
    a.scale.to_bits() == b.scale.to_bits() && a.zero_point == b.zero_point
}

/// The same sub-slice of the payload (both decoders borrow in place).
fn same_slice(a: &[u8], b: &[u8]) -> bool {
    core::ptr::eq(a, b)
}

fn same_header(a: &BlobHeader, b: &BlobHeader) -> bool {
    let pixels = match (a.pixels, b.pixels) {
        (PixelScaling::Unit, PixelScaling::Unit) => true,
        (
            PixelScaling::Rescale { scale, offset },
            PixelScaling::Rescale {
                scale: s,
                offset: o,
            },
        ) => scale.to_bits() == s.to_bits() && offset.to_bits() == o.to_bits(),
        _ => false,
    };
    let quant = match (&a.input_quant, &b.input_quant) {
        (None, None) => true,
        (Some(x), Some(y)) => same_quant(x, y),
        _ => false,
    };
    (a.format, a.input, a.layer_count) == (b.format, b.input, b.layer_count) && pixels && quant
}

fn same_record(a: &LayerRecord<'_>, b: &LayerRecord<'_>) -> bool {
    let quant = match (&a.quant, &b.quant) {
        (None, None) => true,
        (Some(x), Some(y)) => {
            same_quant(&x.output, &y.output)
                && same_slice(x.weight_scales, y.weight_scales)
                && same_slice(x.multipliers, y.multipliers)
                && same_slice(x.shifts, y.shifts)
        }
        _ => false,
    };
    a.desc == b.desc && same_slice(a.weights, b.weights) && same_slice(a.bias, b.bias) && quant
}

/// Checks `Blob::decode` against postcard on a blob whose fixed header is consistent.
fn agrees_with_postcard(bytes: &[u8]) {
    let Some(payload) = bytes.get(HEADER_LEN..) else {
        return;
    };
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    let reference = postcard_payload(version, payload);
    match (Blob::decode(bytes), reference) {
        (Ok(blob), Some((header, records))) => {
            assert!(
                same_header(blob.header(), &header),
                "{:?} vs {header:?}",
                blob.header()
            );
            assert_eq!(blob.layers().count(), records.len());
            for (ours, theirs) in blob.layers().zip(&records) {
                assert!(same_record(&ours, theirs), "{:?} vs {theirs:?}", ours.desc);
            }
        }
        (Ok(blob), None) => panic!("accepted a payload postcard rejects: {:?}", blob.header()),
        (Err(BlobError::Malformed { offset, what }), Some(_)) => {
            panic!("rejected a payload postcard reads whole: byte {offset}: {what}")
        }
        _ => {}
    }
}

/// One inference of a bound float network whose arena a microcontroller could hold.
fn run_float<'a, S: FromBlobBytes<'a>>(
    net: &FloatInterpreter<'a, S>,
    input: &dyn Fn(usize) -> Vec<u8>,
) {
    if net.arena_len() <= 1 << 18 {
        let mut arena = vec![0f32; net.arena_len()];
        let out = net
            .run(&input(net.input_len()), &mut arena)
            .expect("validated sizes");
        assert_eq!(out.len(), net.output_len());
        let _ = net.class_of(out);
    }
}

fn exercise(bytes: &[u8], infer: bool) {
    let Ok(blob) = Blob::decode(bytes) else {
        return;
    };
    for layer in blob.layers() {
        let _ = layer;
    }
    let int8 = MnistInt8::from_decoded(&blob);
    let f32 = MnistF32::from_decoded(&blob);
    let f16 = MnistF16::from_decoded(&blob);
    let interpreter = Interpreter::from_decoded(&blob);
    let float32 = InterpreterF32::from_decoded(&blob);
    let float16 = InterpreterF16::from_decoded(&blob);
    if !infer {
        return;
    }
    let input =
        |n: usize| -> Vec<u8> { (0..n).map(|i| bytes.get(i).copied().unwrap_or(0)).collect() };
    if let Ok(net) = float32 {
        run_float(&net, &input);
    }
    if let Ok(net) = float16 {
        run_float(&net, &input);
    }
    if let Ok(net) = interpreter {
        // Arenas of a validated blob can be large (up to 2 x 4 GiB of activations); run the
        // ones a microcontroller could hold.
        if net.arena_len() <= 1 << 20 {
            let mut arena = vec![0i8; net.arena_len()];
            let pixels: Vec<u8> = (0..net.input_len())
                .map(|i| bytes.get(i).copied().unwrap_or(0))
                .collect();
            let out = net.run(&pixels, &mut arena).expect("validated sizes");
            assert_eq!(out.len(), net.output_len());
        }
    }
    let mut image = [0u8; MNIST_PIXELS];
    for (i, p) in image.iter_mut().enumerate() {
        *p = bytes.get(i).copied().unwrap_or(0).wrapping_mul(37);
    }
    if let Ok(net) = int8 {
        let mut scratch = MnistScratchI8::new();
        let prediction = net.predict(&image, &mut scratch);
        let _ = net.probabilities(&prediction.scores);
    }
    if let Ok(net) = f32 {
        let mut scratch = MnistScratchF32::new();
        let _ = net.predict(&image, &mut scratch);
    }
    if let Ok(net) = f16 {
        let mut scratch = MnistScratchF32::new();
        let _ = net.predict(&image, &mut scratch);
    }
}

fuzz_target!(|data: &[u8]| {
    exercise(data, true);
    if data.len() >= HEADER_LEN {
        let mut fixed = data.to_vec();
        let payload_len = (data.len() - HEADER_LEN) as u32;
        fixed[6..10].copy_from_slice(&payload_len.to_le_bytes());
        let crc = CRC.checksum(&data[HEADER_LEN..]);
        fixed[10..14].copy_from_slice(&crc.to_le_bytes());
        if fixed[..4] == shared::blob::MAGIC {
            agrees_with_postcard(&fixed);
        }
        exercise(&fixed, crc % 16 == 0);
    }
});
