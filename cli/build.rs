//! Link setup of the `demud` binary (and this crate's tests).
//!
//! 1. libtorch's `libtorch_cpu.so` exports its own Fortran BLAS/LAPACK symbols (`dgemm_`,
//!    `dgesdd_`, ...). Listed before OpenBLAS, it would answer the engine's LAPACK calls and
//!    change their rounding (ties decided by rounding then fall differently from the reference
//!    implementation). Linking OpenBLAS first, from this crate, puts it ahead in the
//!    executable's NEEDED list, so the engine computes with OpenBLAS whether or not the neural
//!    crate is linked in.
//! 2. torch-sys links libtorch but leaves it off the runtime search path: give the binaries an
//!    rpath to `$LIBTORCH/lib` (set by .cargo/config.toml).
fn main() {
    println!("cargo:rustc-link-lib=dylib=openblas");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&libtorch).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
