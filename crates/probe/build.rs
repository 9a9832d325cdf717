//! Build script: libtorch rpath and libtorch_cuda linking, via the shared build-support file.
include!("../../build-support/torch_link.rs");

fn main() {
    link_libtorch();
}
