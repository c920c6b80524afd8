/*
 * tchar.h - the ANSI (_MBCS-less, "SBCS") mapping of Windows' <tchar.h>, part of sslsock's compat
 * set (docs/porting.md).  _TCHAR is char and every _tcs / _t name is the char function of libc.
 * UNICODE / _UNICODE are refused by <windows.h>, which this includes.
 *
 * Differences from Windows worth knowing: _sntprintf (snprintf) always terminates and returns the
 * length the whole output needs, where Windows' _snprintf returns -1 unterminated on truncation;
 * _tcsicmp compares ASCII case-insensitively.
 */
#ifndef SSLSOCK_COMPAT_TCHAR_H
#define SSLSOCK_COMPAT_TCHAR_H

#include "windows.h"

typedef char _TCHAR;
typedef char _TSCHAR;
typedef unsigned char _TUCHAR;
typedef char _TXCHAR;
typedef int _TINT;

#define _TEOF EOF
#define __T(x) x
#define _T(x) __T(x)
#define _TEXT(x) __T(x)

#define _tmain main
#define _tWinMain WinMain

/* formatted I/O */
#define _tprintf printf
#define _ftprintf fprintf
#define _stprintf sprintf
#define _sntprintf snprintf
#define _vtprintf vprintf
#define _vftprintf vfprintf
#define _vstprintf vsprintf
#define _vsntprintf vsnprintf
#define _tscanf scanf
#define _ftscanf fscanf
#define _stscanf sscanf

/* strings */
#define _tcslen strlen
#define _tcsclen strlen
#define _tcscpy strcpy
#define _tcsncpy strncpy
#define _tcscat strcat
#define _tcsncat strncat
#define _tcscmp strcmp
#define _tcsncmp strncmp
#define _tcsicmp _stricmp
#define _tcsnicmp _strnicmp
#define _tcschr strchr
#define _tcsrchr strrchr
#define _tcsstr strstr
#define _tcstok strtok
#define _tcsspn strspn
#define _tcscspn strcspn
#define _tcspbrk strpbrk
#define _tcsdup strdup
#define _tcsftime strftime

/* conversions */
#define _tcstol strtol
#define _tcstoul strtoul
#define _tcstod strtod
#define _ttoi atoi
#define _ttol atol
#define _tstoi atoi
#define _tstol atol

/* character classes */
#define _istalpha isalpha
#define _istalnum isalnum
#define _istdigit isdigit
#define _istxdigit isxdigit
#define _istspace isspace
#define _istupper isupper
#define _istlower islower
#define _istprint isprint
#define _istpunct ispunct
#define _totupper toupper
#define _totlower tolower

/* files and environment */
#define _tfopen fopen
#define _fgetts fgets
#define _fputts fputs
#define _gettc getc
#define _puttc putc
#define _fgettc fgetc
#define _fputtc fputc
#define _tgetenv getenv
#define _tremove remove
#define _trename rename

#endif /* SSLSOCK_COMPAT_TCHAR_H */
