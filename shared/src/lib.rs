//! no_std inference for tinyconv.
#![no_std]
