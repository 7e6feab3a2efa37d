//! Any byte sequence as a model blob: decode, walk the layers, bind it to the networks the
//! firmware and the host run (the MNIST views and the general interpreter), and run one
//! inference when binding succeeds. Nothing may panic.
//!
//! Each input is tried twice: as it is (exercising the header checks), and with the header's
//! length and CRC fields rewritten to match the bytes after it, so mutations reach the
//! postcard decoding, the binding and the kernels instead of stopping at the checksum.
//! A bound network runs its inference for one input in 16 (chosen by the payload's CRC), so
//! the decoder and the binding see a million inputs in minutes, and the kernels thousands.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::blob::{Blob, CRC, HEADER_LEN};
use shared::int8::interpreter::Interpreter;
use shared::mnist::{MnistF16, MnistF32, MnistInt8, MnistScratchF32, MnistScratchI8, MNIST_PIXELS};

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
    if !infer {
        return;
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
        exercise(&fixed, crc % 16 == 0);
    }
});
