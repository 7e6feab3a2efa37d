//! tinyconv on the host.
