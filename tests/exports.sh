#!/usr/bin/env bash
# The library exports exactly the C API: every function the headers promise, and nothing else of ours
# beyond the documented set (Rust internals stay hidden in a cdylib).
set -u
lib=${1:-target/release/libsslsock.so}
pass=0 fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort)
expected="WSACleanup WSAGetLastError WSAIoctl WSASetLastError WSAStartup __WSAFDIsSet close closesocket
connect getsockopt ioctlsocket read recv send setsockopt shutdown socket sslsock_last_error_reason
sslsock_select write poll select dup dup2 dup3 fcntl fcntl64 close_range accept accept4 readv writev
sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg sendfile sendfile64 splice __read_chk __recv_chk __recvfrom_chk
__poll_chk sslsock_set_client_certificate sslsock_select_sized sslsock_fd_isset_sized pwritev pwritev64
pwritev2 pwritev64v2 preadv preadv64 preadv2 preadv64v2 __write __read __send __close __connect __dup2 __fcntl
closefrom socketpair pidfd_getfd SslCrackCertificate SslFreeCertificate ppoll __ppoll_chk pselect
WSAEventSelect WSAEnumNetworkEvents WSACreateEvent WSACloseEvent WSASetEvent WSAResetEvent WSAWaitForMultipleEvents
epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2"
# On 32-bit targets (ELF class 1), glibc's time64 names too: what the system headers make of setsockopt,
# getsockopt, sendmsg, recvmsg, sendmmsg, recvmmsg, fcntl, select, pselect, ppoll and epoll_pwait2 under _TIME_BITS=64
# (src/ffi/time64.rs). A 64-bit library must not export them (nothing would call them).
time64="__setsockopt64 __getsockopt64 __sendmsg64 __recvmsg64 __sendmmsg64 __recvmmsg64 __fcntl_time64
__select64 __pselect64 __ppoll64 __epoll_pwait2_time64"
if [ "$(od -An -tu1 -j4 -N1 "$lib" | tr -d ' ')" = 1 ]; then
  expected="$expected $time64"
  echo "# $lib is a 32-bit library: the time64 names are expected"
fi
for f in $expected; do
  if grep -qx "$f" <<<"$exported"; then ok "exports $f"; else not_ok "exports $f"; fi
done
extra=$(comm -23 <(echo "$exported") <(tr ' ' '\n' <<<"$expected" | sed '/^$/d' | sort))
if [ -z "$extra" ]; then ok "no other function is exported"; else not_ok "unexpected exports: $(echo $extra)"; fi
# The header declares every sslsock_* extension and CE function (Ssl*) the library exports.
for f in $(grep -oE '^(sslsock_[a-z_]*|Ssl[A-Za-z]*)$' <<<"$exported"); do
  if grep -q "$f" include/sslsock.h include/winsock2.h; then ok "$f is declared in a header"; else not_ok "$f is not declared in any header"; fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
