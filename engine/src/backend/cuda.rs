//! The cuda backend (being written).

use crate::backend::{Backend, ContigDepth, DeviceInfo};
use crate::error::Result;

pub fn probe() -> std::result::Result<DeviceInfo, String> {
    Err("not built yet".into())
}

pub struct CudaBackend;

impl CudaBackend {
    pub fn open() -> std::result::Result<Self, String> {
        Err("not built yet".into())
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> &'static str {
        "cuda"
    }
    fn device(&self) -> String {
        String::new()
    }
    fn begin_contig(&self, _len: usize) -> Result<Box<dyn ContigDepth>> {
        unreachable!()
    }
}
