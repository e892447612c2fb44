//! Link-time set-up for every binary of this package (examples, tests, benches).
//!
//! * `-Wl,-rpath,$ORIGIN/../lib` then `-Wl,-rpath,<libtorch>/lib`: a binary of the
//!   bundle (`make bundle`: `bin/` beside `lib/`) finds the libtorch shipped with it;
//!   a development binary (no `target/release/lib`) finds the project's libtorch,
//!   both without `LD_LIBRARY_PATH`.
//! * `-Wl,--no-as-needed -ltorch_cuda -ltorch`: the GNU linker would otherwise drop
//!   `libtorch_cuda.so` (nothing references its symbols directly; CUDA kernels
//!   register themselves from static initialisers), and `tch::Cuda::is_available()`
//!   would silently be false on a machine with a GPU.
//!
//! The libtorch directory is the one torch-sys resolved (`DEP_TCH_LIBTORCH_LIB`),
//! so `LIBTORCH`, `LIBTORCH_USE_PYTORCH` and a system libtorch all work alike.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" && os != "macos" {
        return;
    }
    let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=torch-sys did not report its libtorch directory; no rpath set");
        return;
    };
    let lib = Path::new(&lib);
    if os == "linux" {
        println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../lib");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if os == "linux" {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        if lib.join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-ltorch_cuda");
        }
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
