//! Regenerates include/libws.h from the code with cbindgen. The header is checked in; the test
//! command fails when the checked-in copy differs from what this writes. Only `src/ffi/types.rs`
//! and `src/ffi/api.rs` are read, so a `pub const` elsewhere in the crate cannot leak into the
//! header (ffi-tests/packaging/check_header.py checks that it holds only ws_/WS_ names).

use std::path::PathBuf;

fn main() {
    // A versioned soname on Linux so hosts link against libws.so.MAJOR; Android loads
    // jniLibs/<abi>/libws.so by its plain name, so it keeps the default.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libws.so.{}", major);
    }
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_src(dir.join("src/ffi/types.rs"))
        .with_src(dir.join("src/ffi/api.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate include/libws.h");
    let path = dir.join("include/libws.h");
    let mut text = Vec::new();
    bindings.write(&mut text);
    let text = parenthesize_negative_defines(&String::from_utf8(text).unwrap());
    let text = text.into_bytes();
    // Only touch the file when it changes, so builds don't dirty the tree or retrigger.
    if std::fs::read(&path).ok().as_deref() != Some(&text[..]) {
        std::fs::create_dir_all(dir.join("include")).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
}

/// `#define WS_ERR_X -1` becomes `#define WS_ERR_X (-1)`, so `a -WS_ERR_X` stays valid C.
fn parenthesize_negative_defines(header: &str) -> String {
    let mut out = String::with_capacity(header.len() + 256);
    for line in header.lines() {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("#define"), Some(name), Some(value)) if value.starts_with('-') => {
                out.push_str(&format!("#define {} ({})", name, value));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
