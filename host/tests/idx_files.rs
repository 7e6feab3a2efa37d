//! IDX files on disk: gzip'd and raw files load; damaged ones give errors naming the file.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use host::idx::{encode_idx, read_idx, IdxError};

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_and_raw_give_the_same_array() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..=255).cycle().take(3 * 28 * 28).collect();
    let raw = encode_idx(&[3, 28, 28], &data);
    std::fs::write(dir.path().join("a"), &raw).unwrap();
    std::fs::write(dir.path().join("a.gz"), gz(&raw)).unwrap();
    let a = read_idx(&dir.path().join("a")).unwrap();
    let b = read_idx(&dir.path().join("a.gz")).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.dims, vec![3, 28, 28]);
    assert_eq!(a.data, data);
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-idx3-ubyte");
    let e = read_idx(&missing).unwrap_err();
    assert!(matches!(e, IdxError::Io { .. }));
    assert!(e.to_string().contains("missing-idx3-ubyte"));

    let bad_gz = dir.path().join("bad.gz");
    let mut bytes = gz(&encode_idx(&[100], &[7; 100]));
    let n = bytes.len();
    bytes.truncate(n - 12);
    std::fs::write(&bad_gz, &bytes).unwrap();
    let e = read_idx(&bad_gz).unwrap_err();
    assert!(matches!(e, IdxError::Gzip { .. }), "{e:?}");
    assert!(e.to_string().contains("bad.gz"));

    let magic = dir.path().join("magic");
    std::fs::write(&magic, b"PK\x03\x04 not idx").unwrap();
    let e = read_idx(&magic).unwrap_err().to_string();
    assert!(e.contains("magic") && e.contains("magic number"), "{e}");

    let short = dir.path().join("short.gz");
    let raw = encode_idx(&[10, 28, 28], &[0; 10 * 784]);
    std::fs::write(&short, gz(&raw[..raw.len() - 784])).unwrap();
    let e = read_idx(&short).unwrap_err().to_string();
    assert!(e.contains("short.gz") && e.contains("size mismatch"), "{e}");
}
