# sslsock: `make` builds target/release/libsslsock.so and include/sslsock.h.
# `make test` runs every test; `make demo` shows the deferred handshake end to end.

PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
LDCONFIG ?= ldconfig
OBJCOPY ?= objcopy
CARGO ?= cargo
LIB := target/release/libsslsock.so
STATICLIB := target/release/libsslsock.a
# The API headers (with the mixed-case spellings Windows code writes, <WinSock2.h> ...), and the opt-in
# <windows.h> companion set (docs/porting.md), installed under $(INCLUDEDIR)/sslsock/compat.
API_HEADERS := $(sort $(wildcard include/*.h include/*.H))
COMPAT_HEADERS := $(sort $(wildcard include/sslsock/compat/*.h include/sslsock/compat/*.H))
# The crate version (Cargo.toml) names the installed library; its major is the soname's (build.rs).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))

.PHONY: tsan all lib test test-rust check-header test-headers test-c demo clean install install-strip uninstall lint

all: lib

lib:
	$(CARGO) build --release
	@test -f $(LIB)
	@ln -sfn libsslsock.so $(LIB).$(SOMAJOR)   # what programs linked with -lsslsock look for (soname)

# The committed header must be what cbindgen makes from the sources (CI fails when it is stale).
check-header: lib
	@if git rev-parse --git-dir >/dev/null 2>&1 && git ls-files --error-unmatch include/sslsock.h >/dev/null 2>&1; then \
	  git diff --quiet -- include/sslsock.h || { echo "not ok - include/sslsock.h is stale: commit the regenerated header"; git diff --stat -- include/sslsock.h; exit 1; }; \
	fi
	@echo "ok - include/sslsock.h is up to date"

test-rust:
	$(CARGO) test --release --lib

test-headers: lib
	bash tests/header-check.sh
	bash tests/exports.sh

test-c: lib
	bash tests/run-c-tests.sh

# The fourteen CE programs "as written", against the compat <windows.h> set (c-tests/legacy, docs/porting.md).
.PHONY: test-legacy
test-legacy: lib
	bash tests/legacy.sh

# 32-bit and 64-bit ARM (docs/packaging.md "Cross-building for ARM"): target/<triple>/release/libsslsock.so
# built with Debian's cross gcc, then the core C tests and the legacy programs cross-compiled and run
# under qemu-user against the local servers (tests/cross.sh, ~4 min; CROSS_INSTALL=1 installs what is missing).
CROSS_TARGETS ?= armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu
.PHONY: cross
cross:
	bash tests/cross.sh $(CROSS_TARGETS)

# Kernel TLS (SSLSOCK_KTLS=1): a C test set and the log, on the kernel path where the kernel offers the
# `tls` upper layer, on the rustls fallback where it does not (docs/benchmarks.md "Kernel TLS").
.PHONY: test-ktls
test-ktls: lib
	bash tests/ktls.sh

# 10 000 secure sockets at once, memory per idle socket, a 10 000-cycle soak (tests/resources.sh, ~30 s).
.PHONY: test-resources
test-resources: lib
	bash tests/resources.sh

test: lib check-header test-rust test-headers test-c test-legacy test-ktls certmatrix test-examples test-install test-resources fuzz-smoke
	$(MAKE) --no-print-directory test-preload PRELOAD_SLOW=0

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

tsan:
	bash tests/tsan.sh

# Fuzzing (fuzz/, docs/testing.md "Fuzzing"): the cargo-fuzz targets ioctl, sockopt, names, sequence and crack,
# built with nightly and ASan into fuzz/target. fuzz-smoke (part of make test) runs each 20 s from the
# committed seeds; fuzz runs each FUZZ_SECONDS and keeps the grown corpus in fuzz/target/corpus.
# Both skip without a nightly toolchain or cargo-fuzz (cargo install cargo-fuzz --locked).
FUZZ_SECONDS ?= 300
.PHONY: fuzz fuzz-smoke asan valgrind miri
fuzz-smoke:
	bash tests/fuzz.sh 20
fuzz:
	FUZZ_CORPUS=keep bash tests/fuzz.sh $(FUZZ_SECONDS)

# Sanitizers (docs/testing.md "Sanitizers and Miri"): every C program against an ASan build of the library
# (target/asan) compiled with -fsanitize=address,undefined; under valgrind memcheck against target/release;
# the pure-Rust unit tests under Miri (target/miri). Nightly for asan and miri.
asan:
	bash tests/asan.sh
valgrind: lib
	bash tests/valgrind.sh
miri:
	bash tests/miri.sh

demo: lib
	bash tests/demo.sh

# The C examples of examples/ (docs/packaging.md), built against include/ and target/release into
# target/examples-c/; `make test-examples` runs each against local servers (tests/examples.sh).
EXAMPLES_C := deferred_handshake smtp_starttls https_get two_threads nonblocking_poll epoll_many
.PHONY: examples test-examples test-install
examples: lib
	@mkdir -p target/examples-c
	@for e in $(EXAMPLES_C); do \
	  echo "$(CC) ... examples/$$e.c -o target/examples-c/$$e"; \
	  $(CC) -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -I include examples/$$e.c -o target/examples-c/$$e \
	    -L target/release -lsslsock -lpthread -Wl,-rpath,'$$ORIGIN/../release' || exit 1; \
	done

test-examples: examples
	bash tests/examples.sh

# make install / uninstall into a temporary prefix, pkg-config, the soname and links, static linking.
test-install: lib
	bash tests/install.sh

# The certificate matrix (writes/checks docs/certificates.md), protocol sets, session resumption and the
# key exchange against s_server, Python's ssl and examples/pq_server.rs. CERTMATRIX_UPDATE=1 rewrites the doc.
.PHONY: certmatrix
certmatrix: lib
	$(CARGO) build --release --example pq_server
	bash tests/certmatrix/run.sh

# docs/packaging.md: libsslsock.so.$(VERSION) with the links .so.$(SOMAJOR) (the soname) and .so (for -lsslsock),
# libsslsock.a, the headers, sslsock-run, sslsock.pc (from sslsock.pc.in) and the man page sslsock(7).
# `make uninstall` with the same variables removes exactly these files.
install: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
	           $(DESTDIR)$(MANDIR)/man7
	install -m 0755 $(LIB) $(DESTDIR)$(LIBDIR)/libsslsock.so.$(VERSION)
	ln -sfn libsslsock.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsslsock.so.$(SOMAJOR)
	ln -sfn libsslsock.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libsslsock.so
	install -m 0644 $(STATICLIB) $(DESTDIR)$(LIBDIR)/libsslsock.a
	@# rustc's embedded LLVM bitcode (a quarter of the archive) is of no use to a C linker and confuses nm.
	$(OBJCOPY) --remove-section=.llvmbc --remove-section=.llvmcmd $(DESTDIR)$(LIBDIR)/libsslsock.a
	install -m 0644 $(API_HEADERS) $(DESTDIR)$(INCLUDEDIR)/
	install -d $(DESTDIR)$(INCLUDEDIR)/sslsock/compat
	install -m 0644 $(COMPAT_HEADERS) $(DESTDIR)$(INCLUDEDIR)/sslsock/compat/
	install -m 0755 tools/sslsock-run $(DESTDIR)$(BINDIR)/sslsock-run
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' sslsock.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/sslsock.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/sslsock.pc
	install -m 0644 docs/man/sslsock.7 $(DESTDIR)$(MANDIR)/man7/sslsock.7
	@if [ -z "$(DESTDIR)" ]; then $(LDCONFIG) 2>/dev/null || true; fi

# The same without debug information (the libraries shrink to about a fifth).
install-strip: install
	strip --strip-debug $(DESTDIR)$(LIBDIR)/libsslsock.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsslsock.a

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libsslsock.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsslsock.so.$(SOMAJOR) \
	      $(DESTDIR)$(LIBDIR)/libsslsock.so $(DESTDIR)$(LIBDIR)/libsslsock.a \
	      $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(notdir $(API_HEADERS))) \
	      $(DESTDIR)$(BINDIR)/sslsock-run $(DESTDIR)$(PKGCONFIGDIR)/sslsock.pc $(DESTDIR)$(MANDIR)/man7/sslsock.7 \
	      $(addprefix $(DESTDIR)$(INCLUDEDIR)/sslsock/compat/,$(notdir $(COMPAT_HEADERS)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/sslsock/compat $(DESTDIR)$(INCLUDEDIR)/sslsock 2>/dev/null

clean:
	$(CARGO) clean

# Preload mode (tests/preload/): the legacy program on a stand-in Winsock, and openssl, Python's
# http.client/urllib and psql under tools/sslsock-run (fast, ~15 s); then CPython's socket-level test
# modules compared case by case with and without the preload (slow, ~4-5 min; PRELOAD_SLOW=0 skips it).
PRELOAD_SLOW ?= 1
.PHONY: test-preload
test-preload: lib
	@rc=0; \
	bash tests/preload/stub.sh || rc=1; \
	bash tests/preload/tools.sh || rc=1; \
	if [ "$(PRELOAD_SLOW)" != 0 ]; then bash tests/preload/cpython.sh || rc=1; fi; \
	exit $$rc

# What the preload costs plain sockets (1-byte ping-pong, 1 GiB transfer); writes bench/results/preload.csv.
.PHONY: bench-preload
bench-preload: lib
	bash bench/preload.sh

# Interoperability with real servers on loopback (docs/interop.md): OpenSSL s_server, gnutls-serv, nginx,
# Exim (SMTP STARTTLS), Dovecot (IMAP STARTTLS), PostgreSQL (SSLRequest), Redis (tls-port), and a key-log
# capture decrypted by tshark. Installs the servers from Debian packages when missing; needs root.
.PHONY: interop
interop: lib
	bash tests/interop/run.sh

# sslsock against an OpenSSL client, rustls-direct and plain TCP on loopback (docs/benchmarks.md): one table,
# plus bench/results/results.csv and chart.png. About 15 minutes; BENCH_QUICK=1 for a ~2 minute smoke run.
.PHONY: bench
bench: lib
	bash bench/run.sh
