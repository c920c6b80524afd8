//! Generates include/sslsock.h from the Rust definitions (cbindgen). The committed copy must match:
//! `make check-header` (part of `make test`) fails when it is stale. Also gives the shared library its
//! versioned soname, libsslsock.so.<major> (docs/packaging.md).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    // Programs linked with -lsslsock record NEEDED libsslsock.so.<major>: an incompatible ABI change
    // bumps the major version (Cargo.toml), and `make install` adds the .so.<major> and .so links.
    let major =
        std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets CARGO_PKG_VERSION_MAJOR");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsslsock.so.{major}");
    println!("cargo:rerun-if-changed=src/abi.rs");
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let out =
        std::env::var("SSLSOCK_HEADER_OUT").unwrap_or_else(|_| format!("{dir}/include/sslsock.h"));
    println!("cargo:rerun-if-env-changed=SSLSOCK_HEADER_OUT");
    let config =
        cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    match cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(out);
        }
        Err(e) => println!("cargo:warning=sslsock.h not regenerated: {e}"),
    }
}
