// Shared by the build scripts of the crates that link libtorch (included with `include!`).
// It gives every binary, test and example of the crate an rpath to libtorch, so they run
// with no LD_LIBRARY_PATH, and keeps `libtorch_cuda` linked (the linker's --as-needed would
// drop it, since nothing references it by symbol), so `--device cuda` works where a GPU exists.

fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(root) = std::env::var("LIBTORCH") else {
        return;
    };
    let lib = std::path::Path::new(&root).join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-L{}", lib.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
