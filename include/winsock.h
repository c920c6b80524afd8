/*
 * winsock.h - Windows CE programs include either <winsock.h> or <winsock2.h>;
 * sslsock has one interface, in winsock2.h.
 */
#ifndef SSLSOCK_WINSOCK_H
#define SSLSOCK_WINSOCK_H
#include "winsock2.h"
#endif /* SSLSOCK_WINSOCK_H */
