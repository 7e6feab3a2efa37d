//! The IDX file format of MNIST (`train-images-idx3-ubyte` and friends), raw or gzip'd.
//!
//! An IDX file is a 4-byte magic (`0x00 0x00`, a type code, the number of dimensions), one
//! big-endian `u32` per dimension, then the data in row-major order. Only unsigned bytes
//! (type code `0x08`) are supported, which is all MNIST uses.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// An error reading an IDX file; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    /// The file could not be opened or read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file starts like gzip but does not decompress.
    #[error("{}: corrupt gzip stream", path.display())]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// The content is not a valid IDX array of the expected kind.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// Row-major data; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

/// Reads an IDX file, gunzipping it first when it starts with the gzip magic.
pub fn read_idx(path: &Path) -> Result<IdxArray, IdxError> {
    let raw = std::fs::read(path).map_err(|source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let (out, declared) = gunzip(&raw).map_err(|source| IdxError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
        if let Some(limit) = declared.filter(|&t| out.len() as u64 > t) {
            return Err(IdxError::Format {
                path: path.to_path_buf(),
                reason: if limit == MAX_GUNZIP_BYTES {
                    format!("the gzip stream inflates past {MAX_GUNZIP_BYTES} bytes")
                } else {
                    format!(
                        "the gzip stream inflates past the {limit} bytes its IDX header declares"
                    )
                },
            });
        }
        out
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|reason| IdxError::Format {
        path: path.to_path_buf(),
        reason,
    })
}

/// The largest IDX file (header and data) read from a gzip stream: 4 GiB, far beyond MNIST's
/// 47 MB, and a bound even for a header that declares more.
const MAX_GUNZIP_BYTES: u64 = 1 << 32;

/// Inflates a gzip'd IDX file no further than its header declares, plus one byte to tell a
/// longer stream, and never past [`MAX_GUNZIP_BYTES`]: a small hostile file cannot make it
/// inflate without bound. Returns the bytes and the declared total (header and data) when
/// the header is a complete, supported one whose size fits; otherwise the bytes read so far
/// (at most the header), for `parse_idx` to report what is wrong.
fn gunzip(raw: &[u8]) -> std::io::Result<(Vec<u8>, Option<u64>)> {
    let mut dec = GzDecoder::new(raw);
    let mut out = Vec::new();
    (&mut dec).take(4).read_to_end(&mut out)?;
    if out.len() < 4 || out[..3] != [0, 0, 0x08] || out[3] == 0 {
        return Ok((out, None));
    }
    let header = 4 + 4 * u64::from(out[3]);
    (&mut dec).take(header - 4).read_to_end(&mut out)?;
    if (out.len() as u64) < header {
        return Ok((out, None));
    }
    let data = out[4..].chunks_exact(4).try_fold(1u64, |acc, c| {
        acc.checked_mul(u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
    });
    let total = data.and_then(|d| d.checked_add(header)).unwrap_or(u64::MAX);
    let limit = total.min(MAX_GUNZIP_BYTES);
    (&mut dec).take(limit - header + 1).read_to_end(&mut out)?;
    Ok((out, Some(limit)))
}

/// Parses the bytes of an (uncompressed) IDX file; the error says what is wrong.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "too short for an IDX header ({} bytes, need at least 4)",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "bad magic number {:02x} {:02x} {:02x} {:02x}: not an IDX file",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "unsupported IDX element type 0x{:02x} (only unsigned bytes, 0x08, are supported)",
            bytes[2]
        ));
    }
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err("IDX header declares 0 dimensions".into());
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(format!(
            "truncated header: {ndims} dimensions need {header} bytes, file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    let actual = bytes.len() - header;
    if actual != expected {
        return Err(format!(
            "size mismatch: dimensions {dims:?} need {expected} data bytes, file has {actual}"
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Encodes an array of bytes as an IDX file (used to write test fixtures).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data: Vec<u8> = (0..24).collect();
        let a = parse_idx(&encode_idx(&[2, 3, 4], &data)).unwrap();
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, data);
    }

    #[test]
    fn rejects_bad_magic_type_and_sizes() {
        let good = encode_idx(&[2, 2], &[1, 2, 3, 4]);
        let mut bad_magic = good.clone();
        bad_magic[0] = 0x42;
        assert!(parse_idx(&bad_magic).unwrap_err().contains("magic"));
        let mut bad_type = good.clone();
        bad_type[2] = 0x0d;
        assert!(parse_idx(&bad_type).unwrap_err().contains("element type"));
        let short = &good[..good.len() - 1];
        assert!(parse_idx(short).unwrap_err().contains("size mismatch"));
        let mut long = good.clone();
        long.push(0);
        assert!(parse_idx(&long).unwrap_err().contains("size mismatch"));
        assert!(parse_idx(&good[..6])
            .unwrap_err()
            .contains("truncated header"));
        assert!(parse_idx(&[0, 0]).unwrap_err().contains("too short"));
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_inflates_only_as_far_as_the_header_declares() {
        // A 2x2 header followed by 64 MiB of zeros: about 64 KiB compressed.
        let mut bomb = encode_idx(&[2, 2], &[1, 2, 3, 4]);
        bomb.resize(bomb.len() + (64 << 20), 0);
        let gz = gzip(&bomb);
        assert!(gz.len() < 1 << 20);
        let (out, declared) = gunzip(&gz).unwrap();
        assert_eq!(declared, Some(12 + 4));
        assert_eq!(
            out.len(),
            12 + 4 + 1,
            "stops one byte past the declared size"
        );
        let dir = std::env::temp_dir().join(format!("tinyconv-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bomb.idx.gz");
        std::fs::write(&path, &gz).unwrap();
        let err = read_idx(&path).unwrap_err().to_string();
        assert!(
            err.contains("bomb.idx.gz") && err.contains("inflates past the 16 bytes"),
            "{err}"
        );
        // The same array without the padding reads back; a truncated stream is a size error.
        let ok = dir.join("ok.idx.gz");
        std::fs::write(&ok, gzip(&encode_idx(&[2, 2], &[1, 2, 3, 4]))).unwrap();
        assert_eq!(read_idx(&ok).unwrap().data, vec![1, 2, 3, 4]);
        // A header that declares 2^64 bytes is read no further than the cap; a bad element
        // type is reported as such, not as a size.
        let (_, declared) = gunzip(&gzip(&encode_idx(&[u32::MAX as usize; 2], &[0; 8]))).unwrap();
        assert_eq!(declared, Some(MAX_GUNZIP_BYTES));
        let mut bad_type = encode_idx(&[2, 2], &[1, 2, 3, 4]);
        bad_type[2] = 0x0d;
        let bt = dir.join("type.idx.gz");
        std::fs::write(&bt, gzip(&bad_type)).unwrap();
        assert!(read_idx(&bt)
            .unwrap_err()
            .to_string()
            .contains("element type"));
        let short = dir.join("short.idx.gz");
        std::fs::write(&short, gzip(&encode_idx(&[2, 2], &[1, 2, 3]))).unwrap();
        assert!(read_idx(&short)
            .unwrap_err()
            .to_string()
            .contains("size mismatch"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
