//! Generates the C header with cbindgen into `$OUT_DIR/nnkern.h`. The committed copy,
//! `include/nnkern.h`, is rewritten when `NNK_UPDATE_HEADER=1` is set (or when it is missing);
//! `tests/header.rs` fails when the committed copy differs from the fresh generation.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=NNK_UPDATE_HEADER");

    // Tests compile the C and C++ suites with the cc crate for the same target.
    for var in ["TARGET", "HOST"] {
        println!(
            "cargo:rustc-env=NNK_BUILD_{var}={}",
            std::env::var(var).expect(var)
        );
    }

    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/capi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate nnkern.h");
    let fresh = out_dir.join("nnkern.h");
    bindings.write_to_file(&fresh);

    let committed = crate_dir.join("include/nnkern.h");
    let update = std::env::var("NNK_UPDATE_HEADER").is_ok_and(|v| v == "1");
    if update || !committed.exists() {
        std::fs::create_dir_all(crate_dir.join("include")).expect("create include/");
        std::fs::copy(&fresh, &committed).expect("write include/nnkern.h");
    }
}
