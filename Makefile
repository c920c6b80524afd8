# sslsock: `make` builds target/release/libsslsock.so and include/sslsock.h.
# `make test` runs every test; `make demo` shows the deferred handshake end to end.

PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
CARGO ?= cargo
LIB := target/release/libsslsock.so

.PHONY: tsan all lib test test-rust check-header test-headers test-c demo clean install uninstall lint

all: lib

lib:
	$(CARGO) build --release
	@test -f $(LIB)

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

test: lib check-header test-rust test-headers test-c certmatrix
	$(MAKE) --no-print-directory test-preload PRELOAD_SLOW=0

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

tsan:
	bash tests/tsan.sh

demo: lib
	bash tests/demo.sh

# The certificate matrix (writes/checks docs/certificates.md), protocol sets, session resumption and the
# key exchange against s_server, Python's ssl and examples/pq_server.rs. CERTMATRIX_UPDATE=1 rewrites the doc.
.PHONY: certmatrix
certmatrix: lib
	$(CARGO) build --release --example pq_server
	bash tests/certmatrix/run.sh

install: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)
	install -m 0755 $(LIB) $(DESTDIR)$(LIBDIR)/libsslsock.so
	install -m 0644 include/sslsock.h include/winsock2.h include/winsock.h $(DESTDIR)$(INCLUDEDIR)/
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 tools/sslsock-run $(DESTDIR)$(PREFIX)/bin/sslsock-run

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libsslsock.so $(DESTDIR)$(INCLUDEDIR)/sslsock.h \
	      $(DESTDIR)$(INCLUDEDIR)/winsock2.h $(DESTDIR)$(INCLUDEDIR)/winsock.h $(DESTDIR)$(PREFIX)/bin/sslsock-run

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
# plus bench/results/results.csv and chart.png. About 13 minutes; BENCH_QUICK=1 for a ~2 minute smoke run.
.PHONY: bench
bench: lib
	bash bench/run.sh
