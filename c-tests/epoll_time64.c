/*
 * epoll_time64.c - c-tests/epoll.c built with _TIME_BITS=64 (and _FILE_OFFSET_BITS=64), as Debian
 * trixie and Ubuntu build for armhf: on a 32-bit target glibc's <sys/epoll.h> turns epoll_pwait2 into
 * __epoll_pwait2_time64, which libsslsock must answer as it answers epoll_pwait2 (src/ffi/time64.rs):
 * every check of epoll.c, its epoll_pwait2 ones among them, runs through that name. On a 64-bit
 * target the macros change nothing: the same checks run on the plain API.
 */
#define _FILE_OFFSET_BITS 64
#define _TIME_BITS 64
#include "epoll.c"
