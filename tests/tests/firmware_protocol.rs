//! The firmware's serial framing (`firmware/src/protocol.rs`, plain `core` code) compiled for
//! the host and checked against the layout documented in `firmware/README.md`.

#[path = "../../firmware/src/protocol.rs"]
mod protocol;

use protocol::{
    encode_error, encode_response, request_bytes, request_len, response_len, Decoded, FrameError,
};

/// The MNIST model's frames: 784 pixels, 10 scores.
const PIXELS: usize = 784;
type RequestDecoder = protocol::RequestDecoder<PIXELS>;

fn encode_request(img: &[u8; PIXELS]) -> [u8; 786] {
    protocol::encode_request(img)
}

/// Wrapping byte sum, written from the README's definition of the checksum.
fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

fn image(seed: u8) -> [u8; PIXELS] {
    let mut img = [0u8; PIXELS];
    for (i, p) in img.iter_mut().enumerate() {
        *p = (i as u8).wrapping_mul(31).wrapping_add(seed);
    }
    img
}

fn feed(decoder: &mut RequestDecoder, bytes: &[u8]) -> Vec<Decoded> {
    bytes
        .iter()
        .map(|&b| decoder.push(b))
        .filter(|d| *d != Decoded::Pending)
        .collect()
}

#[test]
fn request_frame_layout_and_round_trip() {
    let img = image(7);
    let frame = encode_request(&img);
    assert_eq!(frame.len(), 786);
    assert_eq!(frame[0], 0xA5);
    assert_eq!(&frame[1..785], &img[..]);
    assert_eq!(frame[785], sum(&frame[..785]));
    assert_eq!(request_bytes(&img).collect::<Vec<u8>>(), frame.to_vec());

    let mut decoder = RequestDecoder::new();
    assert_eq!(feed(&mut decoder, &frame), vec![Decoded::Request]);
    assert_eq!(decoder.pixels(), &img);
    assert!(!decoder.in_frame());
}

#[test]
fn noise_before_a_frame_is_skipped() {
    let img = image(200);
    let mut bytes = vec![0x00, 0x5A, 0xFF, 0x13];
    bytes.extend_from_slice(&encode_request(&img));
    let mut decoder = RequestDecoder::new();
    assert_eq!(feed(&mut decoder, &bytes), vec![Decoded::Request]);
    assert_eq!(decoder.pixels(), &img);
}

#[test]
fn a_corrupted_request_is_rejected_and_the_next_one_decodes() {
    let (first, second) = (image(1), image(2));
    let mut bad = encode_request(&first);
    bad[100] ^= 0x01;
    let mut decoder = RequestDecoder::new();
    assert_eq!(feed(&mut decoder, &bad), vec![Decoded::BadChecksum]);
    assert_eq!(
        feed(&mut decoder, &encode_request(&second)),
        vec![Decoded::Request]
    );
    assert_eq!(decoder.pixels(), &second);
}

#[test]
fn reset_drops_a_partial_frame() {
    let (first, second) = (image(3), image(4));
    let mut decoder = RequestDecoder::new();
    assert!(feed(&mut decoder, &encode_request(&first)[..300]).is_empty());
    assert!(decoder.in_frame());
    decoder.reset();
    assert!(!decoder.in_frame());
    assert_eq!(
        feed(&mut decoder, &encode_request(&second)),
        vec![Decoded::Request]
    );
    assert_eq!(decoder.pixels(), &second);
}

#[test]
fn response_and_error_frame_layouts() {
    // A second model's sizes: a 32 x 32 x 3 input and one sigmoid score.
    assert_eq!(request_len(32 * 32 * 3), 3074);
    let one: [u8; 4] = encode_response(1, &[-7i8]);
    assert_eq!(one, [0x5A, 1, 0xF9, sum(&[0x5A, 1, 0xF9])]);

    let scores = [-128i8, -1, 0, 1, 127, 5, -5, 64, -64, 3];
    let frame: [u8; 13] = encode_response(4, &scores);
    assert_eq!((request_len(PIXELS), response_len(10)), (786, 13));
    assert_eq!(frame[0], 0x5A);
    assert_eq!(frame[1], 4);
    let decoded: Vec<i8> = frame[2..12].iter().map(|&b| b as i8).collect();
    assert_eq!(decoded, scores);
    assert_eq!(frame[12], sum(&frame[..12]));

    assert_eq!(encode_error(FrameError::Checksum), [0xEE, 1, 0xEFu8]);
    assert_eq!(encode_error(FrameError::Link), [0xEE, 2, 0xF0u8]);
}
