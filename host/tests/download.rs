//! Downloads against a local HTTP server: success, checksum mismatch, 404, mirror fallback,
//! and fetching MNIST through `ensure_downloaded`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::thread;

use host::download::{download_from_mirrors, download_verified, sha256_hex, DownloadError};
use host::mnist;

/// Serves `files` (path → body) on 127.0.0.1 until dropped; unknown paths get 404.
struct Server {
    base: String,
    server: Arc<tiny_http::Server>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start(files: HashMap<String, Vec<u8>>) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let s = Arc::clone(&server);
        let handle = thread::spawn(move || {
            for req in s.incoming_requests() {
                let resp = match files.get(req.url()) {
                    Some(body) => tiny_http::Response::from_data(body.clone()).boxed(),
                    None => tiny_http::Response::from_string("not found")
                        .with_status_code(404)
                        .boxed(),
                };
                let _ = req.respond(resp);
            }
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            server,
            handle: Some(handle),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn downloads_verifies_and_renames() {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = sha256_hex(&body);
    let server = Server::start([("/d/f.bin".to_string(), body.clone())].into());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("sub").join("f.bin");
    download_verified(&format!("{}/d/f.bin", server.base), &sha, &dest, false).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(entries(&dir.path().join("sub")), vec!["f.bin"]);
}

#[test]
fn checksum_mismatch_leaves_no_file() {
    let server = Server::start([("/f.bin".to_string(), b"hello".to_vec())].into());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f.bin");
    let wrong = sha256_hex(b"something else");
    let e = download_verified(&format!("{}/f.bin", server.base), &wrong, &dest, false).unwrap_err();
    match &e {
        DownloadError::Checksum {
            expected, actual, ..
        } => {
            assert_eq!(expected, &wrong);
            assert_eq!(actual, &sha256_hex(b"hello"));
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn not_found_is_a_status_error_and_mirrors_fall_back() {
    let body = b"payload".to_vec();
    let sha = sha256_hex(&body);
    let good = Server::start([("/m/f.gz".to_string(), body.clone())].into());
    let bad = Server::start(HashMap::new());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f.gz");
    let e = download_verified(&format!("{}/m/f.gz", bad.base), &sha, &dest, false).unwrap_err();
    assert!(
        matches!(e, DownloadError::Status { status: 404, .. }),
        "{e:?}"
    );
    assert!(entries(dir.path()).is_empty());

    // First mirror 404s, second serves it.
    let mirrors = vec![format!("{}/m/", bad.base), format!("{}/m", good.base)];
    download_from_mirrors(&mirrors, "f.gz", &sha, &dest, false).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);

    // Every mirror failing reports each failure.
    let dest2 = dir.path().join("g.gz");
    let e = download_from_mirrors(std::slice::from_ref(&bad.base), "g.gz", &sha, &dest2, false)
        .unwrap_err();
    assert!(e.to_string().contains("404"), "{e}");
    assert!(!dest2.exists());
}

#[test]
fn mnist_is_fetched_from_a_mirror_and_loads() {
    // Serve the real gz files (verified against the built-in checksums) when present.
    let src = std::env::var_os("TINYCONV_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let mut files = HashMap::new();
    for f in mnist::FILES {
        let p = src.join("mnist").join(format!("{}.gz", f.name));
        let body = std::fs::read(&p)
            .unwrap_or_else(|e| panic!("test data {} is needed: {e}", p.display()));
        files.insert(format!("/mnist/{}.gz", f.name), body);
    }
    let server = Server::start(files);
    let dir = tempfile::tempdir().unwrap();
    mnist::ensure_downloaded(dir.path(), &[format!("{}/mnist/", server.base)], false).unwrap();
    assert_eq!(entries(&dir.path().join("mnist")).len(), 4);
    let data = mnist::load(dir.path()).unwrap();
    assert_eq!(data.train.len(), 60_000);
    assert_eq!(data.test.len(), 10_000);
    // Nothing more is fetched once present.
    drop(server);
    mnist::ensure_downloaded(dir.path(), &["http://127.0.0.1:9/".to_string()], false).unwrap();
}
