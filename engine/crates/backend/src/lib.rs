//! kasane's compute backends: one trait per operation (depth reduction, pair-HMM costs) with a
//! CPU (rayon), a CUDA (`cuda` feature) and a wgpu (`wgpu` feature) implementation, and one
//! shared test body. Kernels live in `kernels/`, shaders in `shaders/`.

pub use kasane_core::{error, rng, Error, Result};

pub mod backend;
