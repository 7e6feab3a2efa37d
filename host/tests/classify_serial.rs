//! `host classify --serial` against the firmware's own protocol codec
//! (`firmware/src/protocol.rs`) over a pseudo-terminal pair: a thread plays the board (the
//! firmware's request decoder and response encoder, `shared`'s int8 network on the committed
//! blob) and the `host` binary is the client. The printed classes must be the board's.

#[path = "../../firmware/src/protocol.rs"]
mod protocol;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use protocol::{encode_error, encode_response, Decoded, FrameError, RequestDecoder};
use serialport::{SerialPort, TTYPort};
use shared::mnist::{MnistInt8, MnistScratchI8, MNIST_PIXELS};

fn blob_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/model/mnist_int8.blob")
}

fn data_dir() -> PathBuf {
    std::env::var_os("TINYCONV_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// Serves requests on `port` like the firmware's request loop, for `requests` requests;
/// `corrupt` answers every request with a checksum error instead.
fn board(mut port: TTYPort, requests: usize, corrupt: bool) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let bytes = std::fs::read(blob_path()).unwrap();
        let net = MnistInt8::from_blob(&bytes).unwrap();
        let mut scratch = MnistScratchI8::new();
        let mut decoder = RequestDecoder::<MNIST_PIXELS>::new();
        let mut served = 0;
        let mut buf = [0u8; 256];
        port.set_timeout(Duration::from_secs(30)).unwrap();
        while served < requests {
            let n = port.read(&mut buf).unwrap();
            for &b in &buf[..n] {
                match decoder.push(b) {
                    Decoded::Pending => {}
                    Decoded::Request if !corrupt => {
                        let p = net.predict(decoder.pixels(), &mut scratch);
                        let frame: [u8; 13] = encode_response(p.digit, &p.scores);
                        port.write_all(&frame).unwrap();
                        served += 1;
                    }
                    Decoded::Request | Decoded::BadChecksum => {
                        port.write_all(&encode_error(FrameError::Checksum)).unwrap();
                        served += 1;
                    }
                }
            }
        }
        port.flush().unwrap();
    })
}

fn classify(port: &str, images: &[PathBuf]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_host"));
    cmd.args(["classify", "--serial", port, "--blob"])
        .arg(blob_path())
        .args(images)
        .env("RUST_BACKTRACE", "0");
    let out = cmd.output().expect("host runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn classify_over_a_pty_prints_the_boards_answers() {
    let test = host::mnist::load_split(
        &data_dir(),
        &host::mnist::TEST_IMAGES,
        &host::mnist::TEST_LABELS,
    )
    .expect("MNIST test split");
    let tmp = tempfile::tempdir().unwrap();
    let n = 4;
    let bytes = std::fs::read(blob_path()).unwrap();
    let net = MnistInt8::from_blob(&bytes).unwrap();
    let mut scratch = MnistScratchI8::new();
    let mut files = Vec::new();
    let mut expected = Vec::new();
    for i in 0..n {
        let px: [u8; MNIST_PIXELS] = test.images[i * MNIST_PIXELS..(i + 1) * MNIST_PIXELS]
            .try_into()
            .unwrap();
        let path = tmp.path().join(format!("digit{i}.png"));
        image::GrayImage::from_raw(28, 28, px.to_vec())
            .unwrap()
            .save(&path)
            .unwrap();
        files.push(path);
        expected.push(net.predict(&px, &mut scratch));
    }
    let (master, slave) = TTYPort::pair().expect("a pseudo-terminal pair");
    let name = slave.name().expect("pty name");
    let server = board(master, n, false);
    let (ok, stdout, stderr) = classify(&name, &files);
    server.join().unwrap();
    assert!(ok, "{stderr}");
    for (i, p) in expected.iter().enumerate() {
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!("digit{i}.png")))
            .unwrap_or_else(|| panic!("no line for digit{i}: {stdout}"));
        assert!(
            line.contains(&format!("class {}, scores {:?}", p.digit, p.scores)),
            "{line} (expected {p:?})"
        );
        assert_eq!(
            p.digit, test.labels[i],
            "the committed model gets these digits right"
        );
    }
    drop(slave);
}

#[test]
fn a_board_error_and_a_missing_port_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("blank.png");
    image::GrayImage::new(40, 30).save(&path).unwrap();
    let (master, slave) = TTYPort::pair().expect("a pseudo-terminal pair");
    let name = slave.name().expect("pty name");
    let server = board(master, 1, true);
    let (ok, _, stderr) = classify(&name, std::slice::from_ref(&path));
    server.join().unwrap();
    assert!(!ok);
    assert!(
        stderr.contains("blank.png") && stderr.contains("checksum mismatch"),
        "{stderr}"
    );
    drop(slave);
    let (ok, _, stderr) = classify("/dev/nonexistent-tty", &[path]);
    assert!(!ok);
    assert!(stderr.contains("/dev/nonexistent-tty"), "{stderr}");
}

#[test]
fn host_frames_equal_the_firmware_codec() {
    use host::serial_frame::{decode_answer, encode_request, Answer, FrameError as HostError};
    let mut px = [0u8; MNIST_PIXELS];
    for (i, p) in px.iter_mut().enumerate() {
        *p = (i as u8).wrapping_mul(29);
    }
    let firmware: [u8; 786] = protocol::encode_request(&px);
    assert_eq!(encode_request(&px), firmware.to_vec());
    let scores = [-128, -3, 0, 5, 127, 1, 2, 3, 4, -1];
    let frame: [u8; 13] = encode_response(4, &scores);
    assert_eq!(
        decode_answer(&frame, 10),
        Ok(Answer::Response {
            class: 4,
            scores: scores.to_vec()
        })
    );
    assert_eq!(
        decode_answer(&encode_error(FrameError::Link), 10),
        Ok(Answer::Error { code: 2 })
    );
    let mut bad = frame;
    bad[3] ^= 1;
    assert!(matches!(
        decode_answer(&bad, 10),
        Err(HostError::Checksum { .. })
    ));
    assert!(matches!(
        decode_answer(&frame[..5], 10),
        Err(HostError::Length { .. })
    ));
    assert!(matches!(
        decode_answer(&frame, 3),
        Err(HostError::Length { .. })
    ));
    assert!(matches!(
        decode_answer(&[0x00, 1, 1], 10),
        Err(HostError::Magic(0))
    ));
}
