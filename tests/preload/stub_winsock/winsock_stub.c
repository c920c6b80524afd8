/*
 * winsock_stub.c - a stand-in Winsock layer that can do nothing (tests/preload/stub.sh).
 *
 * The legacy program tests/preload/stub_winsock/legacy_ce.c is linked against this
 * library only (-lwinsock_stub), as a CE port would be linked against whatever Winsock
 * shim it was built with.  Nothing here knows TLS: WSAIoctl and ioctlsocket refuse every
 * code (WSAEOPNOTSUPP), WSAStartup/WSACleanup succeed with neutral values, closesocket
 * is close(2), the last error is a thread-local int.  The POSIX calls (socket, setsockopt,
 * connect, send, recv) come from libc, so SO_SECURE is refused (ENOPROTOOPT).
 *
 * Run under tools/sslsock-run, libsslsock.so is first in the symbol search order and its
 * WSAIoctl, closesocket, ... (and socket, setsockopt, send, recv, close) are the ones the
 * program gets: the secure behaviour comes from the preload alone.
 *
 *   cc -shared -fPIC -o libwinsock_stub.so winsock_stub.c
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define WSABASEERR 10000
#define WSAEOPNOTSUPP (WSABASEERR + 45)
#define WSAENOTSOCK (WSABASEERR + 38)

typedef struct {
    uint16_t wVersion;
    uint16_t wHighVersion;
    unsigned short iMaxSockets;
    unsigned short iMaxUdpDg;
    char *lpVendorInfo;
    char szDescription[257];
    char szSystemStatus[129];
} STUB_WSADATA;

static __thread int g_last_error;

int WSAStartup(uint16_t wVersionRequested, STUB_WSADATA *data)
{
    if (data) {
        memset(data, 0, sizeof *data);
        data->wVersion = wVersionRequested;
        data->wHighVersion = 0x0202;
        strcpy(data->szDescription, "winsock stub (no secure sockets)");
        strcpy(data->szSystemStatus, "Running");
    }
    return 0;
}

int WSACleanup(void)
{
    return 0;
}

int WSAGetLastError(void)
{
    return g_last_error;
}

void WSASetLastError(int iError)
{
    g_last_error = iError;
}

int WSAIoctl(int s, uint32_t code, void *in, uint32_t cbIn, void *out, uint32_t cbOut, uint32_t *cbReturned,
             void *overlapped, void *completion)
{
    (void)s; (void)code; (void)in; (void)cbIn; (void)out; (void)cbOut; (void)overlapped; (void)completion;
    if (cbReturned)
        *cbReturned = 0;
    g_last_error = WSAEOPNOTSUPP;
    errno = EOPNOTSUPP;
    return -1;
}

int ioctlsocket(int s, long cmd, unsigned long *argp)
{
    (void)s; (void)cmd; (void)argp;
    g_last_error = WSAEOPNOTSUPP;
    errno = EOPNOTSUPP;
    return -1;
}

int closesocket(int s)
{
    if (close(s) == 0)
        return 0;
    g_last_error = errno == EBADF ? WSAENOTSOCK : WSABASEERR + errno;
    return -1;
}
