//! Helpers shared by the integration tests: independent f64 / integer reference layers,
//! a deterministic generator, and blob builders for the MNIST network.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod blobs;
pub mod reference;
pub mod rng;
