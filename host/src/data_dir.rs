//! Where data lives: `--data-dir`, else `TINYCONV_DATA_DIR`, else a per-user cache folder.

use std::path::PathBuf;

/// The environment variable naming the data directory.
pub const ENV: &str = "TINYCONV_DATA_DIR";

/// The default data directory: `$XDG_CACHE_HOME/tinyconv`, else `~/.cache/tinyconv`, else
/// `./.tinyconv-data`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("tinyconv");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".cache").join("tinyconv");
    }
    PathBuf::from(".tinyconv-data")
}

/// The data directory: `flag` if given, else `$TINYCONV_DATA_DIR`, else
/// [`default_cache_dir`].
pub fn resolve(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| {
        std::env::var_os(ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(default_cache_dir)
}
