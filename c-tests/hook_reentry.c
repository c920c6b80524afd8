/*
 * The validation hook calling back into sslsock (docs/api.md, "The hook"): on its own socket,
 * calls fail with WSAEINPROGRESS while the handshake runs; on another socket they work; a hook that
 * closes its own socket makes the handshake fail with WSAEINTR once it returns; a second handshake
 * started from inside a hook (on another socket) runs its own hook. No deadlock in any case.
 */
#include <winsock2.h>
#include <sslsock.h>
#include <stdio.h>
#include <string.h>
#include "common.h"

struct reentry {
    SOCKET self;
    SOCKET other;       /* a connected secure socket, or INVALID_SOCKET */
    int close_self;
    int nested_port;    /* >0: run an immediate handshake to this port from inside the hook */
    int info_rc, info_err;
    int send_rc, send_err;
    int other_info_rc;
    int close_rc;
    int nested_rc, nested_hook_calls;
    int calls;
};

static int CALLBACK count_hook(DWORD t, LPVOID arg, DWORD n, LPBLOB chain, DWORD flags)
{
    (void)t; (void)n; (void)chain; (void)flags;
    ++*(int *)arg;
    return SSL_ERR_OKAY;
}

static int CALLBACK reentrant_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain, DWORD dwFlags)
{
    struct reentry *r = (struct reentry *)pvArg;
    SSLCONNECTIONINFO info;
    DWORD cb = 0;
    (void)dwType; (void)dwChainLen; (void)pCertChain; (void)dwFlags;
    r->calls++;
    WSASetLastError(0);
    r->info_rc = WSAIoctl(r->self, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &info, sizeof info, &cb, NULL, NULL);
    r->info_err = WSAGetLastError();
    WSASetLastError(0);
    r->send_rc = send(r->self, "x", 1, 0);
    r->send_err = WSAGetLastError();
    if (r->other != INVALID_SOCKET)
        r->other_info_rc = WSAIoctl(r->other, SO_SSL_GET_CONNECTION_INFO, NULL, 0, &info, sizeof info, &cb, NULL, NULL);
    if (r->nested_port > 0) {
        SOCKADDR_IN sa;
        SOCKET n = socket(AF_INET, SOCK_STREAM, 0);
        make_secure(n);
        set_hook(n, count_hook, &r->nested_hook_calls);
        connect_addr(&sa, r->nested_port);
        r->nested_rc = connect(n, (struct sockaddr *)&sa, sizeof sa);
        closesocket(n);
    }
    if (r->close_self)
        r->close_rc = closesocket(r->self);
    return SSL_ERR_OKAY;
}

static SOCKET secure_with(struct reentry *r)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    make_secure(s);
    r->self = s;
    set_hook(s, reentrant_hook, r);
    return s;
}

int main(void)
{
    int port = env_port("T_PORT_HTTPS");
    int port_multi = env_port("T_PORT_STARTTLS"); /* threaded: serves several at once */
    SOCKADDR_IN sa;
    struct reentry r;
    SOCKET other, s;
    int rc, other_calls = 0;
    start_watchdog(50);

    /* A connected secure socket for the hook to use. */
    other = socket(AF_INET, SOCK_STREAM, 0);
    make_secure(other);
    set_hook(other, count_hook, &other_calls);
    connect_addr(&sa, port_multi);
    CHECK(connect(other, (struct sockaddr *)&sa, sizeof sa) == 0, "a second secure socket connects");

    /* 1. Calls on the own socket from inside the hook; calls on another socket; a nested handshake. */
    memset(&r, 0, sizeof r);
    r.other = other;
    r.nested_port = port_multi;
    s = secure_with(&r);
    connect_addr(&sa, port);
    rc = connect(s, (struct sockaddr *)&sa, sizeof sa);
    CHECK(rc == 0, "connect completes although the hook called back into sslsock (rc %d)", rc);
    CHECK(r.calls == 1, "the hook ran once (%d)", r.calls);
    CHECK(r.info_rc == SOCKET_ERROR && r.info_err == WSAEINPROGRESS,
          "GET_CONNECTION_INFO on its own socket inside the hook: WSAEINPROGRESS (rc %d, err %d)", r.info_rc, r.info_err);
    CHECK(r.send_rc == SOCKET_ERROR && r.send_err == WSAEINPROGRESS,
          "send on its own socket inside the hook: WSAEINPROGRESS, nothing sent (rc %d, err %d)", r.send_rc, r.send_err);
    CHECK(r.other_info_rc == 0, "GET_CONNECTION_INFO on another socket inside the hook works (rc %d)", r.other_info_rc);
    CHECK(r.nested_rc == 0 && r.nested_hook_calls == 1,
          "a handshake on another socket from inside the hook completes with its own hook (rc %d, calls %d)",
          r.nested_rc, r.nested_hook_calls);
    check_http_index(s, "after a re-entrant hook");
    closesocket(s);

    /* 2. The hook closes its own socket. */
    memset(&r, 0, sizeof r);
    r.other = INVALID_SOCKET;
    r.close_self = 1;
    s = secure_with(&r);
    connect_addr(&sa, port);
    WSASetLastError(0);
    rc = connect(s, (struct sockaddr *)&sa, sizeof sa);
    CHECK(r.close_rc == 0, "closesocket from inside the hook returns 0 (%d)", r.close_rc);
    CHECK(rc == SOCKET_ERROR && WSAGetLastError() == WSAEINTR,
          "connect fails with WSAEINTR when the hook closed the socket (rc %d, err %d)", rc, WSAGetLastError());
    WSASetLastError(0);
    rc = send(s, "x", 1, 0);
    CHECK(rc == SOCKET_ERROR && WSAGetLastError() != 0, "the closed socket no longer sends (rc %d, err %d)", rc,
          WSAGetLastError());

    closesocket(other);
    return finish();
}
