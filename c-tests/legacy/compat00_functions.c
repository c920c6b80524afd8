/*
 * The functions of the compat <windows.h> and <tchar.h> (include/sslsock/compat), checked against
 * Windows' documented results: FILETIME/SYSTEMTIME conversions, recursive CRITICAL_SECTION,
 * Interlocked*, lstr*, wsprintf, MultiByteToWideChar/WideCharToMultiByte, Sleep/GetTickCount,
 * GetLastError/SetLastError (the same value as WSAGetLastError).  Not a pattern: test scaffolding.
 */
#include <windows.h>
#include <tchar.h>
#include "legacy_test.h"

#define CHECK_T(c) CHECK((c), "compat: %s", #c)

int main(void)
{
    SYSTEMTIME st, st2;
    FILETIME ft;
    CRITICAL_SECTION cs;
    TCHAR buf[8];
    WCHAR w[16];
    char a[16];
    DWORD t0, t1;
    LONG volatile v = 5;
    int n;

    memset(&st, 0, sizeof st);
    st.wYear = 1970; st.wMonth = 1; st.wDay = 1;
    CHECK_T(SystemTimeToFileTime(&st, &ft));
    CHECK_T(ft.dwHighDateTime == 0x019DB1DE && ft.dwLowDateTime == 0xD53E8000);
    st.wYear = 1601;
    CHECK_T(SystemTimeToFileTime(&st, &ft) && ft.dwHighDateTime == 0 && ft.dwLowDateTime == 0);
    st.wYear = 2000; st.wMonth = 2; st.wDay = 29; st.wHour = 12; st.wMinute = 34; st.wSecond = 56; st.wMilliseconds = 789;
    CHECK_T(SystemTimeToFileTime(&st, &ft));
    CHECK_T(FileTimeToSystemTime(&ft, &st2));
    CHECK_T(st2.wYear == 2000 && st2.wMonth == 2 && st2.wDay == 29 && st2.wHour == 12 && st2.wMinute == 34 &&
      st2.wSecond == 56 && st2.wMilliseconds == 789 && st2.wDayOfWeek == 2);
    st.wYear = 2024; st.wMonth = 1; st.wDay = 1; st.wHour = 0;
    CHECK_T(SystemTimeToFileTime(&st, &ft) && FileTimeToSystemTime(&ft, &st2) && st2.wDayOfWeek == 1);
    st.wYear = 2023; st.wMonth = 2; st.wDay = 29;
    SetLastError(0);
    CHECK_T(!SystemTimeToFileTime(&st, &ft) && GetLastError() == ERROR_INVALID_PARAMETER);
    GetSystemTime(&st);
    CHECK_T(st.wYear >= 2024);
    {
        FILETIME a1, a2;
        GetSystemTimeAsFileTime(&a1);
        SystemTimeToFileTime(&st, &a2);
        CHECK_T(CompareFileTime(&a2, &a1) <= 0);
        CHECK_T(CompareFileTime(&a1, &a1) == 0);
    }

    InitializeCriticalSection(&cs);
    EnterCriticalSection(&cs);
    EnterCriticalSection(&cs);            /* recursive, as on Windows */
    CHECK_T(TryEnterCriticalSection(&cs));
    LeaveCriticalSection(&cs);
    LeaveCriticalSection(&cs);
    LeaveCriticalSection(&cs);
    DeleteCriticalSection(&cs);

    CHECK_T(InterlockedIncrement(&v) == 6 && InterlockedDecrement(&v) == 5 && InterlockedExchange(&v, 9) == 5 &&
      InterlockedCompareExchange(&v, 1, 9) == 9 && v == 1 && InterlockedCompareExchange(&v, 3, 9) == 1 && v == 1 &&
      InterlockedExchangeAdd(&v, 2) == 1 && v == 3);

    CHECK_T(lstrcpyn(buf, TEXT("abcdefghij"), 8) == buf && lstrcmp(buf, TEXT("abcdefg")) == 0);
    CHECK_T(lstrlen(NULL) == 0 && lstrlen(TEXT("abc")) == 3);
    CHECK_T(lstrcmpi(TEXT("Hello"), TEXT("hELLO")) == 0 && lstrcmpi(TEXT("a"), TEXT("B")) < 0);
    CHECK_T(_tcsicmp(_T("X-Y"), _T("x-y")) == 0 && _tcsnicmp(_T("abcD"), _T("ABCe"), 3) == 0);
    lstrcpy(buf, TEXT("ab"));
    lstrcat(buf, TEXT("cd"));
    CHECK_T(_tcscmp(buf, _T("abcd")) == 0);
    n = wsprintf(buf, TEXT("%d-%s"), 42, "x");
    CHECK_T(n == 4 && lstrcmp(buf, "42-x") == 0);

    n = MultiByteToWideChar(CP_UTF8, 0, "h\xc3\xa9llo", -1, NULL, 0);
    CHECK_T(n == 6);
    CHECK_T(MultiByteToWideChar(CP_ACP, 0, "h\xc3\xa9llo", -1, w, 16) == 6 && w[1] == 0xE9 && w[5] == 0);
    CHECK_T(MultiByteToWideChar(CP_ACP, 0, "h\xc3\xa9llo", -1, w, 3) == 0 && GetLastError() == ERROR_INSUFFICIENT_BUFFER);
    CHECK_T(MultiByteToWideChar(CP_ACP, 0, "a\xff", 2, w, 16) == 2 && w[1] == 0xFFFD);
    CHECK_T(MultiByteToWideChar(CP_ACP, MB_ERR_INVALID_CHARS, "a\xff", 2, w, 16) == 0 &&
      GetLastError() == ERROR_NO_UNICODE_TRANSLATION);
    CHECK_T(MultiByteToWideChar(1252u + 1000u, 0, "a", 1, w, 16) == 0 && GetLastError() == ERROR_INVALID_PARAMETER);
    CHECK_T(WideCharToMultiByte(CP_ACP, 0, L"h\x00e9\x20ac", -1, NULL, 0, NULL, NULL) == 7);
    CHECK_T(WideCharToMultiByte(CP_UTF8, 0, L"h\x00e9\x20ac", -1, a, 16, NULL, NULL) == 7 &&
      strcmp(a, "h\xc3\xa9\xe2\x82\xac") == 0);
    CHECK_T(WideCharToMultiByte(CP_UTF8, 0, L"localhost", 9, a, 16, NULL, NULL) == 9);
    CHECK_T(lstrlenW(L"abc") == 3 && lstrcmpiW(L"ABC", L"abc") == 0);

    t0 = GetTickCount();
    Sleep(120);
    t1 = GetTickCount();
    CHECK_T(t1 - t0 >= 115 && t1 - t0 < 1000);
    SetLastError(WSAECONNREFUSED);
    CHECK_T(GetLastError() == WSAECONNREFUSED && WSAGetLastError() == WSAECONNREFUSED);
    SetLastError(0);
    CHECK_T(ARRAYSIZE(buf) == 8);
    CHECK_T(max(3, 4) == 4 && min(3, 4) == 3);
    return lt_finish();
}
