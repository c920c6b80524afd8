/*
 * events.c - Winsock 2's event model through <winsock2.h> alone (docs/api.md, "The event model"):
 * WSAEventSelect, WSAEnumNetworkEvents, WSACreateEvent/WSACloseEvent/WSASetEvent/WSAResetEvent and
 * WSAWaitForMultipleEvents, against the real peers of tests/run-c-tests.sh.
 *
 * 1. Events alone: bad arguments (WSA_INVALID_PARAMETER, WSA_INVALID_HANDLE, WSAENOTSOCK, WSAEINVAL,
 *    WSAEFAULT), a timeout (WSA_WAIT_TIMEOUT), wait-any index, wait-all, WSA_INFINITE woken by
 *    another thread's WSASetEvent, WSAResetEvent.
 * 2. A secure socket selected before a non-blocking connect to the line server: FD_CONNECT (handshake
 *    included, error 0) and FD_WRITE; FD_READ for a 100-byte echo, and again after a recv of 10 that
 *    leaves 92 bytes inside the library; none once all is read; FD_CLOSE (error 0) after QUIT.
 * 3. FD_CONNECT failures: a closed port (WSAECONNREFUSED, secure and plain), an untrusted certificate
 *    (the handshake's error, the one the next recv reports).
 * 4. Plain sockets: FD_READ of two greetings waited with fWaitAll FALSE then TRUE; lNetworkEvents 0
 *    cancels (nothing recorded any more, the socket stays non-blocking); FD_ACCEPT, re-enabled by
 *    accept; the accepted socket has the listening socket's selection (FD_WRITE).
 * 5. A fork child's selection works (the child starts its own watcher).
 *
 * Waits that must succeed are bounded by seconds; a wait that must time out is checked not to return
 * early.
 */
#include <winsock2.h>
#include <sslsock.h>
#include <fcntl.h>
#include <sys/wait.h>
#include "common.h"

#define LONG_WAIT 15000u /* ms: a bound for waits that must succeed */

static struct hook_record g_rec;

/* 127.0.0.1:port with nothing listening (a port the kernel gave and took back). */
static int closed_port(void)
{
    SOCKADDR_IN sa;
    socklen_t len = sizeof sa;
    SOCKET t = socket(AF_INET, SOCK_STREAM, 0);
    int port;
    connect_addr(&sa, 0);
    bind(t, (SOCKADDR *)&sa, sizeof sa);
    getsockname(t, (SOCKADDR *)&sa, &len);
    port = ntohs(sa.sin_port);
    closesocket(t);
    return port;
}

static DWORD g_set_after_ms;
static void *set_later(void *p)
{
    usleep(g_set_after_ms * 1000u);
    WSASetEvent((WSAEVENT)p);
    return NULL;
}

/* ---- 1. events alone ---------------------------------------------------------------------- */

static void events_alone(void)
{
    WSAEVENT a = WSACreateEvent(), b = WSACreateEvent(), pair[2], many[WSA_MAXIMUM_WAIT_EVENTS + 1];
    WSANETWORKEVENTS ne = {0, {0}};
    pthread_t th;
    long long t0, dt;
    DWORD w;
    int i, fds[2];

    CHECK(a != WSA_INVALID_EVENT && b != WSA_INVALID_EVENT, "WSACreateEvent makes two events");
    pair[0] = a;
    pair[1] = b;
    t0 = now_ms();
    w = WSAWaitForMultipleEvents(2, pair, FALSE, 200, FALSE);
    dt = now_ms() - t0;
    CHECK(w == WSA_WAIT_TIMEOUT && dt >= 190, "a new event is not signaled: a 200 ms wait returns "
          "WSA_WAIT_TIMEOUT (got %u after %lld ms)", (unsigned)w, dt);
    CHECK(WSASetEvent(b) == TRUE, "WSASetEvent");
    w = WSAWaitForMultipleEvents(2, pair, FALSE, 0, FALSE);
    CHECK(w == WSA_WAIT_EVENT_0 + 1, "wait-any returns WSA_WAIT_EVENT_0 + 1 for the second (got %u)", (unsigned)w);
    w = WSAWaitForMultipleEvents(2, pair, FALSE, 0, FALSE);
    CHECK(w == WSA_WAIT_EVENT_0 + 1, "manual reset: still signaled after the wait (got %u)", (unsigned)w);
    w = WSAWaitForMultipleEvents(2, pair, TRUE, 100, FALSE);
    CHECK(w == WSA_WAIT_TIMEOUT, "wait-all with one of two signaled times out (got %u)", (unsigned)w);
    g_set_after_ms = 100;
    pthread_create(&th, NULL, set_later, a);
    w = WSAWaitForMultipleEvents(2, pair, TRUE, WSA_INFINITE, FALSE);
    pthread_join(th, NULL);
    CHECK(w == WSA_WAIT_EVENT_0, "wait-all with WSA_INFINITE returns WSA_WAIT_EVENT_0 once another thread "
          "sets the second event (got %u)", (unsigned)w);
    CHECK(WSAResetEvent(a) == TRUE && WSAResetEvent(b) == TRUE, "WSAResetEvent");
    w = WSAWaitForMultipleEvents(2, pair, FALSE, 0, FALSE);
    CHECK(w == WSA_WAIT_TIMEOUT, "after WSAResetEvent nothing is signaled (got %u)", (unsigned)w);

    WSASetLastError(0);
    w = WSAWaitForMultipleEvents(0, pair, FALSE, 0, FALSE);
    CHECK(w == WSA_WAIT_FAILED && WSAGetLastError() == WSA_INVALID_PARAMETER,
          "0 events: WSA_WAIT_FAILED, WSA_INVALID_PARAMETER (got %u)", (unsigned)w);
    for (i = 0; i <= WSA_MAXIMUM_WAIT_EVENTS; i++)
        many[i] = a;
    WSASetLastError(0);
    w = WSAWaitForMultipleEvents(WSA_MAXIMUM_WAIT_EVENTS + 1, many, FALSE, 0, FALSE);
    CHECK(w == WSA_WAIT_FAILED && WSAGetLastError() == WSA_INVALID_PARAMETER,
          "65 events: WSA_WAIT_FAILED, WSA_INVALID_PARAMETER (got %u)", (unsigned)w);
    WSASetLastError(0);
    w = WSAWaitForMultipleEvents(WSA_MAXIMUM_WAIT_EVENTS, many, FALSE, 0, FALSE);
    CHECK(w == WSA_WAIT_TIMEOUT, "64 events (WSA_MAXIMUM_WAIT_EVENTS) are taken (got %u)", (unsigned)w);
    WSASetLastError(0);
    w = WSAWaitForMultipleEvents(1, NULL, FALSE, 0, FALSE);
    CHECK(w == WSA_WAIT_FAILED && WSAGetLastError() == WSA_INVALID_PARAMETER,
          "a NULL array: WSA_WAIT_FAILED, WSA_INVALID_PARAMETER (got %u)", (unsigned)w);
    pair[1] = WSA_INVALID_EVENT;
    WSASetLastError(0);
    w = WSAWaitForMultipleEvents(2, pair, FALSE, 0, FALSE);
    CHECK(w == WSA_WAIT_FAILED && WSAGetLastError() == WSA_INVALID_HANDLE,
          "a NULL handle: WSA_WAIT_FAILED, WSA_INVALID_HANDLE (got %u)", (unsigned)w);
    pair[1] = a;
    WSASetLastError(0);
    w = WSAWaitForMultipleEvents(2, pair, TRUE, 0, FALSE);
    CHECK(w == WSA_WAIT_FAILED && WSAGetLastError() == WSA_INVALID_PARAMETER,
          "a handle twice in a wait-all: WSA_WAIT_FAILED, WSA_INVALID_PARAMETER (got %u)", (unsigned)w);
    WSASetLastError(0);
    CHECK(WSASetEvent(NULL) == FALSE && WSAGetLastError() == WSA_INVALID_HANDLE,
          "WSASetEvent(NULL): FALSE, WSA_INVALID_HANDLE");
    WSASetLastError(0);
    CHECK(WSAResetEvent((WSAEVENT)(intptr_t)-1) == FALSE && WSAGetLastError() == WSA_INVALID_HANDLE,
          "WSAResetEvent(INVALID_HANDLE_VALUE): FALSE, WSA_INVALID_HANDLE");
    WSASetLastError(0);
    CHECK(WSACloseEvent(NULL) == FALSE && WSAGetLastError() == WSA_INVALID_HANDLE,
          "WSACloseEvent(NULL): FALSE, WSA_INVALID_HANDLE");

    CHECK(pipe(fds) == 0, "(precondition) a pipe");
    CHECK(WSAEventSelect(fds[0], a, FD_READ) == SOCKET_ERROR && WSAGetLastError() == WSAENOTSOCK,
          "WSAEventSelect on a pipe: SOCKET_ERROR, WSAENOTSOCK");
    CHECK(WSAEventSelect(987654, a, FD_READ) == SOCKET_ERROR && WSAGetLastError() == WSAENOTSOCK,
          "WSAEventSelect on a closed descriptor: SOCKET_ERROR, WSAENOTSOCK");
    CHECK(WSAEnumNetworkEvents(fds[0], NULL, &ne) == SOCKET_ERROR && WSAGetLastError() == WSAENOTSOCK,
          "WSAEnumNetworkEvents on a pipe: SOCKET_ERROR, WSAENOTSOCK");
    close(fds[0]);
    close(fds[1]);
    {
        SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(WSAEventSelect(s, NULL, FD_READ) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL,
              "WSAEventSelect with a NULL event: SOCKET_ERROR, WSAEINVAL");
        CHECK(WSAEventSelect(s, a, 0x4000) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL,
              "WSAEventSelect with an unknown event bit: SOCKET_ERROR, WSAEINVAL");
        CHECK(WSAEnumNetworkEvents(s, a, NULL) == SOCKET_ERROR && WSAGetLastError() == WSAEFAULT,
              "WSAEnumNetworkEvents with a NULL WSANETWORKEVENTS: SOCKET_ERROR, WSAEFAULT");
        memset(&ne, 0xff, sizeof ne);
        CHECK(WSAEnumNetworkEvents(s, NULL, &ne) == 0 && ne.lNetworkEvents == 0,
              "WSAEnumNetworkEvents on a socket with no selection: 0 events");
        CHECK(WSAEventSelect(s, a, FD_READ | FD_WRITE | FD_CLOSE) == 0,
              "WSAEventSelect on an unconnected socket");
        w = WSAWaitForMultipleEvents(1, &a, FALSE, 200, FALSE);
        CHECK(w == WSA_WAIT_TIMEOUT, "an unconnected socket records nothing (got %u)", (unsigned)w);
        CHECK(closesocket(s) == 0, "closesocket of a selected socket");
    }
    CHECK(WSACloseEvent(a) == TRUE && WSACloseEvent(b) == TRUE, "WSACloseEvent");
}

/* ---- 2. a secure socket from connect to close ---------------------------------------------- */

static void secure_lifecycle(int port)
{
    static char text[101], cmd[128], buf[256];
    const char *what = "secure socket";
    WSAEVENT ev = WSACreateEvent();
    WSANETWORKEVENTS all = {0, {0}}, ne = {0, {0}};
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    u_long avail = 0;
    long got;
    int rc, err, flags;
    DWORD w;

    CHECK(make_secure(s) == 0, "%s: SO_SECURE", what);
    hook_reset(&g_rec, SSL_ERR_OKAY);
    CHECK(set_hook(s, record_hook, &g_rec) == 0, "%s: SET_VALIDATE_CERT_HOOK", what);
    CHECK(WSAEventSelect(s, ev, FD_CONNECT | FD_WRITE | FD_READ | FD_CLOSE) == 0, "%s: WSAEventSelect", what);
    flags = fcntl(s, F_GETFL);
    CHECK(flags >= 0 && (flags & O_NONBLOCK), "%s: WSAEventSelect made the socket non-blocking", what);
    connect_addr(&sa, port);
    rc = connect(s, (SOCKADDR *)&sa, sizeof sa);
    err = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && err == WSAEWOULDBLOCK, "%s: connect answers WSAEWOULDBLOCK (rc %d, err %d)",
          what, rc, err);
    CHECK(collect_events(s, ev, FD_CONNECT | FD_WRITE, LONG_WAIT, &all), "%s: FD_CONNECT and FD_WRITE are recorded (got 0x%lx)",
          what, all.lNetworkEvents);
    CHECK(all.iErrorCode[FD_CONNECT_BIT] == 0, "%s: FD_CONNECT's error is 0 (got %d)", what,
          all.iErrorCode[FD_CONNECT_BIT]);
    CHECK(g_rec.calls == 1, "%s: the handshake ran (hook called once, got %d)", what, g_rec.calls);
    CHECK(!(all.lNetworkEvents & FD_READ), "%s: no FD_READ before anything was sent (got 0x%lx)", what,
          all.lNetworkEvents);

    fill_text(text, 100, 3);
    snprintf(cmd, sizeof cmd, "ECHO %s\r\n", text);
    CHECK(send_str(s, cmd) == 0, "%s: send ECHO of 100 characters", what);
    CHECK(collect_events(s, ev, FD_READ, LONG_WAIT, &all), "%s: FD_READ for the echo (got 0x%lx)", what, all.lNetworkEvents);
    got = recv(s, buf, 10, 0);
    CHECK(got == 10 && memcmp(buf, text, 10) == 0, "%s: recv of 10 bytes (got %ld)", what, got);
    CHECK(ioctlsocket(s, FIONREAD, &avail) == 0 && avail == 92,
          "%s: 92 bytes are held inside the library (FIONREAD %lu)", what, (unsigned long)avail);
    w = WSAWaitForMultipleEvents(1, &ev, FALSE, 5000, FALSE);
    CHECK(w == WSA_WAIT_EVENT_0, "%s: the recv that left data signals the event again (got %u)", what, (unsigned)w);
    CHECK(WSAEnumNetworkEvents(s, ev, &ne) == 0 && (ne.lNetworkEvents & FD_READ) && ne.iErrorCode[FD_READ_BIT] == 0,
          "%s: ... with FD_READ recorded (got 0x%lx)", what, ne.lNetworkEvents);
    got = recv(s, buf, sizeof buf, 0);
    CHECK(got == 92 && memcmp(buf, text + 10, 90) == 0 && memcmp(buf + 90, "\r\n", 2) == 0,
          "%s: recv of the remaining 92 bytes (got %ld)", what, got);
    w = WSAWaitForMultipleEvents(1, &ev, FALSE, 300, FALSE);
    CHECK(w == WSA_WAIT_TIMEOUT, "%s: nothing left: FD_READ is not recorded again (got %u)", what, (unsigned)w);
    got = recv(s, buf, sizeof buf, 0);
    err = WSAGetLastError();
    CHECK(got == SOCKET_ERROR && err == WSAEWOULDBLOCK, "%s: recv with nothing there: WSAEWOULDBLOCK (got %ld, %d)",
          what, got, err);

    CHECK(send_str(s, "QUIT\r\n") == 0, "%s: send QUIT (the server answers BYE and closes)", what);
    {
        long long deadline = now_ms() + LONG_WAIT;
        size_t have = 0;
        memset(&all, 0, sizeof all);
        while (!(all.lNetworkEvents & FD_CLOSE) && now_ms() < deadline) {
            if (WSAWaitForMultipleEvents(1, &ev, FALSE, 1000, FALSE) != WSA_WAIT_EVENT_0)
                continue;
            if (WSAEnumNetworkEvents(s, ev, &ne) != 0)
                break;
            all.lNetworkEvents |= ne.lNetworkEvents;
            if (ne.lNetworkEvents & FD_CLOSE)
                all.iErrorCode[FD_CLOSE_BIT] = ne.iErrorCode[FD_CLOSE_BIT];
            if (ne.lNetworkEvents & FD_READ) {
                got = recv(s, buf + have, sizeof buf - 1 - have, 0);
                if (got > 0)
                    have += (size_t)got;
            }
        }
        buf[have] = 0;
        buf[strcspn(buf, "\r\n")] = 0;
        CHECK(strncmp(buf, "BYE", 3) == 0, "%s: BYE read on FD_READ ('%s')", what, buf);
        CHECK(all.lNetworkEvents & FD_CLOSE, "%s: FD_CLOSE at the server's close (got 0x%lx)", what,
              all.lNetworkEvents);
        CHECK(all.iErrorCode[FD_CLOSE_BIT] == 0, "%s: FD_CLOSE's error is 0 (close_notify: a graceful close, got %d)",
              what, all.iErrorCode[FD_CLOSE_BIT]);
    }
    CHECK(closesocket(s) == 0, "%s: closesocket", what);
    CHECK(WSACloseEvent(ev), "%s: WSACloseEvent", what);
}

/* ---- 3. FD_CONNECT failures ---------------------------------------------------------------- */

static void connect_fails(int port, int secure, int use_hook, const char *what, int want_refused)
{
    WSAEVENT ev = WSACreateEvent();
    WSANETWORKEVENTS all = {0, {0}};
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    char buf[16];
    int rc, err, code;

    if (secure)
        CHECK(make_secure(s) == 0, "%s: SO_SECURE", what);
    if (use_hook) {
        hook_reset(&g_rec, SSL_ERR_OKAY);
        set_hook(s, record_hook, &g_rec);
    }
    CHECK(WSAEventSelect(s, ev, FD_CONNECT | FD_READ | FD_WRITE | FD_CLOSE) == 0, "%s: WSAEventSelect", what);
    connect_addr(&sa, port);
    rc = connect(s, (SOCKADDR *)&sa, sizeof sa);
    err = WSAGetLastError();
    note("%s: connect rc %d, WSAGetLastError %d", what, rc, err);
    CHECK(collect_events(s, ev, FD_CONNECT, LONG_WAIT, &all), "%s: FD_CONNECT is recorded (got 0x%lx)", what, all.lNetworkEvents);
    code = all.iErrorCode[FD_CONNECT_BIT];
    if (want_refused) {
        CHECK(code == WSAECONNREFUSED, "%s: iErrorCode[FD_CONNECT_BIT] is WSAECONNREFUSED (got %d)", what, code);
    } else {
        int r = (int)recv(s, buf, sizeof buf, 0);
        err = WSAGetLastError();
        CHECK(code != 0 && r == SOCKET_ERROR && err == code,
              "%s: iErrorCode[FD_CONNECT_BIT] is the handshake's error, the one recv reports (%d; recv %d, %d)",
              what, code, r, err);
    }
    CHECK(!(all.lNetworkEvents & FD_WRITE), "%s: no FD_WRITE for a failed connect (got 0x%lx)", what,
          all.lNetworkEvents);
    closesocket(s);
    WSACloseEvent(ev);
}

/* ---- 4. plain sockets ----------------------------------------------------------------------- */

static SOCKET plain_connected(int port)
{
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    connect_addr(&sa, port);
    if (connect(s, (SOCKADDR *)&sa, sizeof sa) != 0) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

static void plain_sockets(int port)
{
    const char *what = "plain sockets";
    WSAEVENT ev[2] = {WSACreateEvent(), WSACreateEvent()};
    SOCKET s[2];
    WSANETWORKEVENTS ne = {0, {0}};
    char line[128];
    int i, seen[2] = {0, 0}, flags;
    long long deadline;
    long got;
    DWORD w;

    for (i = 0; i < 2; i++) {
        s[i] = plain_connected(port);
        CHECK(s[i] != INVALID_SOCKET, "%s: connect %d (blocking, before the selection)", what, i);
        CHECK(WSAEventSelect(s[i], ev[i], FD_READ | FD_CLOSE) == 0, "%s: WSAEventSelect %d", what, i);
    }
    /* The server greets each connection (after its short wait for an early talker). */
    deadline = now_ms() + LONG_WAIT;
    while ((!seen[0] || !seen[1]) && now_ms() < deadline) {
        w = WSAWaitForMultipleEvents(2, ev, FALSE, 1000, FALSE);
        if (w == WSA_WAIT_EVENT_0 || w == WSA_WAIT_EVENT_0 + 1) {
            i = (int)(w - WSA_WAIT_EVENT_0);
            if (WSAEnumNetworkEvents(s[i], ev[i], &ne) == 0 && (ne.lNetworkEvents & FD_READ))
                seen[i] = 1;
        }
    }
    CHECK(seen[0] && seen[1], "%s: fWaitAll FALSE over two sockets returns each one's index for its "
          "greeting (FD_READ: %d %d)", what, seen[0], seen[1]);
    for (i = 0; i < 2; i++) {
        got = recv(s[i], line, sizeof line, 0);
        CHECK(got > 3 && strncmp(line, "220", 3) == 0, "%s: greeting %d read (%ld bytes)", what, i, got);
        CHECK(send_str(s[i], "NOOP\r\n") == 0, "%s: send NOOP on %d", what, i);
    }
    w = WSAWaitForMultipleEvents(2, ev, TRUE, LONG_WAIT, FALSE);
    CHECK(w == WSA_WAIT_EVENT_0, "%s: fWaitAll TRUE returns WSA_WAIT_EVENT_0 once both answers came (got %u)",
          what, (unsigned)w);
    for (i = 0; i < 2; i++) {
        CHECK(WSAEnumNetworkEvents(s[i], ev[i], &ne) == 0 && (ne.lNetworkEvents & FD_READ),
              "%s: FD_READ on %d (got 0x%lx)", what, i, ne.lNetworkEvents);
        got = recv(s[i], line, sizeof line, 0);
        CHECK(got > 3 && strncmp(line, "250", 3) == 0, "%s: answer %d read (%ld bytes)", what, i, got);
    }
    memset(&ne, 0xff, sizeof ne);
    CHECK(WSAEnumNetworkEvents(s[1], NULL, &ne) == 0 && ne.lNetworkEvents == 0,
          "%s: WSAEnumNetworkEvents cleared what it handed over (got 0x%lx)", what, ne.lNetworkEvents);
    w = WSAWaitForMultipleEvents(2, ev, FALSE, 0, FALSE);
    CHECK(w == WSA_WAIT_TIMEOUT, "%s: ... and reset the events it was given (got %u)", what, (unsigned)w);

    /* lNetworkEvents 0 cancels. */
    CHECK(WSAEventSelect(s[0], ev[0], 0) == 0, "%s: WSAEventSelect(s, ev, 0) cancels", what);
    flags = fcntl(s[0], F_GETFL);
    CHECK(flags >= 0 && (flags & O_NONBLOCK), "%s: the socket stays non-blocking", what);
    WSAResetEvent(ev[0]);
    CHECK(send_str(s[0], "NOOP\r\n") == 0, "%s: send NOOP after the cancel", what);
    w = WSAWaitForMultipleEvents(1, &ev[0], FALSE, 500, FALSE);
    CHECK(w == WSA_WAIT_TIMEOUT, "%s: nothing is recorded after the cancel (got %u)", what, (unsigned)w);
    CHECK(WSAEnumNetworkEvents(s[0], NULL, &ne) == 0 && ne.lNetworkEvents == 0,
          "%s: WSAEnumNetworkEvents after the cancel: none (got 0x%lx)", what, ne.lNetworkEvents);
    {
        u_long zero = 0;
        CHECK(ioctlsocket(s[1], FIONBIO, &zero) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL,
              "%s: ioctlsocket(FIONBIO, 0) on a selected socket: SOCKET_ERROR, WSAEINVAL", what);
        CHECK(ioctlsocket(s[0], FIONBIO, &zero) == 0, "%s: ... and 0 once the selection is cancelled", what);
    }

    /* FD_CLOSE at the server's close (QUIT in plaintext: 221 bye, close). */
    CHECK(send_str(s[1], "QUIT\r\n") == 0, "%s: send QUIT", what);
    {
        WSANETWORKEVENTS all = {0, {0}};
        CHECK(collect_events(s[1], ev[1], FD_CLOSE, LONG_WAIT, &all), "%s: FD_CLOSE after QUIT (got 0x%lx)", what, all.lNetworkEvents);
        CHECK(all.iErrorCode[FD_CLOSE_BIT] == 0, "%s: FD_CLOSE's error is 0 (got %d)", what,
              all.iErrorCode[FD_CLOSE_BIT]);
    }
    for (i = 0; i < 2; i++) {
        closesocket(s[i]);
        WSACloseEvent(ev[i]);
    }
}

static void plain_connect_and_accept(void)
{
    const char *what = "listening socket";
    WSAEVENT ev = WSACreateEvent(), cev = WSACreateEvent();
    WSANETWORKEVENTS all = {0, {0}};
    SOCKADDR_IN sa;
    socklen_t len = sizeof sa;
    SOCKET l = socket(AF_INET, SOCK_STREAM, 0), c1, c2, a1, a2;
    int rc, err;
    DWORD w;

    connect_addr(&sa, 0);
    CHECK(bind(l, (SOCKADDR *)&sa, sizeof sa) == 0 && listen(l, 8) == 0 &&
          getsockname(l, (SOCKADDR *)&sa, &len) == 0, "%s: bind and listen", what);
    CHECK(WSAEventSelect(l, ev, FD_ACCEPT | FD_WRITE) == 0, "%s: WSAEventSelect(FD_ACCEPT | FD_WRITE)", what);
    w = WSAWaitForMultipleEvents(1, &ev, FALSE, 200, FALSE);
    CHECK(w == WSA_WAIT_TIMEOUT, "%s: nothing to accept yet (got %u)", what, (unsigned)w);

    c1 = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(WSAEventSelect(c1, cev, FD_CONNECT | FD_WRITE | FD_CLOSE) == 0, "plain connect: WSAEventSelect");
    rc = connect(c1, (SOCKADDR *)&sa, sizeof sa);
    err = WSAGetLastError();
    CHECK(rc == 0 || (err == WSAEWOULDBLOCK && errno == EINPROGRESS),
          "plain connect: non-blocking connect gives WSAEWOULDBLOCK, errno EINPROGRESS, as on Windows and POSIX "
          "(rc %d, err %d, errno %d)", rc, err, errno);
    CHECK(collect_events(c1, cev, FD_CONNECT | FD_WRITE, LONG_WAIT, &all) && all.iErrorCode[FD_CONNECT_BIT] == 0,
          "plain connect: FD_CONNECT (error 0) and FD_WRITE (got 0x%lx, %d)", all.lNetworkEvents,
          all.iErrorCode[FD_CONNECT_BIT]);

    CHECK(collect_events(l, ev, FD_ACCEPT, LONG_WAIT, &all), "%s: FD_ACCEPT for the first connection", what);
    c2 = plain_connected(ntohs(sa.sin_port));
    CHECK(c2 != INVALID_SOCKET, "%s: a second connection", what);
    w = WSAWaitForMultipleEvents(1, &ev, FALSE, 300, FALSE);
    CHECK(w == WSA_WAIT_TIMEOUT, "%s: no FD_ACCEPT again before accept (got %u)", what, (unsigned)w);
    a1 = accept(l, NULL, NULL);
    CHECK(a1 != INVALID_SOCKET, "%s: accept", what);
    rc = fcntl(a1, F_GETFL);
    CHECK(rc >= 0 && (rc & O_NONBLOCK), "%s: the accepted socket is non-blocking (it has the listening "
          "socket's selection)", what);
    CHECK(collect_events(l, ev, FD_ACCEPT, LONG_WAIT, &all), "%s: accept re-enables FD_ACCEPT: recorded again for the second "
          "connection waiting", what);
    a2 = accept(l, NULL, NULL);
    CHECK(a2 != INVALID_SOCKET, "%s: accept the second", what);
    rc = collect_events(a1, ev, FD_WRITE, LONG_WAIT, &all);
    CHECK(rc, "%s: the accepted socket's FD_WRITE is recorded on the listening socket's event", what);
    {
        struct linger lg;
        lg.l_onoff = 1;
        lg.l_linger = 0;
        CHECK(setsockopt(a1, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof lg) == 0,
              "%s: SO_LINGER 0 on the accepted socket (its close resets)", what);
    }
    closesocket(a1);
    rc = collect_events(c1, cev, FD_CLOSE, LONG_WAIT, &all);
    CHECK(rc && all.iErrorCode[FD_CLOSE_BIT] == WSAECONNRESET,
          "plain connect: FD_CLOSE with WSAECONNRESET when the peer resets (got 0x%lx, %d)", all.lNetworkEvents,
          all.iErrorCode[FD_CLOSE_BIT]);
    closesocket(a2);
    closesocket(c1);
    closesocket(c2);
    closesocket(l);
    WSACloseEvent(ev);
    WSACloseEvent(cev);
}

/* A fork child has no watcher thread of its parent's: its first selection starts its own. */
static void fork_child(void)
{
    pid_t pid = fork();
    int status = -1;
    if (pid == 0) {
        WSAEVENT ev = WSACreateEvent();
        int sv[2];
        DWORD w;
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || WSAEventSelect(sv[0], ev, FD_READ) != 0)
            _exit(2);
        if (write(sv[1], "x", 1) != 1)
            _exit(3);
        w = WSAWaitForMultipleEvents(1, &ev, FALSE, LONG_WAIT, FALSE);
        _exit(w == WSA_WAIT_EVENT_0 ? 0 : 4);
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "fork: the child's FD_READ is recorded (its own watcher; exit status 0x%x)", (unsigned)status);
}

int main(void)
{
    int port = env_port("T_PORT_STARTTLS");
    int untrusted = env_port("T_PORT_UNTRUSTED");
    int refused = closed_port();
    WSADATA wsa;

    start_watchdog(55);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");
    events_alone();
    secure_lifecycle(port);
    connect_fails(refused, 1, 1, "secure connect to a closed port", 1);
    connect_fails(refused, 0, 0, "plain connect to a closed port", 1);
    connect_fails(untrusted, 1, 0, "secure connect to an untrusted certificate", 0);
    plain_sockets(port);
    plain_connect_and_accept();
    fork_child();
    WSACleanup();
    return finish();
}
