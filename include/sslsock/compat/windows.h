/*
 * windows.h - a minimal, opt-in <windows.h> for programs ported from Windows CE to sslsock.
 *
 * Not part of the sslsock API proper: use it by adding -I include/sslsock/compat (after -I include)
 * to a legacy program's build, so that its `#include <windows.h>` (and <tchar.h>, <windef.h>,
 * <winbase.h>, <winnt.h>, <winnls.h>, <winerror.h>, <wincrypt.h>, <schnlsp.h>, <ws2tcpip.h>) resolve
 * here.  docs/porting.md is the guide.  Everything is a macro or a static inline function over libc
 * and pthreads: no library export is added.
 *
 * What it gives, on top of <winsock2.h> (which it includes first, as Windows' windows.h includes
 * winsock.h; the Windows base types BYTE, WORD, DWORD, BOOL, HANDLE, LPSTR, ... live there):
 *   - more types: WCHAR (wchar_t: 4 bytes here, 2 on Windows), LPWSTR, TCHAR and LPTSTR/LPCTSTR
 *     in their ANSI form (char), SHORT, BOOLEAN, LONG_PTR, SIZE_T, FILETIME, SYSTEMTIME, HRESULT, ...
 *   - TEXT(), ZeroMemory, CopyMemory, MoveMemory, FillMemory, Sleep, GetTickCount,
 *     lstrcpy/lstrcpyn/lstrcat/lstrlen/lstrcmp/lstrcmpi (A and W), wsprintf(A), min/max,
 *     GetLastError/SetLastError (the same per-thread value as WSAGetLastError/WSASetLastError,
 *     as on Windows), CRITICAL_SECTION over a recursive pthread mutex, Interlocked*,
 *     MultiByteToWideChar/WideCharToMultiByte (CP_ACP and CP_UTF8, both UTF-8),
 *     GetSystemTime/GetLocalTime/GetSystemTimeAsFileTime/SystemTimeToFileTime/
 *     FileTimeToSystemTime/CompareFileTime, OutputDebugString, and CE's RETAILMSG/DEBUGMSG.
 *   - threads, events and waits (CreateThread, CreateEvent, WaitForSingleObject,
 *     WaitForMultipleObjects, ...), header-only over pthreads; their objects are also Winsock's
 *     WSAEVENTs (WSACreateEvent, WSAEventSelect, WSAWaitForMultipleEvents of libsslsock).
 *   - not given, on purpose: WSAAsyncSelect and window messages, SslCrackCertificate: a port
 *     replaces those (docs/porting.md shows how; WSAEventSelect is the one-line change).
 *
 * Where Windows and POSIX clash (see docs/porting.md, "Windows vs POSIX"):
 *   SSLSOCK_POSIX_FD_SET  define before the first include to keep the POSIX fd_set and select()
 *                         (default: the Windows fd_set, select = sslsock_select_sized; see winsock2.h)
 *   NOMINMAX              as on Windows: no min()/max().  In C they are macros; in C++11 and later
 *                         function templates (macros would break <algorithm> and std::numeric_limits).
 *   UNICODE / _UNICODE    refused (#error): TCHAR is char on Linux; build without them.
 *   SOCKET                is an int here (unsigned on Windows): `s == INVALID_SOCKET` works, but
 *                         comparing with a DWORD warns under -Wsign-compare.
 *   in_addr.S_un          does not exist on Linux: use sin_addr.s_addr.
 *   errno names           EWOULDBLOCK etc. are Linux's errno values (11, ...): compare
 *                         WSAGetLastError() with WSAEWOULDBLOCK etc.  Windows code that did
 *                         `#define EWOULDBLOCK WSAEWOULDBLOCK` must drop that (errno.h owns the name).
 *   u_long                is 8 bytes (ioctlsocket takes a u_long *, not a DWORD *).
 *
 * Feature macros: the functions above need POSIX 2008 (nanosleep, clock_gettime, recursive
 * mutexes).  When this header comes before any system header it defines _DEFAULT_SOURCE itself;
 * otherwise build with -D_DEFAULT_SOURCE (or a gnu mode, or C++), or an #error says so.
 */
#ifndef SSLSOCK_COMPAT_WINDOWS_H
#define SSLSOCK_COMPAT_WINDOWS_H

#if defined(UNICODE) || defined(_UNICODE)
# error "sslsock compat headers: TCHAR is char on Linux; build without -DUNICODE / -D_UNICODE (docs/porting.md)"
#endif

/* POSIX 2008 from glibc, unless the program chose its feature macros itself. */
#if !defined(_FEATURES_H) && !defined(_DEFAULT_SOURCE) && !defined(_GNU_SOURCE) && \
    !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE) && !defined(_BSD_SOURCE)
# define _DEFAULT_SOURCE 1
#endif

/* First, so that a program's own FD_SETSIZE survives the system headers (see winsock2.h). */
#include "../../winsock2.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#if defined(__GLIBC__) && !defined(__USE_XOPEN2K8) && !defined(__USE_UNIX98)
# error "sslsock compat <windows.h> needs POSIX 2008: include it before any system header, or build with -D_DEFAULT_SOURCE (or -std=gnu99 / gnu11)"
#endif

/* ---- Annotations and decorations, empty as on Windows. */
#ifndef IN
# define IN
#endif
#ifndef OUT
# define OUT
#endif
#ifndef OPTIONAL
# define OPTIONAL
#endif
#ifndef CONST
# define CONST const
#endif
#ifndef VOID
# define VOID void
#endif
#ifndef APIENTRY
# define APIENTRY
#endif
#ifndef WINAPIV
# define WINAPIV
#endif
#ifndef WINBASEAPI
# define WINBASEAPI
#endif

/* ---- Types <winsock2.h> does not already give (sizes as on Windows, pointers LP64). */
typedef short SHORT;
typedef unsigned char BOOLEAN;
typedef BOOLEAN *PBOOLEAN;
typedef char *PCHAR;
typedef char *PSTR;
typedef const char *PCSTR;
typedef unsigned char *PUCHAR;
typedef unsigned short *PUSHORT;
typedef LONG *PLONG, *LPLONG;
typedef ULONG *PULONG;
typedef WORD *PWORD;
typedef UINT *PUINT;
typedef int64_t LONGLONG;
typedef uint64_t ULONGLONG, DWORD64;
typedef uint64_t *PULONGLONG;
typedef intptr_t INT_PTR, LONG_PTR;
typedef uintptr_t UINT_PTR;
typedef size_t SIZE_T;
typedef void *HMODULE, *HINSTANCE, *HWND, *HKEY, *HLOCAL;
typedef UINT_PTR WPARAM;
typedef LONG_PTR LPARAM, LRESULT;
typedef LONG HRESULT;

/* Wide characters: wchar_t, so that L"..." literals and <wchar.h> work.  It is 4 bytes on
 * Linux (2 on Windows): code that writes WCHARs to a file or the network must convert. */
typedef wchar_t WCHAR;
typedef WCHAR *PWCHAR, *LPWCH, *PWCH;
typedef WCHAR *LPWSTR, *PWSTR;
typedef const WCHAR *LPCWSTR, *PCWSTR;

/* TCHAR in its ANSI form (UNICODE is refused above). */
typedef char TCHAR, *PTCHAR;
typedef char *LPTSTR, *PTSTR;
typedef const char *LPCTSTR, *PCTSTR;
#ifndef TEXT
# define TEXT(quote) quote
#endif
#ifndef __TEXT
# define __TEXT(quote) quote
#endif

/* ---- Constants. */
#ifndef MAX_PATH
# define MAX_PATH 260
#endif
#define INFINITE 0xFFFFFFFFu
#define WAIT_OBJECT_0 0u
#define WAIT_ABANDONED 0x80u
#define WAIT_TIMEOUT 258u
#define WAIT_FAILED 0xFFFFFFFFu
#define INVALID_HANDLE_VALUE ((HANDLE)(LONG_PTR)-1)

/* winerror.h: the codes GetLastError may give besides the WSAE* ones. */
#define NO_ERROR 0L
#define ERROR_SUCCESS 0L
#define ERROR_INVALID_FUNCTION 1L
#define ERROR_FILE_NOT_FOUND 2L
#define ERROR_ACCESS_DENIED 5L
#define ERROR_INVALID_HANDLE 6L
#define ERROR_NOT_ENOUGH_MEMORY 8L
#define ERROR_OUTOFMEMORY 14L
#define ERROR_INVALID_PARAMETER 87L
#define ERROR_INSUFFICIENT_BUFFER 122L
#define ERROR_MORE_DATA 234L
#define ERROR_NO_UNICODE_TRANSLATION 1113L
#define ERROR_TIMEOUT 1460L
#define S_OK ((HRESULT)0)
#define S_FALSE ((HRESULT)1)
#define E_FAIL ((HRESULT)0x80004005u)
#define E_OUTOFMEMORY ((HRESULT)0x8007000Eu)
#define E_INVALIDARG ((HRESULT)0x80070057u)
#define SUCCEEDED(hr) (((HRESULT)(hr)) >= 0)
#define FAILED(hr) (((HRESULT)(hr)) < 0)

/* ---- Small macros. */
#ifndef UNREFERENCED_PARAMETER
# define UNREFERENCED_PARAMETER(P) ((void)(P))
#endif
#ifndef ARRAYSIZE
# define ARRAYSIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
#ifndef _countof
# define _countof(a) (sizeof(a) / sizeof((a)[0]))
#endif
/* min/max as windef.h: macros in C. In C++ (C++11 and later) they are function templates in the global
 * namespace instead, so that CE code's unqualified min(a, b) compiles while <algorithm> and
 * std::numeric_limits<T>::min() stay intact (a function-like macro would break them); std::min is
 * untouched, and with `using namespace std` it is the one chosen for two arguments of one type. */
#if !defined(NOMINMAX)
# if !defined(__cplusplus)
#  ifndef max
#   define max(a, b) (((a) > (b)) ? (a) : (b))
#  endif
#  ifndef min
#   define min(a, b) (((a) < (b)) ? (a) : (b))
#  endif
# elif __cplusplus >= 201103L && !defined(min) && !defined(max)
#  include <type_traits>
/* By value: the result is a value of the arguments' common type, never a reference to a parameter. */
template <class SslsockA, class SslsockB>
inline typename std::common_type<SslsockA, SslsockB>::type min(SslsockA a, SslsockB b)
{
    return b < a ? b : a;
}
template <class SslsockA, class SslsockB>
inline typename std::common_type<SslsockA, SslsockB>::type max(SslsockA a, SslsockB b)
{
    return a < b ? b : a;
}
# endif
#endif

/* ---- Memory (macros, as on Windows). */
#define ZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define FillMemory(Destination, Length, Fill) memset((Destination), (Fill), (Length))
#define CopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#define MoveMemory(Destination, Source, Length) memmove((Destination), (Source), (Length))
#define RtlZeroMemory ZeroMemory
#define RtlCopyMemory CopyMemory
#define RtlMoveMemory MoveMemory
#define RtlFillMemory FillMemory

/* Not optimised away (for keys and passwords). */
static inline PVOID SecureZeroMemory(PVOID ptr, SIZE_T cnt)
{
    volatile unsigned char *p = (volatile unsigned char *)ptr;
    while (cnt--)
        *p++ = 0;
    return ptr;
}

/* ---- Last error: one per-thread value with WSAGetLastError, as on Windows.  Only sslsock's calls
 * and the functions of this header set it; libc's set errno only. */
static inline DWORD GetLastError(void)
{
    return (DWORD)WSAGetLastError();
}

static inline void SetLastError(DWORD dwErrCode)
{
    WSASetLastError((int)dwErrCode);
}

/* ---- Time. */
/* Milliseconds since an arbitrary start (CLOCK_MONOTONIC), wrapping after 49.7 days like Windows'. */
static inline DWORD GetTickCount(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (DWORD)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static inline ULONGLONG GetTickCount64(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ULONGLONG)ts.tv_sec * 1000u + (ULONGLONG)ts.tv_nsec / 1000000u;
}

/* Sleep(0) yields; Sleep(INFINITE) never returns; signals do not cut a sleep short. */
static inline void Sleep(DWORD dwMilliseconds)
{
    struct timespec ts, rem;
    int saved = errno;
    if (dwMilliseconds == 0) {
        sched_yield();
        return;
    }
    if (dwMilliseconds == INFINITE) {
        for (;;)
            pause();
    }
    ts.tv_sec = (time_t)(dwMilliseconds / 1000u);
    ts.tv_nsec = (long)(dwMilliseconds % 1000u) * 1000000L;
    while (nanosleep(&ts, &rem) == -1 && errno == EINTR)
        ts = rem;
    errno = saved;
}

/* FILETIME (100 ns units since 1601-01-01 UTC) comes from <winsock2.h>, guarded by _FILETIME_ as
 * Windows guards it.  SYSTEMTIME: broken-down time, guarded as Windows guards it. */
#ifndef _SYSTEMTIME_
#define _SYSTEMTIME_
typedef struct _SYSTEMTIME {
    WORD wYear;
    WORD wMonth;
    WORD wDayOfWeek;
    WORD wDay;
    WORD wHour;
    WORD wMinute;
    WORD wSecond;
    WORD wMilliseconds;
} SYSTEMTIME, *PSYSTEMTIME, *LPSYSTEMTIME;
#endif

/* Seconds from 1601-01-01 to 1970-01-01. */
#define SSLSOCK_COMPAT_EPOCH_DIFF ((LONGLONG)116444736 * 100)

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (no tables, no time zone). */
static inline LONGLONG sslsock_compat_days_from_civil(LONGLONG y, unsigned m, unsigned d)
{
    LONGLONG era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (LONGLONG)doe - 719468;
}

static inline void sslsock_compat_civil_from_days(LONGLONG z, LONGLONG *y, unsigned *m, unsigned *d)
{
    LONGLONG era;
    unsigned doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (LONGLONG)yoe + era * 400 + (*m <= 2);
}

/* FALSE (ERROR_INVALID_PARAMETER) for a field out of range, as Windows. */
static inline BOOL SystemTimeToFileTime(const SYSTEMTIME *lpSystemTime, LPFILETIME lpFileTime)
{
    static const unsigned char mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const SYSTEMTIME *st = lpSystemTime;
    LONGLONG secs;
    ULONGLONG ft;
    if (!st || !lpFileTime || st->wYear < 1601 || st->wYear > 30827 || st->wMonth < 1 || st->wMonth > 12 ||
        st->wDay < 1 || st->wDay > mdays[st->wMonth - 1] || st->wHour > 23 || st->wMinute > 59 ||
        st->wSecond > 59 || st->wMilliseconds > 999 ||
        (st->wMonth == 2 && st->wDay == 29 &&
         !((st->wYear % 4 == 0 && st->wYear % 100 != 0) || st->wYear % 400 == 0))) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return FALSE;
    }
    secs = sslsock_compat_days_from_civil(st->wYear, st->wMonth, st->wDay) * 86400 + st->wHour * 3600 +
           st->wMinute * 60 + st->wSecond + SSLSOCK_COMPAT_EPOCH_DIFF;
    ft = (ULONGLONG)secs * 10000000u + (ULONGLONG)st->wMilliseconds * 10000u;
    lpFileTime->dwLowDateTime = (DWORD)ft;
    lpFileTime->dwHighDateTime = (DWORD)(ft >> 32);
    return TRUE;
}

static inline BOOL FileTimeToSystemTime(const FILETIME *lpFileTime, LPSYSTEMTIME lpSystemTime)
{
    ULONGLONG ft;
    LONGLONG secs, days, y;
    unsigned m, d, sod;
    if (!lpFileTime || !lpSystemTime ||
        (lpFileTime->dwHighDateTime & 0x80000000u)) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return FALSE;
    }
    ft = ((ULONGLONG)lpFileTime->dwHighDateTime << 32) | lpFileTime->dwLowDateTime;
    secs = (LONGLONG)(ft / 10000000u) - SSLSOCK_COMPAT_EPOCH_DIFF;
    days = (secs >= 0 ? secs : secs - 86399) / 86400;
    sod = (unsigned)(secs - days * 86400);
    sslsock_compat_civil_from_days(days, &y, &m, &d);
    lpSystemTime->wYear = (WORD)y;
    lpSystemTime->wMonth = (WORD)m;
    lpSystemTime->wDay = (WORD)d;
    lpSystemTime->wDayOfWeek = (WORD)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    lpSystemTime->wHour = (WORD)(sod / 3600);
    lpSystemTime->wMinute = (WORD)(sod / 60 % 60);
    lpSystemTime->wSecond = (WORD)(sod % 60);
    lpSystemTime->wMilliseconds = (WORD)(ft / 10000u % 1000u);
    return TRUE;
}

static inline void GetSystemTimeAsFileTime(LPFILETIME lpSystemTimeAsFileTime)
{
    struct timespec ts;
    ULONGLONG ft;
    clock_gettime(CLOCK_REALTIME, &ts);
    ft = (ULONGLONG)((LONGLONG)ts.tv_sec + SSLSOCK_COMPAT_EPOCH_DIFF) * 10000000u + (ULONGLONG)ts.tv_nsec / 100u;
    lpSystemTimeAsFileTime->dwLowDateTime = (DWORD)ft;
    lpSystemTimeAsFileTime->dwHighDateTime = (DWORD)(ft >> 32);
}

/* UTC. */
static inline void GetSystemTime(LPSYSTEMTIME lpSystemTime)
{
    FILETIME ft;
    GetSystemTimeAsFileTime(&ft);
    FileTimeToSystemTime(&ft, lpSystemTime);
}

/* The local time of the process's time zone (TZ). */
static inline void GetLocalTime(LPSYSTEMTIME lpSystemTime)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    lpSystemTime->wYear = (WORD)(tm.tm_year + 1900);
    lpSystemTime->wMonth = (WORD)(tm.tm_mon + 1);
    lpSystemTime->wDayOfWeek = (WORD)tm.tm_wday;
    lpSystemTime->wDay = (WORD)tm.tm_mday;
    lpSystemTime->wHour = (WORD)tm.tm_hour;
    lpSystemTime->wMinute = (WORD)tm.tm_min;
    lpSystemTime->wSecond = (WORD)(tm.tm_sec > 59 ? 59 : tm.tm_sec);
    lpSystemTime->wMilliseconds = (WORD)(ts.tv_nsec / 1000000);
}

/* -1, 0 or 1. */
static inline LONG CompareFileTime(const FILETIME *lpFileTime1, const FILETIME *lpFileTime2)
{
    ULONGLONG a = ((ULONGLONG)lpFileTime1->dwHighDateTime << 32) | lpFileTime1->dwLowDateTime;
    ULONGLONG b = ((ULONGLONG)lpFileTime2->dwHighDateTime << 32) | lpFileTime2->dwLowDateTime;
    return a < b ? -1 : a > b ? 1 : 0;
}

/* ---- CRITICAL_SECTION: a recursive pthread mutex (Windows critical sections are re-entrant). */
typedef struct sslsock_critical_section {
    pthread_mutex_t mutex;
} CRITICAL_SECTION, *PCRITICAL_SECTION, *LPCRITICAL_SECTION;

static inline void InitializeCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&lpCriticalSection->mutex, &attr);
    pthread_mutexattr_destroy(&attr);
}

static inline BOOL InitializeCriticalSectionAndSpinCount(LPCRITICAL_SECTION lpCriticalSection,
                                                         DWORD dwSpinCount)
{
    (void)dwSpinCount;
    InitializeCriticalSection(lpCriticalSection);
    return TRUE;
}

static inline void EnterCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
{
    pthread_mutex_lock(&lpCriticalSection->mutex);
}

static inline BOOL TryEnterCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
{
    return pthread_mutex_trylock(&lpCriticalSection->mutex) == 0;
}

static inline void LeaveCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
{
    pthread_mutex_unlock(&lpCriticalSection->mutex);
}

static inline void DeleteCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
{
    pthread_mutex_destroy(&lpCriticalSection->mutex);
}

/* ---- Interlocked operations (sequentially consistent, as on Windows). */
static inline LONG InterlockedIncrement(LONG volatile *Addend)
{
    return __atomic_add_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}

static inline LONG InterlockedDecrement(LONG volatile *Addend)
{
    return __atomic_sub_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}

static inline LONG InterlockedExchange(LONG volatile *Target, LONG Value)
{
    return __atomic_exchange_n(Target, Value, __ATOMIC_SEQ_CST);
}

static inline LONG InterlockedExchangeAdd(LONG volatile *Addend, LONG Value)
{
    return __atomic_fetch_add(Addend, Value, __ATOMIC_SEQ_CST);
}

static inline LONG InterlockedCompareExchange(LONG volatile *Destination, LONG Exchange, LONG Comparand)
{
    __atomic_compare_exchange_n(Destination, &Comparand, Exchange, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return Comparand; /* the initial value, whether or not it was replaced */
}

/* ---- lstr* (ANSI and wide).  NULL counts as "" where Windows tolerates it. */
static inline int lstrlenA(LPCSTR lpString)
{
    return lpString ? (int)strlen(lpString) : 0;
}

static inline LPSTR lstrcpyA(LPSTR lpString1, LPCSTR lpString2)
{
    return strcpy(lpString1, lpString2);
}

/* Copies at most iMaxLength - 1 characters and always terminates (unlike strncpy). */
static inline LPSTR lstrcpynA(LPSTR lpString1, LPCSTR lpString2, int iMaxLength)
{
    int i;
    if (iMaxLength <= 0)
        return lpString1;
    for (i = 0; i < iMaxLength - 1 && lpString2[i]; i++)
        lpString1[i] = lpString2[i];
    lpString1[i] = 0;
    return lpString1;
}

static inline LPSTR lstrcatA(LPSTR lpString1, LPCSTR lpString2)
{
    return strcat(lpString1, lpString2);
}

static inline int lstrcmpA(LPCSTR lpString1, LPCSTR lpString2)
{
    return strcmp(lpString1 ? lpString1 : "", lpString2 ? lpString2 : "");
}

/* Case-insensitive in the ASCII range (Windows compares by the user locale's word sort). */
static inline int lstrcmpiA(LPCSTR lpString1, LPCSTR lpString2)
{
    const unsigned char *a = (const unsigned char *)(lpString1 ? lpString1 : "");
    const unsigned char *b = (const unsigned char *)(lpString2 ? lpString2 : "");
    int ca, cb;
    do {
        ca = tolower(*a++);
        cb = tolower(*b++);
    } while (ca == cb && ca != 0);
    return ca - cb;
}

static inline int lstrlenW(LPCWSTR lpString)
{
    return lpString ? (int)wcslen(lpString) : 0;
}

static inline LPWSTR lstrcpyW(LPWSTR lpString1, LPCWSTR lpString2)
{
    return wcscpy(lpString1, lpString2);
}

static inline LPWSTR lstrcpynW(LPWSTR lpString1, LPCWSTR lpString2, int iMaxLength)
{
    int i;
    if (iMaxLength <= 0)
        return lpString1;
    for (i = 0; i < iMaxLength - 1 && lpString2[i]; i++)
        lpString1[i] = lpString2[i];
    lpString1[i] = 0;
    return lpString1;
}

static inline LPWSTR lstrcatW(LPWSTR lpString1, LPCWSTR lpString2)
{
    return wcscat(lpString1, lpString2);
}

static inline int lstrcmpW(LPCWSTR lpString1, LPCWSTR lpString2)
{
    return wcscmp(lpString1 ? lpString1 : L"", lpString2 ? lpString2 : L"");
}

static inline int lstrcmpiW(LPCWSTR lpString1, LPCWSTR lpString2)
{
    const WCHAR *a = lpString1 ? lpString1 : L"";
    const WCHAR *b = lpString2 ? lpString2 : L"";
    wint_t ca, cb;
    do {
        ca = towlower((wint_t)*a++);
        cb = towlower((wint_t)*b++);
    } while (ca == cb && ca != 0);
    return ca < cb ? -1 : ca > cb ? 1 : 0;
}

#define lstrlen lstrlenA
#define lstrcpy lstrcpyA
#define lstrcpyn lstrcpynA
#define lstrcat lstrcatA
#define lstrcmp lstrcmpA
#define lstrcmpi lstrcmpiA

/* wsprintf: sprintf (ANSI only; Windows' wsprintf stops at 1024 characters and has no %f). */
#define wsprintfA sprintf
#define wsprintf wsprintfA
#define wvsprintfA vsprintf
#define wvsprintf wvsprintfA

/* ---- CRT names Windows code uses (from its <string.h>/<stdio.h>).  _snprintf here always
 * terminates and returns the full length; Windows' returns -1 on truncation, unterminated. */
static inline int sslsock_compat_stricmp(const char *a, const char *b)
{
    return lstrcmpiA(a, b);
}

static inline int sslsock_compat_strnicmp(const char *a, const char *b, size_t n)
{
    int ca = 0, cb = 0;
    while (n-- > 0) {
        ca = tolower((unsigned char)*a++);
        cb = tolower((unsigned char)*b++);
        if (ca != cb || ca == 0)
            break;
    }
    return ca - cb;
}

#ifndef _stricmp
# define _stricmp sslsock_compat_stricmp
#endif
#ifndef stricmp
# define stricmp sslsock_compat_stricmp
#endif
#ifndef _strnicmp
# define _strnicmp sslsock_compat_strnicmp
#endif
#ifndef strnicmp
# define strnicmp sslsock_compat_strnicmp
#endif
#ifndef _snprintf
# define _snprintf snprintf
#endif
#ifndef _vsnprintf
# define _vsnprintf vsnprintf
#endif
#ifndef _strdup
# define _strdup strdup
#endif

/* ---- MultiByteToWideChar / WideCharToMultiByte.  CP_ACP, CP_OEMCP and CP_UTF8 all mean UTF-8
 * (ASCII is the same in each); other code pages fail with ERROR_INVALID_PARAMETER.  Invalid input
 * becomes U+FFFD ('?' going to bytes), or fails with ERROR_NO_UNICODE_TRANSLATION under
 * MB_ERR_INVALID_CHARS.  A count of -1 means "up to and including the NUL". */
#define CP_ACP 0u
#define CP_OEMCP 1u
#define CP_UTF8 65001u
#define MB_PRECOMPOSED 0x1u
#define MB_ERR_INVALID_CHARS 0x8u
#define WC_NO_BEST_FIT_CHARS 0x400u
#define WC_ERR_INVALID_CHARS 0x80u

/* One UTF-8 sequence from s[0..n): the code point, or -1 when invalid; *used = bytes taken. */
static inline long sslsock_compat_utf8_decode(const unsigned char *s, int n, int *used)
{
    long cp;
    int len, i;
    if (s[0] < 0x80) {
        *used = 1;
        return s[0];
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        *used = 1;
        return -1;
    }
    for (i = 1; i < len; i++) {
        if (i >= n || (s[i] & 0xC0) != 0x80) {
            *used = i;
            return -1;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *used = len;
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    return cp;
}

static inline int MultiByteToWideChar(UINT CodePage, DWORD dwFlags, LPCSTR lpMultiByteStr, int cbMultiByte,
                                      LPWSTR lpWideCharStr, int cchWideChar)
{
    const unsigned char *s = (const unsigned char *)lpMultiByteStr;
    int n, i = 0, out = 0;
    if ((CodePage != CP_ACP && CodePage != CP_OEMCP && CodePage != CP_UTF8) || !lpMultiByteStr ||
        cbMultiByte == 0 || cbMultiByte < -1 || cchWideChar < 0 || (cchWideChar > 0 && !lpWideCharStr)) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return 0;
    }
    n = cbMultiByte == -1 ? (int)strlen(lpMultiByteStr) + 1 : cbMultiByte;
    while (i < n) {
        int used;
        long cp = sslsock_compat_utf8_decode(s + i, n - i, &used);
        if (cp < 0) {
            if (dwFlags & MB_ERR_INVALID_CHARS) {
                SetLastError(ERROR_NO_UNICODE_TRANSLATION);
                return 0;
            }
            cp = 0xFFFD;
        }
        i += used;
        if (cchWideChar > 0) {
            if (out >= cchWideChar) {
                SetLastError(ERROR_INSUFFICIENT_BUFFER);
                return 0;
            }
            lpWideCharStr[out] = (WCHAR)cp;
        }
        out++;
    }
    return out;
}

static inline int WideCharToMultiByte(UINT CodePage, DWORD dwFlags, LPCWSTR lpWideCharStr, int cchWideChar,
                                      LPSTR lpMultiByteStr, int cbMultiByte, LPCSTR lpDefaultChar,
                                      LPBOOL lpUsedDefaultChar)
{
    int n, i, out = 0;
    (void)lpDefaultChar;
    if (lpUsedDefaultChar)
        *lpUsedDefaultChar = FALSE;
    if ((CodePage != CP_ACP && CodePage != CP_OEMCP && CodePage != CP_UTF8) || !lpWideCharStr ||
        cchWideChar == 0 || cchWideChar < -1 || cbMultiByte < 0 || (cbMultiByte > 0 && !lpMultiByteStr)) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return 0;
    }
    n = cchWideChar == -1 ? (int)wcslen(lpWideCharStr) + 1 : cchWideChar;
    for (i = 0; i < n; i++) {
        unsigned long cp = (unsigned long)lpWideCharStr[i];
        unsigned char buf[4];
        int len, k;
        /* A UTF-16 surrogate pair (text that came from Windows as 16-bit units). */
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n && (unsigned long)lpWideCharStr[i + 1] >= 0xDC00 &&
            (unsigned long)lpWideCharStr[i + 1] <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)lpWideCharStr[i + 1] - 0xDC00);
            i++;
        } else if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
            if (dwFlags & WC_ERR_INVALID_CHARS) {
                SetLastError(ERROR_NO_UNICODE_TRANSLATION);
                return 0;
            }
            if (lpUsedDefaultChar)
                *lpUsedDefaultChar = TRUE;
            cp = '?';
        }
        if (cp < 0x80) {
            buf[0] = (unsigned char)cp;
            len = 1;
        } else if (cp < 0x800) {
            buf[0] = (unsigned char)(0xC0 | (cp >> 6));
            buf[1] = (unsigned char)(0x80 | (cp & 0x3F));
            len = 2;
        } else if (cp < 0x10000) {
            buf[0] = (unsigned char)(0xE0 | (cp >> 12));
            buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            buf[2] = (unsigned char)(0x80 | (cp & 0x3F));
            len = 3;
        } else {
            buf[0] = (unsigned char)(0xF0 | (cp >> 18));
            buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            buf[3] = (unsigned char)(0x80 | (cp & 0x3F));
            len = 4;
        }
        if (cbMultiByte > 0) {
            if (out + len > cbMultiByte) {
                SetLastError(ERROR_INSUFFICIENT_BUFFER);
                return 0;
            }
            for (k = 0; k < len; k++)
                lpMultiByteStr[out + k] = (char)buf[k];
        }
        out += len;
    }
    return out;
}

/* ---- Threads, events and waits (CreateThread, CreateEvent, WaitForSingleObject,
 * WaitForMultipleObjects, CloseHandle, ...) over pthreads, header-only (docs/porting.md 4.2).
 *
 * A thread or event HANDLE points to a sslsock_compat_object: a mutex, the signaled state and the
 * list of threads waiting on it.  A wait registers the waiting thread (its own mutex, condition
 * variable and "fired" flag, on its stack) with every object it waits on, under each object's
 * mutex; SetEvent and a thread's end fire every registered waiter, which then looks again.  So
 * WaitForMultipleObjects needs no process-wide lock and no symbol outside this header: everything
 * is in the objects.  Wait-all takes the objects' mutexes in address order and consumes
 * auto-reset events only when all are signaled at once, as Windows does.
 *
 * Differences from Windows, on purpose: event names are ignored (each CreateEvent makes a new,
 * unnamed event); CREATE_SUSPENDED is refused (ERROR_NOT_SUPPORTED); security attributes and stack
 * sizes are ignored; TerminateThread, mutexes, semaphores and alertable waits are not provided;
 * threads run detached (a HANDLE can be waited on any number of times, by several threads; the
 * last CloseHandle, or the thread's end after it, frees the object).  A HANDLE that is NULL or
 * INVALID_HANDLE_VALUE gives WAIT_FAILED / FALSE with ERROR_INVALID_HANDLE; a closed or foreign
 * pointer is undefined, as on Windows.
 *
 * Shared with the library: a WSAEVENT is one of these objects.  libsslsock mirrors the layout of
 * sslsock_compat_object, sslsock_compat_waiter and sslsock_compat_wait_node and this wait protocol
 * (src/ffi/events/object.rs), so WSACreateEvent's events work with the functions here and
 * CreateEvent's (and CreateThread's handles) with WSAEventSelect and WSAWaitForMultipleEvents.
 * Both sides allocate with calloc and free with free.  Changing these structures or the protocol
 * is an ABI change of the library: change both together (c-tests/events_compat.c checks them). */
#define MAXIMUM_WAIT_OBJECTS 64
#define STILL_ACTIVE 259u
#define CREATE_SUSPENDED 0x4u
#define STACK_SIZE_PARAM_IS_A_RESERVATION 0x10000u
#define ERROR_NOT_SUPPORTED 50L
#define ERROR_MOD_NOT_FOUND 126L
#define ERROR_PROC_NOT_FOUND 127L

typedef struct _SECURITY_ATTRIBUTES {
    DWORD nLength;
    LPVOID lpSecurityDescriptor;
    BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

typedef DWORD (WINAPI *PTHREAD_START_ROUTINE)(LPVOID lpThreadParameter);
typedef PTHREAD_START_ROUTINE LPTHREAD_START_ROUTINE;

#define SSLSOCK_COMPAT_OBJECT_MAGIC 0x57696E4Fu /* "WinO" */
#define SSLSOCK_COMPAT_THREAD 1
#define SSLSOCK_COMPAT_EVENT 2

struct sslsock_compat_waiter {
    pthread_mutex_t mutex;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    int fired;
};

struct sslsock_compat_wait_node {
    struct sslsock_compat_wait_node *prev, *next;
    struct sslsock_compat_waiter *waiter;
};

typedef struct sslsock_compat_object {
    DWORD magic;
    int kind;
    pthread_mutex_t mutex;
    int signaled;
    int manual_reset;              /* events; threads stay signaled once ended */
    int refs;                      /* open HANDLEs, plus one while a thread runs */
    struct sslsock_compat_wait_node *waiters;
    /* threads */
    LPTHREAD_START_ROUTINE start;
    LPVOID parameter;
    DWORD exit_code;
    DWORD thread_id;
    int started;
    pthread_cond_t started_cond;
} sslsock_compat_object;

/* The object behind a HANDLE, or NULL (ERROR_INVALID_HANDLE) for NULL, INVALID_HANDLE_VALUE and
 * what is no thread or event of these functions. */
static inline sslsock_compat_object *sslsock_compat_object_of(HANDLE h)
{
    sslsock_compat_object *o = (sslsock_compat_object *)h;
    /* NULL, INVALID_HANDLE_VALUE (-1) and the pseudo-handles (-2 ...) are never objects. */
    if (h == NULL || (uintptr_t)h >= (uintptr_t)-16 || o->magic != SSLSOCK_COMPAT_OBJECT_MAGIC) {
        SetLastError(ERROR_INVALID_HANDLE);
        return NULL;
    }
    return o;
}

/* Mark `o` signaled and wake every thread waiting on it; o->mutex held. */
static inline void sslsock_compat_fire_locked(sslsock_compat_object *o)
{
    struct sslsock_compat_wait_node *n;
    o->signaled = 1;
    for (n = o->waiters; n; n = n->next) {
        pthread_mutex_lock(&n->waiter->mutex);
        n->waiter->fired = 1;
        pthread_cond_signal(&n->waiter->cond);
        pthread_mutex_unlock(&n->waiter->mutex);
    }
}

/* Drop one reference; the last frees the object.  o->mutex held; released here. */
static inline void sslsock_compat_release_locked(sslsock_compat_object *o)
{
    int last = --o->refs == 0;
    pthread_mutex_unlock(&o->mutex);
    if (last) {
        o->magic = 0;
        pthread_mutex_destroy(&o->mutex);
        pthread_cond_destroy(&o->started_cond);
        free(o);
    }
}

static inline sslsock_compat_object *sslsock_compat_object_new(int kind)
{
    sslsock_compat_object *o = (sslsock_compat_object *)calloc(1, sizeof *o);
    if (!o) {
        SetLastError(ERROR_NOT_ENOUGH_MEMORY);
        return NULL;
    }
    o->magic = SSLSOCK_COMPAT_OBJECT_MAGIC;
    o->kind = kind;
    o->refs = 1;
    pthread_mutex_init(&o->mutex, NULL);
    pthread_cond_init(&o->started_cond, NULL);
    return o;
}

/* ---- Threads. */

static inline DWORD GetCurrentThreadId(void)
{
    return (DWORD)syscall(SYS_gettid);
}

static inline HANDLE GetCurrentThread(void)
{
    return (HANDLE)(LONG_PTR)-2; /* a pseudo-handle, as on Windows (not waitable here) */
}

/* The thread's end (return or ExitThread): record the exit code, fire the waiters. */
static inline void sslsock_compat_thread_ended(sslsock_compat_object *o, DWORD code)
{
    pthread_mutex_lock(&o->mutex);
    o->exit_code = code;
    sslsock_compat_fire_locked(o);
    sslsock_compat_release_locked(o);
}

/* ExitThread stores its code here before pthread_exit: the one thread-local the set needs (weak, so
 * that the program has one instance however many of its files include this header). */
__attribute__((weak)) __thread DWORD sslsock_compat_exit_code = 0;

/* Runs when the thread procedure leaves through ExitThread (pthread_exit) or is cancelled. */
static inline void sslsock_compat_thread_cleanup(void *arg)
{
    sslsock_compat_thread_ended((sslsock_compat_object *)arg, sslsock_compat_exit_code);
}

static inline void *sslsock_compat_thread_start(void *arg)
{
    sslsock_compat_object *o = (sslsock_compat_object *)arg;
    pthread_mutex_lock(&o->mutex);
    o->thread_id = GetCurrentThreadId();
    o->started = 1;
    pthread_cond_broadcast(&o->started_cond);
    pthread_mutex_unlock(&o->mutex);
    sslsock_compat_exit_code = 0;
    pthread_cleanup_push(sslsock_compat_thread_cleanup, o);
    /* The procedure's return value goes through the same thread-local as ExitThread's code. */
    sslsock_compat_exit_code = o->start(o->parameter);
    pthread_cleanup_pop(1);
    return NULL;
}

/* lpThreadAttributes and dwStackSize are ignored (the default pthread stack); CREATE_SUSPENDED is
 * refused.  The thread runs detached; its HANDLE is signaled when it ends. */
static inline HANDLE CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize,
                                  LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter,
                                  DWORD dwCreationFlags, LPDWORD lpThreadId)
{
    sslsock_compat_object *o;
    pthread_t th;
    int rc;
    (void)lpThreadAttributes;
    (void)dwStackSize;
    if (!lpStartAddress) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return NULL;
    }
    if (dwCreationFlags & CREATE_SUSPENDED) {
        SetLastError(ERROR_NOT_SUPPORTED);
        return NULL;
    }
    o = sslsock_compat_object_new(SSLSOCK_COMPAT_THREAD);
    if (!o)
        return NULL;
    o->refs = 2; /* the HANDLE, and the thread until it ends */
    o->start = lpStartAddress;
    o->parameter = lpParameter;
    o->exit_code = STILL_ACTIVE;
    rc = pthread_create(&th, NULL, sslsock_compat_thread_start, o);
    if (rc != 0) {
        pthread_mutex_destroy(&o->mutex);
        pthread_cond_destroy(&o->started_cond);
        free(o);
        SetLastError(rc == EAGAIN ? ERROR_NOT_ENOUGH_MEMORY : ERROR_INVALID_PARAMETER);
        return NULL;
    }
    pthread_detach(th);
    /* The id is the thread's own (GetCurrentThreadId there): wait until it has started. */
    pthread_mutex_lock(&o->mutex);
    while (!o->started)
        pthread_cond_wait(&o->started_cond, &o->mutex);
    if (lpThreadId)
        *lpThreadId = o->thread_id;
    pthread_mutex_unlock(&o->mutex);
    return (HANDLE)o;
}

/* Ends the calling thread with dwExitCode (its HANDLE, if CreateThread made it, becomes signaled
 * with that code).  On the program's main thread it is pthread_exit, as Windows ends only that
 * thread. */
static inline void ExitThread(DWORD dwExitCode)
#if defined(__GNUC__)
    __attribute__((noreturn))
#endif
    ;
static inline void ExitThread(DWORD dwExitCode)
{
    sslsock_compat_exit_code = dwExitCode;
    pthread_exit((void *)(uintptr_t)dwExitCode);
}

/* STILL_ACTIVE while the thread runs, then its exit code. */
static inline BOOL GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode)
{
    sslsock_compat_object *o = sslsock_compat_object_of(hThread);
    if (!o || o->kind != SSLSOCK_COMPAT_THREAD || !lpExitCode) {
        SetLastError(o ? ERROR_INVALID_PARAMETER : ERROR_INVALID_HANDLE);
        return FALSE;
    }
    pthread_mutex_lock(&o->mutex);
    *lpExitCode = o->signaled ? o->exit_code : STILL_ACTIVE;
    pthread_mutex_unlock(&o->mutex);
    return TRUE;
}

/* ---- Events. */

/* bManualReset: stays signaled until ResetEvent (else a satisfied wait resets it); lpName ignored. */
static inline HANDLE CreateEventA(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset,
                                  BOOL bInitialState, LPCSTR lpName)
{
    sslsock_compat_object *o;
    (void)lpEventAttributes;
    (void)lpName;
    o = sslsock_compat_object_new(SSLSOCK_COMPAT_EVENT);
    if (!o)
        return NULL;
    o->manual_reset = bManualReset != FALSE;
    o->signaled = bInitialState != FALSE;
    return (HANDLE)o;
}

static inline HANDLE CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset,
                                  BOOL bInitialState, LPCWSTR lpName)
{
    (void)lpName;
    return CreateEventA(lpEventAttributes, bManualReset, bInitialState, NULL);
}
#define CreateEvent CreateEventA

static inline sslsock_compat_object *sslsock_compat_event_of(HANDLE hEvent)
{
    sslsock_compat_object *o = sslsock_compat_object_of(hEvent);
    if (o && o->kind != SSLSOCK_COMPAT_EVENT) {
        SetLastError(ERROR_INVALID_HANDLE);
        return NULL;
    }
    return o;
}

static inline BOOL SetEvent(HANDLE hEvent)
{
    sslsock_compat_object *o = sslsock_compat_event_of(hEvent);
    if (!o)
        return FALSE;
    pthread_mutex_lock(&o->mutex);
    sslsock_compat_fire_locked(o);
    pthread_mutex_unlock(&o->mutex);
    return TRUE;
}

static inline BOOL ResetEvent(HANDLE hEvent)
{
    sslsock_compat_object *o = sslsock_compat_event_of(hEvent);
    if (!o)
        return FALSE;
    pthread_mutex_lock(&o->mutex);
    o->signaled = 0;
    pthread_mutex_unlock(&o->mutex);
    return TRUE;
}

/* ---- CloseHandle: a thread's HANDLE (the thread runs on) or an event's. */
static inline BOOL CloseHandle(HANDLE hObject)
{
    sslsock_compat_object *o = sslsock_compat_object_of(hObject);
    if (!o)
        return FALSE;
    pthread_mutex_lock(&o->mutex);
    sslsock_compat_release_locked(o);
    return TRUE;
}

/* ---- Waits. */

/* A satisfied wait's effect on one object: auto-reset events are reset. */
static inline void sslsock_compat_consume_locked(sslsock_compat_object *o)
{
    if (o->kind == SSLSOCK_COMPAT_EVENT && !o->manual_reset)
        o->signaled = 0;
}

static inline void sslsock_compat_link(sslsock_compat_object *o, struct sslsock_compat_wait_node *n,
                                       struct sslsock_compat_waiter *w)
{
    n->waiter = w;
    n->prev = NULL;
    n->next = o->waiters;
    if (o->waiters)
        o->waiters->prev = n;
    o->waiters = n;
}

static inline void sslsock_compat_unlink(sslsock_compat_object *o, struct sslsock_compat_wait_node *n)
{
    pthread_mutex_lock(&o->mutex);
    if (n->prev)
        n->prev->next = n->next;
    else
        o->waiters = n->next;
    if (n->next)
        n->next->prev = n->prev;
    pthread_mutex_unlock(&o->mutex);
}

/* Wait until w fires or the deadline passes; 0 on timeout. */
static inline int sslsock_compat_block(struct sslsock_compat_waiter *w, DWORD dwMilliseconds,
                                       const struct timespec *deadline)
{
    int fired;
    pthread_mutex_lock(&w->mutex);
    while (!w->fired) {
        if (dwMilliseconds == INFINITE)
            pthread_cond_wait(&w->cond, &w->mutex);
        else if (pthread_cond_timedwait(&w->cond, &w->mutex, deadline) == ETIMEDOUT)
            break;
    }
    fired = w->fired;
    w->fired = 0;
    pthread_mutex_unlock(&w->mutex);
    return fired;
}

static inline int sslsock_compat_cmp_objects(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (sslsock_compat_object *const *)a;
    uintptr_t y = (uintptr_t) * (sslsock_compat_object *const *)b;
    return x < y ? -1 : x > y;
}

/* bWaitAll FALSE: WAIT_OBJECT_0 + the lowest index of a signaled object (an auto-reset event among
 * them is reset); TRUE: WAIT_OBJECT_0 once all are signaled at the same time (all auto-reset events
 * reset together).  WAIT_TIMEOUT after dwMilliseconds (INFINITE: never).  WAIT_FAILED with
 * ERROR_INVALID_PARAMETER for nCount 0 or above MAXIMUM_WAIT_OBJECTS or a handle given twice to a
 * wait-all, ERROR_INVALID_HANDLE for a handle that is no thread or event. */
static inline DWORD WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll,
                                           DWORD dwMilliseconds)
{
    sslsock_compat_object *objs[MAXIMUM_WAIT_OBJECTS], *sorted[MAXIMUM_WAIT_OBJECTS];
    struct sslsock_compat_wait_node nodes[MAXIMUM_WAIT_OBJECTS];
    struct sslsock_compat_waiter w;
    pthread_condattr_t attr;
    struct timespec deadline = {0, 0};
    DWORD i, result = WAIT_TIMEOUT;

    if (nCount == 0 || nCount > MAXIMUM_WAIT_OBJECTS || !lpHandles) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return WAIT_FAILED;
    }
    for (i = 0; i < nCount; i++) {
        objs[i] = sslsock_compat_object_of(lpHandles[i]);
        if (!objs[i])
            return WAIT_FAILED;
        sorted[i] = objs[i];
    }
    if (bWaitAll) {
        qsort(sorted, nCount, sizeof sorted[0], sslsock_compat_cmp_objects);
        for (i = 1; i < nCount; i++) {
            if (sorted[i] == sorted[i - 1]) {
                SetLastError(ERROR_INVALID_PARAMETER);
                return WAIT_FAILED;
            }
        }
    }
    if (dwMilliseconds != INFINITE) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)(dwMilliseconds / 1000u);
        deadline.tv_nsec += (long)(dwMilliseconds % 1000u) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_init(&w.mutex, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &attr);
    pthread_condattr_destroy(&attr);
    w.fired = 0;

    for (;;) {
        DWORD linked = 0;
        int done = 0;
        if (bWaitAll) {
            int all = 1;
            for (i = 0; i < nCount; i++)
                pthread_mutex_lock(&sorted[i]->mutex);
            for (i = 0; i < nCount && all; i++)
                all = sorted[i]->signaled;
            if (all) {
                for (i = 0; i < nCount; i++)
                    sslsock_compat_consume_locked(sorted[i]);
                result = WAIT_OBJECT_0;
                done = 1;
            } else if (dwMilliseconds != 0) {
                for (i = 0; i < nCount; i++)
                    sslsock_compat_link(sorted[i], &nodes[i], &w);
                linked = nCount;
            }
            for (i = nCount; i-- > 0;)
                pthread_mutex_unlock(&sorted[i]->mutex);
        } else {
            /* One object at a time, in index order; each is linked under the mutex it was looked at
             * under, so a signal after the look fires this waiter. */
            for (i = 0; i < nCount && !done; i++) {
                pthread_mutex_lock(&objs[i]->mutex);
                if (objs[i]->signaled) {
                    sslsock_compat_consume_locked(objs[i]);
                    result = WAIT_OBJECT_0 + i;
                    done = 1;
                } else if (dwMilliseconds != 0) {
                    sslsock_compat_link(objs[i], &nodes[i], &w);
                    linked = i + 1;
                }
                pthread_mutex_unlock(&objs[i]->mutex);
            }
        }
        if (!done && linked > 0 && !sslsock_compat_block(&w, dwMilliseconds, &deadline))
            done = 1; /* timed out: result stays WAIT_TIMEOUT */
        for (i = 0; i < linked; i++)
            sslsock_compat_unlink(bWaitAll ? sorted[i] : objs[i], &nodes[i]);
        if (done || dwMilliseconds == 0)
            break;
        w.fired = 0;
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.mutex);
    return result;
}

static inline DWORD WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds)
{
    return WaitForMultipleObjects(1, &hHandle, FALSE, dwMilliseconds);
}

/* ---- LoadLibrary / GetProcAddress / FreeLibrary over dlopen/dlsym.  The DLLs whose functions
 * sslsock implements (CE's schannel.dll for SslCrackCertificate, and the Winsock DLLs ws2.dll,
 * ws2_32.dll, winsock.dll, wsock32.dll, also without ".dll", any case) load sslsock itself
 * (libsslsock.so.1, already loaded when the program links -lsslsock or runs preloaded); any other
 * name is passed to dlopen as it is (a Linux path or soname).  GetProcAddress by ordinal is
 * refused (ERROR_PROC_NOT_FOUND).  glibc before 2.34 needs -ldl for these. */
typedef void (WINAPI *FARPROC)(void); /* GCC's generic function type: casts to the real one do not warn */
typedef FARPROC PROC, NEARPROC;

#define SSLSOCK_COMPAT_SONAME "libsslsock.so.1"

static inline int sslsock_compat_is_our_dll(LPCSTR name)
{
    static const char *const dlls[] = {"schannel", "ws2", "ws2_32", "winsock", "wsock32"};
    const char *base = name, *p;
    size_t len, i;
    for (p = name; *p; p++)
        if (*p == '\\' || *p == '/')
            base = p + 1;
    len = strlen(base);
    if (len > 4 && sslsock_compat_stricmp(base + len - 4, ".dll") == 0)
        len -= 4;
    for (i = 0; i < sizeof dlls / sizeof dlls[0]; i++)
        if (strlen(dlls[i]) == len && sslsock_compat_strnicmp(base, dlls[i], len) == 0)
            return 1;
    return 0;
}

static inline HMODULE LoadLibraryA(LPCSTR lpLibFileName)
{
    void *h;
    if (!lpLibFileName || !*lpLibFileName) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return NULL;
    }
    if (sslsock_compat_is_our_dll(lpLibFileName)) {
        h = dlopen(SSLSOCK_COMPAT_SONAME, RTLD_NOW | RTLD_NOLOAD);
        if (!h)
            h = dlopen(SSLSOCK_COMPAT_SONAME, RTLD_NOW);
        if (!h)
            h = dlopen(NULL, RTLD_NOW); /* linked statically (libsslsock.a): the program itself */
    } else {
        h = dlopen(lpLibFileName, RTLD_NOW | RTLD_LOCAL);
    }
    if (!h)
        SetLastError(ERROR_MOD_NOT_FOUND);
    return (HMODULE)h;
}

static inline HMODULE LoadLibraryW(LPCWSTR lpLibFileName)
{
    char name[MAX_PATH * 4];
    if (!lpLibFileName ||
        WideCharToMultiByte(CP_UTF8, 0, lpLibFileName, -1, name, (int)sizeof name, NULL, NULL) == 0) {
        SetLastError(ERROR_INVALID_PARAMETER);
        return NULL;
    }
    return LoadLibraryA(name);
}
#define LoadLibrary LoadLibraryA

static inline FARPROC GetProcAddress(HMODULE hModule, LPCSTR lpProcName)
{
    void *sym;
    FARPROC fn;
    if (!hModule) {
        SetLastError(ERROR_INVALID_HANDLE);
        return NULL;
    }
    if (!lpProcName || (uintptr_t)lpProcName < 0x10000u) { /* NULL or an ordinal */
        SetLastError(ERROR_PROC_NOT_FOUND);
        return NULL;
    }
    sym = dlsym(hModule, lpProcName);
    if (!sym) {
        SetLastError(ERROR_PROC_NOT_FOUND);
        return NULL;
    }
    memcpy(&fn, &sym, sizeof fn); /* object pointer to function pointer, without a warning */
    return fn;
}

static inline BOOL FreeLibrary(HMODULE hLibModule)
{
    if (!hLibModule || dlclose(hLibModule) != 0) {
        SetLastError(ERROR_INVALID_HANDLE);
        return FALSE;
    }
    return TRUE;
}

/* ---- Debug output: stderr.  RETAILMSG/DEBUGMSG are CE's (DEBUGMSG only with DEBUG defined). */
static inline void OutputDebugStringA(LPCSTR lpOutputString)
{
    fputs(lpOutputString ? lpOutputString : "", stderr);
}
#define OutputDebugString OutputDebugStringA

static inline void sslsock_compat_debug_printf(const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static inline void sslsock_compat_debug_printf(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
}

/* RETAILMSG(cond, (TEXT("fmt"), args...)) */
#ifndef RETAILMSG
# define RETAILMSG(cond, printf_exp) ((void)((cond) ? (sslsock_compat_debug_printf printf_exp, 1) : 0))
#endif
#ifndef DEBUGMSG
# ifdef DEBUG
#  define DEBUGMSG(cond, printf_exp) RETAILMSG(cond, printf_exp)
# else
#  define DEBUGMSG(cond, printf_exp) ((void)0)
# endif
#endif

#endif /* SSLSOCK_COMPAT_WINDOWS_H */
