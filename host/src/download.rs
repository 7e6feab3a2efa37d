//! Downloads with SHA-256 verification: the file is streamed into a temporary file beside the
//! destination while hashing, checked, then renamed into place, so a failed or mismatched
//! download never leaves a file behind.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::atomic::TempFile;

/// An error downloading one file.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The server answered with an error status (e.g. 404).
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The connection failed or broke off.
    #[error("{url}: {message}")]
    Transport {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The downloaded bytes do not have the expected SHA-256.
    #[error("{url}: checksum mismatch (expected sha256 {expected}, got {actual})")]
    Checksum {
        /// The URL.
        url: String,
        /// Expected hex digest.
        expected: String,
        /// Digest of what was received.
        actual: String,
    },
    /// Writing the destination failed.
    #[error("cannot write {}", path.display())]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Every mirror failed.
    #[error("could not download {file} from any mirror:\n  {}", failures.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    AllMirrors {
        /// The file name.
        file: String,
        /// One error per mirror, in order.
        failures: Vec<DownloadError>,
    },
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Downloads `url` to `dest`, verifying its SHA-256 (hex) before renaming it into place.
/// Shows an indicatif progress bar when `progress` is true.
pub fn download_verified(
    url: &str,
    expected_sha256: &str,
    dest: &Path,
    progress: bool,
) -> Result<(), DownloadError> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .build();
    let response = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(status, _)) => {
            return Err(DownloadError::Status {
                url: url.to_string(),
                status,
            })
        }
        Err(e) => {
            return Err(DownloadError::Transport {
                url: url.to_string(),
                message: e.to_string(),
            })
        }
    };
    let total: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.parse().ok());
    let io_err = |source| DownloadError::Io {
        path: dest.to_path_buf(),
        source,
    };
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io_err)?;
    }
    let (tmp, mut file) = TempFile::create_for(dest).map_err(io_err)?;
    let bar = if progress {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("downloading {name}"));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut reader = response.into_reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| DownloadError::Transport {
                url: url.to_string(),
                message: format!("read failed: {e}"),
            })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io_err)?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    file.sync_all().map_err(io_err)?;
    drop(file);
    let actual = hex(&hasher.finalize());
    if !actual.eq_ignore_ascii_case(expected_sha256) {
        // `tmp` is dropped here, removing the temporary file.
        return Err(DownloadError::Checksum {
            url: url.to_string(),
            expected: expected_sha256.to_string(),
            actual,
        });
    }
    tmp.persist(dest).map_err(io_err)
}

/// Downloads `file` from the first mirror (base URL, with or without a trailing `/`) that
/// serves it with the expected checksum.
pub fn download_from_mirrors(
    mirrors: &[String],
    file: &str,
    expected_sha256: &str,
    dest: &Path,
    progress: bool,
) -> Result<(), DownloadError> {
    let mut failures = Vec::new();
    for base in mirrors {
        let url = format!("{}/{file}", base.trim_end_matches('/'));
        match download_verified(&url, expected_sha256, dest, progress) {
            Ok(()) => return Ok(()),
            Err(e @ DownloadError::Io { .. }) => return Err(e),
            Err(e) => failures.push(e),
        }
    }
    Err(DownloadError::AllMirrors {
        file: file.to_string(),
        failures,
    })
}
