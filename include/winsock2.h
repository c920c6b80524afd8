/*
 * winsock2.h - the Windows CE Winsock interface of sslsock, for Linux.
 *
 * Hand-written (docs/api.md is the contract).  Programs ported from Windows CE
 * include this (or <winsock.h>) and <sslsock.h> and compile unchanged: the
 * Windows base types, the Winsock names and WSAE* codes, the Windows fd_set,
 * and the Winsock-only functions exported by libsslsock.so.  The POSIX-named
 * functions (socket, connect, send, recv, setsockopt, getsockopt, shutdown,
 * close, read, write) keep the prototypes of the system headers included here.
 *
 * Options (define before the first include of this header):
 *   SSLSOCK_POSIX_FD_SET  keep the POSIX fd_set, FD_* macros and select();
 *   FD_SETSIZE            capacity of the Windows fd_set (default 64), as on
 *                         Windows; honoured only when defined before the first
 *                         system header (glibc's <sys/select.h> overwrites it);
 *   SSLSOCK_FD_SETSIZE    the same capacity, honoured wherever it is defined
 *                         (e.g. -DSSLSOCK_FD_SETSIZE=256); FD_SETSIZE follows.
 */
#ifndef SSLSOCK_WINSOCK2_H
#define SSLSOCK_WINSOCK2_H

/* ---- Capacity of the Windows fd_set, saved before glibc redefines FD_SETSIZE. */
#if !defined(SSLSOCK_FD_SETSIZE) && !defined(SSLSOCK_POSIX_FD_SET)
# if defined(FD_SETSIZE) && !defined(_SYS_SELECT_H)
   /* The program's own FD_SETSIZE: keep its definition across the system headers. */
#  define SSLSOCK_FD_SETSIZE_FROM_USER 1
#  pragma push_macro("FD_SETSIZE")
#  undef FD_SETSIZE
# else
#  define SSLSOCK_FD_SETSIZE 64
# endif
#endif

/* ---- The POSIX headers a Winsock program expects to have after this include. */
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>

#ifdef SSLSOCK_FD_SETSIZE_FROM_USER
# undef FD_SETSIZE
# pragma pop_macro("FD_SETSIZE")    /* FD_SETSIZE is the program's again */
# define SSLSOCK_FD_SETSIZE FD_SETSIZE
#elif !defined(SSLSOCK_FD_SETSIZE)
# define SSLSOCK_FD_SETSIZE 64       /* POSIX mode: only sizes sslsock_fd_set */
#endif

/* ---- BSD u_char/u_short/u_int/u_long: glibc gives them only with __USE_MISC
 * (_DEFAULT_SOURCE, the default gnu modes); same definitions otherwise, so
 * u_long is unsigned long (8 bytes on LP64) in every mode. */
#if !defined(__USE_MISC) && !defined(__u_char_defined) && \
    (defined(__GLIBC__) || !(defined(_BSD_SOURCE) || defined(_GNU_SOURCE)))
typedef unsigned char u_char;
typedef unsigned short u_short;
typedef unsigned int u_int;
typedef unsigned long u_long;
# define __u_char_defined
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Calling-convention and pointer-size decorations: empty on Linux. */
#ifndef CALLBACK
# define CALLBACK
#endif
#ifndef WINAPI
# define WINAPI
#endif
#ifndef WSAAPI
# define WSAAPI
#endif
#ifndef PASCAL
# define PASCAL
#endif
#ifndef FAR
# define FAR
#endif
#ifndef NEAR
# define NEAR
#endif

/* ---- Windows base types, with Windows' sizes (DWORD, ULONG, LONG 32-bit on LP64). */
typedef uint8_t BYTE;
typedef uint16_t WORD;
typedef uint32_t DWORD;
typedef uint32_t ULONG;
typedef int32_t LONG;
typedef int BOOL;
typedef unsigned int UINT;
typedef int INT;
typedef char CHAR;
typedef unsigned char UCHAR;
typedef unsigned short USHORT;
typedef uint32_t ALG_ID;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t DWORD_PTR;
typedef void *HANDLE;
typedef void *PVOID;
typedef void *LPVOID;
typedef const void *LPCVOID;
typedef DWORD *LPDWORD;
typedef DWORD *PDWORD;
typedef BYTE *LPBYTE;
typedef BYTE *PBYTE;
typedef WORD *LPWORD;
typedef char *LPSTR;
typedef const char *LPCSTR;
typedef int *LPINT;
typedef BOOL *LPBOOL;

/* BLOB (the hook's pCertChain entries) and FILETIME (SslCrackCertificate's dates), declared and
 * guarded as Windows declares them (nspapi.h/wtypes.h: _tagBLOB_DEFINED; windef.h/minwinbase.h:
 * _FILETIME_), so that any include order with other headers that declare them compiles. */
#ifndef _tagBLOB_DEFINED
# define _tagBLOB_DEFINED
# define _BLOB_DEFINED
# define _LPBLOB_DEFINED
typedef struct _BLOB {
    ULONG cbSize;
    BYTE *pBlobData;
} BLOB, *LPBLOB;
#endif

#ifndef _FILETIME_
# define _FILETIME_
typedef struct _FILETIME {
    DWORD dwLowDateTime;
    DWORD dwHighDateTime;
} FILETIME, *PFILETIME, *LPFILETIME;
#endif

#ifndef FALSE
# define FALSE 0
#endif
#ifndef TRUE
# define TRUE 1
#endif

/* ---- Word and byte packing, as Windows' windef.h. */
#define MAKEWORD(a, b) ((WORD)(((BYTE)(((DWORD_PTR)(a)) & 0xff)) | ((WORD)((BYTE)(((DWORD_PTR)(b)) & 0xff))) << 8))
#define MAKELONG(a, b) ((LONG)(((WORD)(((DWORD_PTR)(a)) & 0xffff)) | ((DWORD)((WORD)(((DWORD_PTR)(b)) & 0xffff))) << 16))
#define LOWORD(l) ((WORD)(((DWORD_PTR)(l)) & 0xffff))
#define HIWORD(l) ((WORD)((((DWORD_PTR)(l)) >> 16) & 0xffff))
#define LOBYTE(w) ((BYTE)(((DWORD_PTR)(w)) & 0xff))
#define HIBYTE(w) ((BYTE)((((DWORD_PTR)(w)) >> 8) & 0xff))

/* ---- Sockets are file descriptors (docs/api.md: SOCKET is int). */
typedef int SOCKET;
#define INVALID_SOCKET ((SOCKET)(~0))
#define SOCKET_ERROR (-1)

/* shutdown() "how" values: the same numbers as SHUT_RD/SHUT_WR/SHUT_RDWR. */
#define SD_RECEIVE 0
#define SD_SEND 1
#define SD_BOTH 2

#ifndef INADDR_NONE
# define INADDR_NONE ((in_addr_t)0xffffffff)
#endif

/* ---- Windows names of the POSIX socket structures. */
typedef struct sockaddr SOCKADDR, *PSOCKADDR, *LPSOCKADDR;
typedef struct sockaddr_in SOCKADDR_IN, *PSOCKADDR_IN, *LPSOCKADDR_IN;
typedef struct sockaddr_storage SOCKADDR_STORAGE, *PSOCKADDR_STORAGE, *LPSOCKADDR_STORAGE;
typedef struct in_addr IN_ADDR, *PIN_ADDR, *LPIN_ADDR;
typedef struct hostent HOSTENT, *PHOSTENT, *LPHOSTENT;
typedef struct servent SERVENT, *PSERVENT, *LPSERVENT;
typedef struct timeval TIMEVAL, *PTIMEVAL, *LPTIMEVAL;
typedef struct linger LINGER, *PLINGER, *LPLINGER;

/* ---- WSAStartup's WSADATA in Windows' two layouts: with 8-byte pointers its _WIN64 layout (408 bytes:
 * wVersion 0, wHighVersion 2, iMaxSockets 4, iMaxUdpDg 6, lpVendorInfo 8, szDescription 16,
 * szSystemStatus 273), with 4-byte pointers (armv7, i386) its 32-bit one, CE's (400 bytes:
 * szDescription 4, szSystemStatus 261, iMaxSockets 390, iMaxUdpDg 392, lpVendorInfo 396).  The Rust
 * side mirrors both. */
#define WSADESCRIPTION_LEN 256
#define WSASYS_STATUS_LEN 128
typedef struct WSAData {
    WORD wVersion;
    WORD wHighVersion;
#if __SIZEOF_POINTER__ == 8
    unsigned short iMaxSockets;
    unsigned short iMaxUdpDg;
    char *lpVendorInfo;
    char szDescription[WSADESCRIPTION_LEN + 1];
    char szSystemStatus[WSASYS_STATUS_LEN + 1];
#else
    char szDescription[WSADESCRIPTION_LEN + 1];
    char szSystemStatus[WSASYS_STATUS_LEN + 1];
    unsigned short iMaxSockets;
    unsigned short iMaxUdpDg;
    char *lpVendorInfo;
#endif
} WSADATA, *LPWSADATA;

/* ---- Overlapped I/O types, for WSAIoctl's signature (a non-NULL overlapped
 * argument fails with WSAEOPNOTSUPP). */
typedef struct _WSAOVERLAPPED {
    ULONG_PTR Internal;
    ULONG_PTR InternalHigh;
    DWORD Offset;
    DWORD OffsetHigh;
    HANDLE hEvent;
} WSAOVERLAPPED, *LPWSAOVERLAPPED;
typedef void (CALLBACK *LPWSAOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwError, DWORD cbTransferred,
                                                            LPWSAOVERLAPPED lpOverlapped, DWORD dwFlags);

/* ---- Winsock error codes (WSAGetLastError), Windows' numbers: 10000 + the BSD errno. */
#define WSABASEERR 10000
#define WSAEINTR (WSABASEERR + 4)
#define WSAEBADF (WSABASEERR + 9)
#define WSAEACCES (WSABASEERR + 13)
#define WSAEFAULT (WSABASEERR + 14)
#define WSAEINVAL (WSABASEERR + 22)
#define WSAEMFILE (WSABASEERR + 24)
#define WSAEWOULDBLOCK (WSABASEERR + 35)
#define WSAEINPROGRESS (WSABASEERR + 36)
#define WSAEALREADY (WSABASEERR + 37)
#define WSAENOTSOCK (WSABASEERR + 38)
#define WSAEDESTADDRREQ (WSABASEERR + 39)
#define WSAEMSGSIZE (WSABASEERR + 40)
#define WSAEPROTOTYPE (WSABASEERR + 41)
#define WSAENOPROTOOPT (WSABASEERR + 42)
#define WSAEPROTONOSUPPORT (WSABASEERR + 43)
#define WSAESOCKTNOSUPPORT (WSABASEERR + 44)
#define WSAEOPNOTSUPP (WSABASEERR + 45)
#define WSAEPFNOSUPPORT (WSABASEERR + 46)
#define WSAEAFNOSUPPORT (WSABASEERR + 47)
#define WSAEADDRINUSE (WSABASEERR + 48)
#define WSAEADDRNOTAVAIL (WSABASEERR + 49)
#define WSAENETDOWN (WSABASEERR + 50)
#define WSAENETUNREACH (WSABASEERR + 51)
#define WSAENETRESET (WSABASEERR + 52)
#define WSAECONNABORTED (WSABASEERR + 53)
#define WSAECONNRESET (WSABASEERR + 54)
#define WSAENOBUFS (WSABASEERR + 55)
#define WSAEISCONN (WSABASEERR + 56)
#define WSAENOTCONN (WSABASEERR + 57)
#define WSAESHUTDOWN (WSABASEERR + 58)
#define WSAETOOMANYREFS (WSABASEERR + 59)
#define WSAETIMEDOUT (WSABASEERR + 60)
#define WSAECONNREFUSED (WSABASEERR + 61)
#define WSAELOOP (WSABASEERR + 62)
#define WSAENAMETOOLONG (WSABASEERR + 63)
#define WSAEHOSTDOWN (WSABASEERR + 64)
#define WSAEHOSTUNREACH (WSABASEERR + 65)
#define WSAENOTEMPTY (WSABASEERR + 66)
#define WSAEPROCLIM (WSABASEERR + 67)
#define WSAEUSERS (WSABASEERR + 68)
#define WSAEDQUOT (WSABASEERR + 69)
#define WSAESTALE (WSABASEERR + 70)
#define WSAEREMOTE (WSABASEERR + 71)
#define WSASYSNOTREADY (WSABASEERR + 91)
#define WSAVERNOTSUPPORTED (WSABASEERR + 92)
#define WSANOTINITIALISED (WSABASEERR + 93)
#define WSAEDISCON (WSABASEERR + 101)
#define WSAENOMORE (WSABASEERR + 102)
#define WSAECANCELLED (WSABASEERR + 103)
#define WSAEINVALIDPROCTABLE (WSABASEERR + 104)
#define WSAEINVALIDPROVIDER (WSABASEERR + 105)
#define WSAEPROVIDERFAILEDINIT (WSABASEERR + 106)
#define WSASYSCALLFAILURE (WSABASEERR + 107)
#define WSASERVICE_NOT_FOUND (WSABASEERR + 108)
#define WSATYPE_NOT_FOUND (WSABASEERR + 109)
#define WSA_E_NO_MORE (WSABASEERR + 110)
#define WSA_E_CANCELLED (WSABASEERR + 111)
#define WSAEREFUSED (WSABASEERR + 112)
/* Name resolution (Windows' h_errno equivalents). */
#define WSAHOST_NOT_FOUND (WSABASEERR + 1001)
#define WSATRY_AGAIN (WSABASEERR + 1002)
#define WSANO_RECOVERY (WSABASEERR + 1003)
#define WSANO_DATA (WSABASEERR + 1004)
#define WSANO_ADDRESS WSANO_DATA
/* Overlapped-I/O status names (Windows' ERROR_* values). */
#define WSA_INVALID_HANDLE 6
#define WSA_NOT_ENOUGH_MEMORY 8
#define WSA_INVALID_PARAMETER 87
#define WSA_OPERATION_ABORTED 995
#define WSA_IO_INCOMPLETE 996
#define WSA_IO_PENDING 997

/* ---- fd_set and select.  sslsock_fd_set is Windows' layout (a count and an
 * array of sockets); the library's select and FD_ISSET functions take it.
 * By default it is what fd_set, FD_* and select mean, as on Windows. */
typedef struct sslsock_fd_set {
    u_int fd_count;
    SOCKET fd_array[SSLSOCK_FD_SETSIZE];
} sslsock_fd_set;

/* The number of entries of a sslsock_fd_set's array as compiled here
 * (SSLSOCK_FD_SETSIZE): select and FD_ISSET pass it to the library, which
 * refuses a set whose fd_count is larger (WSAEINVAL, or FALSE) instead of
 * reading past the array. */
#define SSLSOCK_FD_ARRAY_LEN \
    ((u_int)(sizeof(((sslsock_fd_set *)0)->fd_array) / sizeof(SOCKET)))

/* Winsock select and FD_ISSET over sets whose arrays hold `capacity` entries. */
int sslsock_select_sized(int nfds, sslsock_fd_set *readfds, sslsock_fd_set *writefds,
                         sslsock_fd_set *exceptfds, const struct timeval *timeout,
                         u_int capacity);
int sslsock_fd_isset_sized(SOCKET fd, sslsock_fd_set *set, u_int capacity);
/* The same for 64-entry sets (what earlier versions of this header called;
 * a set whose fd_count is above 64 is refused). */
int sslsock_select(int nfds, sslsock_fd_set *readfds, sslsock_fd_set *writefds,
                   sslsock_fd_set *exceptfds, const struct timeval *timeout);
int __WSAFDIsSet(SOCKET fd, sslsock_fd_set *set);

#ifndef SSLSOCK_POSIX_FD_SET
/* Windows fd_set: `fd_set` and `struct fd_set` both name sslsock_fd_set.
 * libc's own prototypes (select, pselect) were declared before this point. */
typedef sslsock_fd_set FD_SET, *PFD_SET, *LPFD_SET;
# define fd_set sslsock_fd_set

# ifndef SSLSOCK_FD_SETSIZE_FROM_USER
#  undef FD_SETSIZE
#  define FD_SETSIZE SSLSOCK_FD_SETSIZE
# endif

/* Adds fd unless it is already there or the set is full. */
# undef FD_SET
# define FD_SET(fd, set) do {                                                      \
        sslsock_fd_set *sslsock_set_ = (sslsock_fd_set *)(set);                   \
        SOCKET sslsock_fd_ = (SOCKET)(fd);                                         \
        u_int sslsock_i_;                                                          \
        for (sslsock_i_ = 0; sslsock_i_ < sslsock_set_->fd_count; sslsock_i_++)  \
            if (sslsock_set_->fd_array[sslsock_i_] == sslsock_fd_)                 \
                break;                                                             \
        if (sslsock_i_ == sslsock_set_->fd_count &&                                \
            sslsock_i_ < sizeof(sslsock_set_->fd_array) / sizeof(SOCKET)) {        \
            sslsock_set_->fd_array[sslsock_i_] = sslsock_fd_;                      \
            sslsock_set_->fd_count++;                                              \
        }                                                                          \
    } while (0)

/* Removes fd, keeping the order of the others. */
# undef FD_CLR
# define FD_CLR(fd, set) do {                                                      \
        sslsock_fd_set *sslsock_set_ = (sslsock_fd_set *)(set);                   \
        SOCKET sslsock_fd_ = (SOCKET)(fd);                                         \
        u_int sslsock_i_;                                                          \
        for (sslsock_i_ = 0; sslsock_i_ < sslsock_set_->fd_count; sslsock_i_++) { \
            if (sslsock_set_->fd_array[sslsock_i_] == sslsock_fd_) {               \
                for (; sslsock_i_ + 1 < sslsock_set_->fd_count; sslsock_i_++)      \
                    sslsock_set_->fd_array[sslsock_i_] =                           \
                        sslsock_set_->fd_array[sslsock_i_ + 1];                    \
                sslsock_set_->fd_count--;                                          \
                break;                                                             \
            }                                                                      \
        }                                                                          \
    } while (0)

# undef FD_ZERO
# define FD_ZERO(set) ((void)(((sslsock_fd_set *)(set))->fd_count = 0))

# undef FD_ISSET
# define FD_ISSET(fd, set) \
    sslsock_fd_isset_sized((SOCKET)(fd), (sslsock_fd_set *)(set), SSLSOCK_FD_ARRAY_LEN)

/* select: Winsock select with this header's capacity (a function, so that
 * `select` can also be taken as a pointer). */
static __inline__ int sslsock_select_here(int nfds, sslsock_fd_set *readfds,
                                          sslsock_fd_set *writefds, sslsock_fd_set *exceptfds,
                                          const struct timeval *timeout)
{
    return sslsock_select_sized(nfds, readfds, writefds, exceptfds, timeout,
                                SSLSOCK_FD_ARRAY_LEN);
}
# define select sslsock_select_here
#else
/* POSIX mode: libc's fd_set, FD_* and select stay. */
typedef fd_set *PFD_SET, *LPFD_SET;
#endif /* SSLSOCK_POSIX_FD_SET */

/* ---- Winsock-only functions exported by libsslsock.so (docs/api.md).
 * ioctlsocket accepts Linux's FIONBIO/FIONREAD (from <sys/ioctl.h>) and the
 * Winsock values 0x8004667E/0x4004667F; argp is a u_long (unsigned long). */
int closesocket(SOCKET s);
int ioctlsocket(SOCKET s, long cmd, u_long *argp);
int WSAIoctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD cbInBuffer,
             LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
             LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
int WSAStartup(WORD wVersionRequested, LPWSADATA lpWSAData);
int WSACleanup(void);
int WSAGetLastError(void);
void WSASetLastError(int iError);

/* ---- Winsock 2's event model (docs/api.md, "The event model"): WSAEventSelect records a socket's
 * network events and signals an event object; WSAWaitForMultipleEvents waits on event objects.  A
 * WSAEVENT is a HANDLE: the object of the compat <windows.h> (include/sslsock/compat), so that its
 * WaitForSingleObject/WaitForMultipleObjects/SetEvent/CloseHandle take events WSACreateEvent made,
 * and WSAEventSelect/WSAWaitForMultipleEvents take its CreateEvent's; the library owns that layout. */
typedef HANDLE WSAEVENT, *LPWSAEVENT;
#define WSA_INVALID_EVENT ((WSAEVENT)NULL)
#define WSA_MAXIMUM_WAIT_EVENTS 64
#define WSA_WAIT_EVENT_0 ((DWORD)0)
#define WSA_WAIT_IO_COMPLETION ((DWORD)0xC0)
#define WSA_WAIT_TIMEOUT ((DWORD)258)
#define WSA_WAIT_FAILED ((DWORD)0xFFFFFFFF)
#define WSA_INFINITE ((DWORD)0xFFFFFFFF)

/* Network events (lNetworkEvents) and their bit numbers (iErrorCode's indexes), Windows' values. */
#define FD_READ_BIT 0
#define FD_READ (1 << FD_READ_BIT)
#define FD_WRITE_BIT 1
#define FD_WRITE (1 << FD_WRITE_BIT)
#define FD_OOB_BIT 2
#define FD_OOB (1 << FD_OOB_BIT)
#define FD_ACCEPT_BIT 3
#define FD_ACCEPT (1 << FD_ACCEPT_BIT)
#define FD_CONNECT_BIT 4
#define FD_CONNECT (1 << FD_CONNECT_BIT)
#define FD_CLOSE_BIT 5
#define FD_CLOSE (1 << FD_CLOSE_BIT)
#define FD_QOS_BIT 6
#define FD_QOS (1 << FD_QOS_BIT)
#define FD_GROUP_QOS_BIT 7
#define FD_GROUP_QOS (1 << FD_GROUP_QOS_BIT)
#define FD_ROUTING_INTERFACE_CHANGE_BIT 8
#define FD_ROUTING_INTERFACE_CHANGE (1 << FD_ROUTING_INTERFACE_CHANGE_BIT)
#define FD_ADDRESS_LIST_CHANGE_BIT 9
#define FD_ADDRESS_LIST_CHANGE (1 << FD_ADDRESS_LIST_CHANGE_BIT)
#define FD_MAX_EVENTS 10
#define FD_ALL_EVENTS ((1 << FD_MAX_EVENTS) - 1)

typedef struct _WSANETWORKEVENTS {
    long lNetworkEvents;
    int iErrorCode[FD_MAX_EVENTS];
} WSANETWORKEVENTS, *LPWSANETWORKEVENTS;

WSAEVENT WSACreateEvent(void);
BOOL WSACloseEvent(WSAEVENT hEvent);
BOOL WSASetEvent(WSAEVENT hEvent);
BOOL WSAResetEvent(WSAEVENT hEvent);
int WSAEventSelect(SOCKET s, WSAEVENT hEventObject, long lNetworkEvents);
int WSAEnumNetworkEvents(SOCKET s, WSAEVENT hEventObject, LPWSANETWORKEVENTS lpNetworkEvents);
DWORD WSAWaitForMultipleEvents(DWORD cEvents, const WSAEVENT *lphEvents, BOOL fWaitAll,
                               DWORD dwTimeout, BOOL fAlertable);

#ifdef __cplusplus
}
#endif

#endif /* SSLSOCK_WINSOCK2_H */
