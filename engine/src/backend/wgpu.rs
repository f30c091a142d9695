//! The wgpu backend (being written).

use crate::backend::{Backend, ContigDepth, DeviceInfo};
use crate::error::Result;

pub fn probe() -> std::result::Result<DeviceInfo, String> {
    Err("not built yet".into())
}

pub struct WgpuBackend;

impl WgpuBackend {
    pub fn open(_gpu_only: bool) -> std::result::Result<Self, String> {
        Err("not built yet".into())
    }
}

impl Backend for WgpuBackend {
    fn name(&self) -> &'static str {
        "wgpu"
    }
    fn device(&self) -> String {
        String::new()
    }
    fn begin_contig(&self, _len: usize) -> Result<Box<dyn ContigDepth>> {
        unreachable!()
    }
}
