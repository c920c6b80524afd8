#!/usr/bin/env bash
# The Rust unit tests that Miri can interpret (docs/testing.md, "Sanitizers and Miri"): the pure-Rust
# parts (src/secure/options.rs parsing, src/error.rs, src/secure/record.rs, src/table.rs,
# src/secure/info.rs, the constant and layout tests of src/secure/ktls.rs), under `cargo +nightly miri
# test` in target/miri. Left out: tests that call C (aws-lc, sockets, malloc_usable_size in
# src/heap.rs). Under Miri the crate leaves out src/ffi (lib.rs): its exports would clash with Miri's
# shims of the same libc names.
#
# Tree Borrows, not the default Stacked Borrows: src/heap.rs frees a large block through the pointer
# it handed out minus OFFSET, outside the range that pointer's Stacked Borrows tag covers (Miri reports
# it on the first free of a >= 4 KiB block; see docs/testing.md). Skips (exit 0 with a note) without a
# nightly toolchain with Miri (`rustup +nightly component add miri rust-src`).
set -u
cd "$(dirname "$0")/.." || exit 2
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "# skip: no Miri (rustup +nightly component add miri rust-src)"; exit 0
fi
TESTS=(secure::options error:: secure::record table:: secure::info ktls::tests::constants
       ktls::tests::struct_layouts)
MIRIFLAGS="${MIRIFLAGS:--Zmiri-tree-borrows}" SSLSOCK_HEADER_OUT=$PWD/target/miri/sslsock.h \
    cargo +nightly miri test --lib --target-dir target/miri -- "${TESTS[@]}"
