//! Stand-ins for the GPU backends a build leaves out (`--no-default-features`): the same names
//! as the real modules, so callers compile unchanged, and every attempt to start one says
//! "built without ...". Their backend types have no values, so nothing else can be reached.

#[cfg(not(feature = "cuda"))]
pub mod cuda {
    use crate::backend::{Backend, BackendError, CoverageOps, DeviceInfo, PairHmmOps};

    /// Never constructed: [`CudaBackend::open`] always fails.
    pub enum CudaBackend {}

    /// Why CUDA cannot start: it was not built.
    pub fn probe() -> Result<DeviceInfo, BackendError> {
        Err(BackendError::NotBuilt("CUDA"))
    }

    impl CudaBackend {
        pub fn open() -> Result<Self, BackendError> {
            Err(BackendError::NotBuilt("CUDA"))
        }
        pub fn info(&self) -> DeviceInfo {
            match *self {}
        }
    }

    impl Backend for CudaBackend {
        fn name(&self) -> &'static str {
            "cuda"
        }
        fn device(&self) -> String {
            match *self {}
        }
        fn coverage(&self) -> &dyn CoverageOps {
            match *self {}
        }
        fn pairhmm(&self) -> &dyn PairHmmOps {
            match *self {}
        }
    }
}

#[cfg(not(feature = "wgpu"))]
pub mod wgpu {
    use crate::backend::{Backend, BackendError, CoverageOps, DeviceInfo, PairHmmOps};

    /// Never constructed: [`WgpuBackend::open`] always fails.
    pub enum WgpuBackend {}

    /// Why wgpu cannot start: it was not built.
    pub fn probe() -> Result<DeviceInfo, BackendError> {
        Err(BackendError::NotBuilt("wgpu"))
    }

    impl WgpuBackend {
        pub fn open(_gpu_only: bool) -> Result<Self, BackendError> {
            Err(BackendError::NotBuilt("wgpu"))
        }
    }

    impl Backend for WgpuBackend {
        fn name(&self) -> &'static str {
            "wgpu"
        }
        fn device(&self) -> String {
            match *self {}
        }
        fn coverage(&self) -> &dyn CoverageOps {
            match *self {}
        }
        fn pairhmm(&self) -> &dyn PairHmmOps {
            match *self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::{self, BackendKind};

    /// A build without a GPU backend names what is missing, in `kasane backends` (the probe)
    /// and as the error of `--backend NAME`.
    #[test]
    fn backend_left_out_of_the_build_says_built_without_it() {
        #[cfg(not(feature = "cuda"))]
        {
            let why = backend::cuda::probe().err().map(|e| e.to_string());
            assert_eq!(why.as_deref(), Some("built without CUDA"));
            let e = backend::open(BackendKind::Cuda, 1, None)
                .err()
                .map(|e| e.to_string());
            assert_eq!(e.as_deref(), Some("backend cuda: built without CUDA"));
        }
        #[cfg(not(feature = "wgpu"))]
        {
            let why = backend::wgpu::probe().err().map(|e| e.to_string());
            assert_eq!(why.as_deref(), Some("built without wgpu"));
            let e = backend::open(BackendKind::Wgpu, 1, None)
                .err()
                .map(|e| e.to_string());
            assert_eq!(e.as_deref(), Some("backend wgpu: built without wgpu"));
        }
        // `auto` falls through to what was built.
        let auto = backend::open(BackendKind::Auto, 1, None).map(|b| b.name());
        assert!(auto.is_ok(), "auto failed");
        let left_out = [cfg!(feature = "cuda"), cfg!(feature = "wgpu")]
            .iter()
            .filter(|&&built| !built)
            .count();
        eprintln!("{left_out} left-out backend(s) checked");
    }
}
