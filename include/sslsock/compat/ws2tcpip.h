/*
 * ws2tcpip.h - part of sslsock's compat set (docs/porting.md): <winsock2.h> plus the Windows names
 * of the POSIX address-resolution types.  getaddrinfo/freeaddrinfo/getnameinfo/inet_pton/inet_ntop
 * are libc's (from <netdb.h> and <arpa/inet.h>): getaddrinfo returns EAI_* codes (EAI_NONAME is
 * negative here; on Windows it equals WSAHOST_NOT_FOUND) and does not set WSAGetLastError().
 */
#ifndef SSLSOCK_COMPAT_WS2TCPIP_H
#define SSLSOCK_COMPAT_WS2TCPIP_H

#include "windows.h"

typedef struct addrinfo ADDRINFOA, *PADDRINFOA, ADDRINFO, *LPADDRINFO;
typedef struct sockaddr_in6 SOCKADDR_IN6, *PSOCKADDR_IN6, *LPSOCKADDR_IN6;
typedef struct in6_addr IN6_ADDR, *PIN6_ADDR, *LPIN6_ADDR;
typedef struct ip_mreq IP_MREQ, *PIP_MREQ;

#endif /* SSLSOCK_COMPAT_WS2TCPIP_H */
