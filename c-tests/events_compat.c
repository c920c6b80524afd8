/*
 * events_compat.c - Winsock events and the compat <windows.h>'s waits share one object
 * (docs/api.md, "The event model"; include/sslsock/compat/windows.h, "Threads, events and waits"):
 *
 * 1. An event WSACreateEvent made is waited by WaitForSingleObject/WaitForMultipleObjects, set by
 *    SetEvent, reset by ResetEvent and closed by CloseHandle; one CreateEvent made (auto-reset) is
 *    waited by WSAWaitForMultipleEvents (which resets it) and set by WSASetEvent; a CreateThread
 *    handle is waitable by WSAWaitForMultipleEvents.
 * 2. A secure socket selected (WSAEventSelect) on an auto-reset CreateEvent event: the FD_READ of an
 *    echo wakes WaitForMultipleObjects, next to a thread that waits on a WSACreateEvent event.
 *
 * Waits that must succeed are bounded by seconds.
 */
#include <sslsock/compat/windows.h>
#include "common.h"

#define LONG_WAIT 15000u

static DWORD WINAPI set_it(LPVOID p)
{
    Sleep(50);
    return WSASetEvent((WSAEVENT)p) ? 7 : 8;
}

static void shared_objects(void)
{
    WSAEVENT w = WSACreateEvent();
    HANDLE a = CreateEvent(NULL, FALSE, FALSE, NULL), pair[2], th;
    DWORD r, code = 0;

    CHECK(w != NULL && a != NULL, "WSACreateEvent and CreateEvent");
    CHECK(WaitForSingleObject(w, 0) == WAIT_TIMEOUT, "WaitForSingleObject: a WSACreateEvent event starts "
          "non-signaled");
    CHECK(WSASetEvent(w) && WaitForSingleObject(w, 0) == WAIT_OBJECT_0 && WaitForSingleObject(w, 0) == WAIT_OBJECT_0,
          "WSASetEvent, then WaitForSingleObject sees it signaled (manual reset: twice)");
    CHECK(ResetEvent(w) && WSAWaitForMultipleEvents(1, &w, FALSE, 0, FALSE) == WSA_WAIT_TIMEOUT,
          "ResetEvent (compat) resets a WSACreateEvent event");
    CHECK(SetEvent(w) && WSAWaitForMultipleEvents(1, &w, FALSE, 0, FALSE) == WSA_WAIT_EVENT_0,
          "SetEvent (compat) signals a WSACreateEvent event");
    WSAResetEvent(w);

    pair[0] = w;
    pair[1] = a;
    CHECK(WSASetEvent(a), "WSASetEvent on a CreateEvent event");
    r = WSAWaitForMultipleEvents(2, pair, FALSE, 0, FALSE);
    CHECK(r == WSA_WAIT_EVENT_0 + 1, "WSAWaitForMultipleEvents sees the CreateEvent event (got %u)", (unsigned)r);
    r = WSAWaitForMultipleEvents(2, pair, FALSE, 0, FALSE);
    CHECK(r == WSA_WAIT_TIMEOUT, "... and resets it, as it is auto-reset (got %u)", (unsigned)r);

    th = CreateThread(NULL, 0, set_it, w, 0, NULL);
    CHECK(th != NULL, "CreateThread");
    pair[1] = th;
    r = WaitForMultipleObjects(2, pair, TRUE, LONG_WAIT);
    CHECK(r == WAIT_OBJECT_0, "WaitForMultipleObjects (all) over a WSACreateEvent event and a thread that "
          "WSASetEvents it (got %u)", (unsigned)r);
    r = WSAWaitForMultipleEvents(1, &th, FALSE, 0, FALSE);
    CHECK(r == WSA_WAIT_EVENT_0 && GetExitCodeThread(th, &code) && code == 7,
          "WSAWaitForMultipleEvents on the ended thread's handle (got %u, exit code %u)", (unsigned)r,
          (unsigned)code);
    CHECK(CloseHandle(th), "CloseHandle of the thread");
    CHECK(CloseHandle(w), "CloseHandle of a WSACreateEvent event");
    CHECK(WSACloseEvent(a), "WSACloseEvent of a CreateEvent event");
}

static void selected_socket(int port)
{
    struct hook_record rec;
    const char *what = "secure socket on a CreateEvent event";
    HANDLE ev = CreateEvent(NULL, FALSE, FALSE, NULL), other = WSACreateEvent(), set[2];
    WSANETWORKEVENTS ne = {0, {0}};
    SOCKADDR_IN sa;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    char buf[64];
    DWORD r;
    long got;

    CHECK(make_secure(s) == 0, "%s: SO_SECURE", what);
    hook_reset(&rec, SSL_ERR_OKAY);
    set_hook(s, record_hook, &rec);
    connect_addr(&sa, port);
    CHECK(connect(s, (SOCKADDR *)&sa, sizeof sa) == 0, "%s: connect (blocking, handshake done)", what);
    CHECK(WSAEventSelect(s, ev, FD_READ | FD_CLOSE) == 0, "%s: WSAEventSelect on an auto-reset CreateEvent event",
          what);
    set[0] = other;
    set[1] = ev;
    r = WaitForMultipleObjects(2, set, FALSE, 200);
    CHECK(r == WAIT_TIMEOUT, "%s: nothing to read yet (got %u)", what, (unsigned)r);
    CHECK(send_str(s, "ECHO compat\r\n") == 0, "%s: send ECHO", what);
    r = WaitForMultipleObjects(2, set, FALSE, LONG_WAIT);
    CHECK(r == WAIT_OBJECT_0 + 1, "%s: WaitForMultipleObjects wakes for FD_READ with the socket's index (got %u)",
          what, (unsigned)r);
    CHECK(WSAEnumNetworkEvents(s, NULL, &ne) == 0 && (ne.lNetworkEvents & FD_READ),
          "%s: WSAEnumNetworkEvents: FD_READ (got 0x%lx)", what, ne.lNetworkEvents);
    got = recv(s, buf, sizeof buf, 0);
    CHECK(got == 8 && memcmp(buf, "compat\r\n", 8) == 0, "%s: the echo read (%ld bytes)", what, got);
    CHECK(closesocket(s) == 0, "%s: closesocket", what);
    CHECK(CloseHandle(ev) && WSACloseEvent(other), "%s: the events closed", what);
}

int main(void)
{
    int port = env_port("T_PORT_STARTTLS");
    WSADATA wsa;

    start_watchdog(55);
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup(2.2)");
    shared_objects();
    selected_socket(port);
    WSACleanup();
    return finish();
}
