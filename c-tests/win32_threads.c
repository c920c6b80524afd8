/*
 * win32_threads.c - the compat <windows.h>'s threads, events and waits over pthreads
 * (docs/porting.md 4.2): CreateThread joined with WaitForSingleObject and its exit code (returned and
 * ExitThread's), GetCurrentThreadId, auto-reset against manual-reset events (initial state, one
 * waiter released per SetEvent against all), WaitForMultipleObjects any and all, with timeouts, on
 * threads and events together, and the refusals (NULL and INVALID_HANDLE_VALUE, nCount 0 or above
 * MAXIMUM_WAIT_OBJECTS, a handle twice in a wait-all, an event call on a thread).
 *
 * Timing is never asserted on: every wait that should succeed has a bound of seconds, and a wait
 * that should time out is only checked not to return before its time.
 */
#include <sslsock/compat/windows.h>
#include "common.h"

#define LONG_WAIT 20000u /* ms: a bound for waits that must succeed */

static LONG volatile g_counter;

static DWORD WINAPI return_code(LPVOID p)
{
    InterlockedIncrement(&g_counter);
    return (DWORD)(uintptr_t)p;
}

static DWORD WINAPI exit_thread(LPVOID p)
{
    (void)p;
    ExitThread(42);
}

static DWORD WINAPI report_id(LPVOID p)
{
    *(DWORD *)p = GetCurrentThreadId();
    return 0;
}

/* Waits on an event (INFINITE), then counts. */
static DWORD WINAPI wait_then_count(LPVOID p)
{
    if (WaitForSingleObject((HANDLE)p, INFINITE) != WAIT_OBJECT_0)
        return 1;
    InterlockedIncrement(&g_counter);
    return 0;
}

/* Sleeps, then sets the event. */
static DWORD WINAPI set_later(LPVOID p)
{
    Sleep(150);
    SetEvent((HANDLE)p);
    return 7;
}

/* Poll (with a generous bound) until g_counter reaches `want`. */
static int counter_reaches(LONG want)
{
    long long end = now_ms() + LONG_WAIT;
    while (InterlockedCompareExchange(&g_counter, 0, 0) < want && now_ms() < end)
        Sleep(5);
    return InterlockedCompareExchange(&g_counter, 0, 0) == want;
}

int main(void)
{
    HANDLE th[8], e1, e2, ev[2], mixed[2];
    DWORD code = 0, id = 0, seen = 0, rc;
    long long t0;
    int i, ok;

    start_watchdog(55);

    /* ---- threads joined with WaitForSingleObject. */
    g_counter = 0;
    ok = 1;
    for (i = 0; i < 8; i++) {
        th[i] = CreateThread(NULL, 0, return_code, (LPVOID)(uintptr_t)(100 + i), 0, NULL);
        ok = ok && th[i] != NULL;
    }
    CHECK(ok, "CreateThread x8");
    ok = 1;
    for (i = 0; i < 8; i++) {
        ok = ok && WaitForSingleObject(th[i], INFINITE) == WAIT_OBJECT_0;
        ok = ok && GetExitCodeThread(th[i], &code) && code == (DWORD)(100 + i);
        ok = ok && WaitForSingleObject(th[i], 0) == WAIT_OBJECT_0; /* an ended thread stays signaled */
        ok = ok && CloseHandle(th[i]);
    }
    CHECK(ok && g_counter == 8, "WaitForSingleObject(INFINITE) joins each; GetExitCodeThread gives its return value");

    th[0] = CreateThread(NULL, 0, exit_thread, NULL, 0, NULL);
    CHECK(th[0] && WaitForSingleObject(th[0], LONG_WAIT) == WAIT_OBJECT_0 && GetExitCodeThread(th[0], &code) &&
              code == 42,
          "ExitThread(42): the HANDLE is signaled, exit code 42");
    CloseHandle(th[0]);

    th[0] = CreateThread(NULL, 0, report_id, &seen, 0, &id);
    CHECK(th[0] && WaitForSingleObject(th[0], LONG_WAIT) == WAIT_OBJECT_0 && id != 0 && id == seen &&
              id != GetCurrentThreadId(),
          "CreateThread's thread id (%u) is the thread's GetCurrentThreadId (%u), not the caller's (%u)",
          (unsigned)id, (unsigned)seen, (unsigned)GetCurrentThreadId());
    CloseHandle(th[0]);

    /* A thread whose HANDLE is closed at once runs to its end all the same. */
    g_counter = 0;
    th[0] = CreateThread(NULL, 0, return_code, NULL, 0, NULL);
    CHECK(th[0] && CloseHandle(th[0]) && counter_reaches(1), "a thread whose HANDLE was closed still runs");

    /* ---- events: auto-reset against manual-reset, initial state. */
    e1 = CreateEvent(NULL, FALSE, FALSE, NULL);
    CHECK(e1 && WaitForSingleObject(e1, 0) == WAIT_TIMEOUT, "auto-reset event, initially clear: WAIT_TIMEOUT");
    CHECK(SetEvent(e1) && WaitForSingleObject(e1, 0) == WAIT_OBJECT_0 && WaitForSingleObject(e1, 0) == WAIT_TIMEOUT,
          "auto-reset: SetEvent satisfies one wait, which resets it");
    CHECK(SetEvent(e1) && ResetEvent(e1) && WaitForSingleObject(e1, 0) == WAIT_TIMEOUT, "auto-reset: ResetEvent clears it");
    CloseHandle(e1);

    e2 = CreateEventA(NULL, TRUE, TRUE, "ignored name");
    CHECK(e2 && WaitForSingleObject(e2, 0) == WAIT_OBJECT_0 && WaitForSingleObject(e2, 0) == WAIT_OBJECT_0,
          "manual-reset event, initially set: every wait is satisfied");
    CHECK(ResetEvent(e2) && WaitForSingleObject(e2, 0) == WAIT_TIMEOUT, "manual-reset: ResetEvent clears it");
    CloseHandle(e2);

    t0 = now_ms();
    e1 = CreateEventW(NULL, FALSE, FALSE, NULL);
    rc = WaitForSingleObject(e1, 100);
    CHECK(rc == WAIT_TIMEOUT && now_ms() - t0 >= 99, "a 100 ms wait on a clear event: WAIT_TIMEOUT, not early");

    /* One SetEvent on an auto-reset event releases one of two waiters; the next releases the other. */
    g_counter = 0;
    th[0] = CreateThread(NULL, 0, wait_then_count, e1, 0, NULL);
    th[1] = CreateThread(NULL, 0, wait_then_count, e1, 0, NULL);
    Sleep(100);
    CHECK(g_counter == 0, "two threads wait on the auto-reset event");
    SetEvent(e1);
    CHECK(counter_reaches(1), "SetEvent on the auto-reset event: one waiter goes on");
    Sleep(200);
    CHECK(g_counter == 1 && WaitForMultipleObjects(2, th, TRUE, 0) == WAIT_TIMEOUT,
          "the other still waits (its thread has not ended)");
    SetEvent(e1);
    CHECK(WaitForMultipleObjects(2, th, TRUE, LONG_WAIT) == WAIT_OBJECT_0 && g_counter == 2,
          "the second SetEvent releases it: both threads end (wait-all on the two thread HANDLEs)");
    CloseHandle(th[0]);
    CloseHandle(th[1]);
    CloseHandle(e1);

    /* A manual-reset event releases every waiter. */
    g_counter = 0;
    e2 = CreateEvent(NULL, TRUE, FALSE, NULL);
    for (i = 0; i < 4; i++)
        th[i] = CreateThread(NULL, 0, wait_then_count, e2, 0, NULL);
    SetEvent(e2);
    CHECK(WaitForMultipleObjects(4, th, TRUE, LONG_WAIT) == WAIT_OBJECT_0 && g_counter == 4,
          "SetEvent on a manual-reset event releases all four waiters");
    for (i = 0; i < 4; i++)
        CloseHandle(th[i]);
    CloseHandle(e2);

    /* ---- WaitForMultipleObjects: any. */
    ev[0] = CreateEvent(NULL, TRUE, FALSE, NULL);
    ev[1] = CreateEvent(NULL, FALSE, FALSE, NULL);
    t0 = now_ms();
    CHECK(WaitForMultipleObjects(2, ev, FALSE, 50) == WAIT_TIMEOUT && now_ms() - t0 >= 49,
          "wait-any on two clear events, 50 ms: WAIT_TIMEOUT, not early");
    SetEvent(ev[1]);
    CHECK(WaitForMultipleObjects(2, ev, FALSE, 0) == WAIT_OBJECT_0 + 1, "wait-any: the second is set: WAIT_OBJECT_0 + 1");
    CHECK(WaitForSingleObject(ev[1], 0) == WAIT_TIMEOUT, "wait-any consumed the auto-reset event");
    SetEvent(ev[0]);
    SetEvent(ev[1]);
    CHECK(WaitForMultipleObjects(2, ev, FALSE, 0) == WAIT_OBJECT_0, "wait-any with both set: the lowest index");
    CHECK(WaitForSingleObject(ev[1], 0) == WAIT_OBJECT_0, "... and only that one is consumed (the second stays set)");
    ResetEvent(ev[0]);
    th[0] = CreateThread(NULL, 0, set_later, ev[1], 0, NULL);
    CHECK(WaitForMultipleObjects(2, ev, FALSE, LONG_WAIT) == WAIT_OBJECT_0 + 1,
          "wait-any blocks until another thread sets the second event");
    mixed[0] = th[0];
    mixed[1] = ev[0];
    CHECK(WaitForMultipleObjects(2, mixed, FALSE, LONG_WAIT) == WAIT_OBJECT_0 && GetExitCodeThread(th[0], &code) &&
              code == 7,
          "wait-any on a thread and an event: the thread's end (index 0, exit code 7)");
    CloseHandle(th[0]);

    /* ---- WaitForMultipleObjects: all. */
    ResetEvent(ev[0]);
    ResetEvent(ev[1]);
    SetEvent(ev[1]); /* auto-reset, set */
    CHECK(WaitForMultipleObjects(2, ev, TRUE, 30) == WAIT_TIMEOUT, "wait-all with one of two set: WAIT_TIMEOUT");
    CHECK(WaitForSingleObject(ev[1], 0) == WAIT_OBJECT_0,
          "a wait-all that timed out consumed nothing (the auto-reset event was still set)");
    th[0] = CreateThread(NULL, 0, set_later, ev[0], 0, NULL);
    SetEvent(ev[1]);
    CHECK(WaitForMultipleObjects(2, ev, TRUE, LONG_WAIT) == WAIT_OBJECT_0,
          "wait-all returns once another thread sets the last one");
    CHECK(WaitForSingleObject(ev[1], 0) == WAIT_TIMEOUT && WaitForSingleObject(ev[0], 0) == WAIT_OBJECT_0,
          "the satisfied wait-all reset the auto-reset event, not the manual one");
    CHECK(WaitForSingleObject(th[0], LONG_WAIT) == WAIT_OBJECT_0, "the setter thread ends");
    CloseHandle(th[0]);

    /* ---- refusals. */
    SetLastError(0);
    CHECK(WaitForSingleObject(NULL, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE,
          "WaitForSingleObject(NULL): WAIT_FAILED, ERROR_INVALID_HANDLE");
    SetLastError(0);
    CHECK(WaitForSingleObject(INVALID_HANDLE_VALUE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE,
          "WaitForSingleObject(INVALID_HANDLE_VALUE): WAIT_FAILED, ERROR_INVALID_HANDLE");
    SetLastError(0);
    CHECK(WaitForMultipleObjects(0, ev, FALSE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_PARAMETER,
          "WaitForMultipleObjects(0, ...): WAIT_FAILED, ERROR_INVALID_PARAMETER");
    SetLastError(0);
    CHECK(WaitForMultipleObjects(MAXIMUM_WAIT_OBJECTS + 1, ev, FALSE, 0) == WAIT_FAILED &&
              GetLastError() == ERROR_INVALID_PARAMETER,
          "WaitForMultipleObjects(MAXIMUM_WAIT_OBJECTS + 1, ...): WAIT_FAILED, ERROR_INVALID_PARAMETER");
    mixed[0] = ev[0];
    mixed[1] = ev[0];
    SetLastError(0);
    CHECK(WaitForMultipleObjects(2, mixed, TRUE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_PARAMETER,
          "wait-all with a handle given twice: WAIT_FAILED, ERROR_INVALID_PARAMETER");
    CHECK(WaitForMultipleObjects(2, mixed, FALSE, 0) == WAIT_OBJECT_0, "wait-any may name one handle twice");
    th[0] = CreateThread(NULL, 0, return_code, NULL, 0, NULL);
    SetLastError(0);
    CHECK(!SetEvent(th[0]) && GetLastError() == ERROR_INVALID_HANDLE, "SetEvent on a thread HANDLE: FALSE");
    WaitForSingleObject(th[0], LONG_WAIT);
    CloseHandle(th[0]);
    SetLastError(0);
    CHECK(!CloseHandle(NULL) && GetLastError() == ERROR_INVALID_HANDLE, "CloseHandle(NULL): FALSE");
    SetLastError(0);
    CHECK(CreateThread(NULL, 0, NULL, NULL, 0, NULL) == NULL && GetLastError() == ERROR_INVALID_PARAMETER,
          "CreateThread without a procedure: NULL, ERROR_INVALID_PARAMETER");
    SetLastError(0);
    CHECK(CreateThread(NULL, 0, return_code, NULL, CREATE_SUSPENDED, NULL) == NULL &&
              GetLastError() == ERROR_NOT_SUPPORTED,
          "CreateThread(CREATE_SUSPENDED): NULL, ERROR_NOT_SUPPORTED");
    CloseHandle(ev[0]);
    CloseHandle(ev[1]);
    return finish();
}
