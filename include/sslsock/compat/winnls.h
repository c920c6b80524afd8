/*
 * winnls.h - part of sslsock's compat set (docs/porting.md): everything is in <windows.h>.
 */
#ifndef SSLSOCK_COMPAT_WINNLS_H
#define SSLSOCK_COMPAT_WINNLS_H
#include "windows.h"
#endif
