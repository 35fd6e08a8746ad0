//! The build script of the crates that link libtorch (encoders/, decoder/, report/; the CLI has
//! its own, which also orders OpenBLAS first). torch-sys links libtorch but leaves it off the
//! runtime search path: give the crate's test, doc-test, example and bench binaries an rpath
//! to `$LIBTORCH/lib` (set by .cargo/config.toml), so they run without `LD_LIBRARY_PATH`.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&libtorch).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
