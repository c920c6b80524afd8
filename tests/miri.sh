#!/usr/bin/env bash
# The Rust unit tests that Miri can interpret (docs/testing.md, "Sanitizers and Miri"): the pure-Rust
# parts (src/secure/options.rs parsing, src/error.rs, src/table.rs, src/secure/info.rs, the buffers of
# src/secure/buffers.rs, the constant and layout tests of src/sys/ktls.rs), under `cargo +nightly miri
# test` in target/miri, with Miri's default (Stacked Borrows) aliasing model. Left out: tests that call C
# (aws-lc, sockets). Under Miri the crate leaves out src/ffi (lib.rs): its exports would clash with
# Miri's shims of the same libc names. Skips (exit 0 with a note) without a nightly toolchain with Miri
# (`rustup +nightly component add miri rust-src`).
set -u
cd "$(dirname "$0")/.." || exit 2
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "# skip: no Miri (rustup +nightly component add miri rust-src)"; exit 0
fi
TESTS=(secure::options error:: table:: secure::info secure::buffers sys::ktls::tests::constants
       sys::ktls::tests::struct_layouts)
MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}" SSLSOCK_HEADER_OUT=$PWD/target/miri/sslsock.h \
    cargo +nightly miri test --lib --target-dir target/miri -- "${TESTS[@]}"
