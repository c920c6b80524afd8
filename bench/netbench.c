/*
 * netbench.c - plain-socket loopback benchmarks for bench/preload.sh (no sslsock API used: the
 * program knows nothing of sslsock, it is run with and without tools/sslsock-run).
 *
 *   netbench pingpong-server           listen on 127.0.0.1 (kernel-chosen port), print "PORT n",
 *                                      accept one client, answer each 1-byte message with 1 byte
 *                                      (recv/send) until the client closes
 *   netbench pingpong-client PORT N    connect, N round trips of 1 byte (send, then recv),
 *                                      print "SECONDS s" (only the round trips are timed)
 *   netbench sink-server               accept one client, read(2) in 128 KiB pieces until EOF,
 *                                      then write the 8-byte count back and close
 *   netbench source-client PORT BYTES  write(2) BYTES in 128 KiB pieces, shutdown(SHUT_WR), wait for
 *                                      the count, check it, print "SECONDS s" (from the first write to
 *                                      the count)
 *   netbench epoll-server              as pingpong-server, driven by a level-triggered epoll loop (the
 *                                      listening socket and the connection in one epoll set,
 *                                      epoll_wait before each recv)
 *   netbench epoll-client PORT N       as pingpong-client, with epoll_wait before each recv
 * Both sockets use TCP_NODELAY. Exit status 0 on success.
 *
 *   cc -O2 -o netbench bench/netbench.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (128 * 1024)

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nodelay(int s)
{
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int listen_and_accept(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), c;
    if (l < 0)
        die("socket");
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0)
        die("bind/listen");
    if (getsockname(l, (struct sockaddr *)&a, &len) < 0)
        die("getsockname");
    printf("PORT %d\n", ntohs(a.sin_port));
    fflush(stdout);
    c = accept(l, NULL, NULL);
    if (c < 0)
        die("accept");
    close(l);
    nodelay(c);
    return c;
}

static int connect_to(int port)
{
    struct sockaddr_in a;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        die("socket");
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    nodelay(s);
    return s;
}

int main(int argc, char **argv)
{
    static char buf[CHUNK];
    const char *mode = argc > 1 ? argv[1] : "";

    if (strcmp(mode, "pingpong-server") == 0) {
        int c = listen_and_accept();
        char b;
        ssize_t r;
        while ((r = recv(c, &b, 1, 0)) == 1)
            if (send(c, &b, 1, 0) != 1)
                die("send");
        if (r < 0)
            die("recv");
        close(c);
        return 0;
    }
    if (strcmp(mode, "pingpong-client") == 0 && argc == 4) {
        int s = connect_to(atoi(argv[2]));
        long n = atol(argv[3]), i;
        char b = 'x', back;
        double t0 = now();
        for (i = 0; i < n; i++) {
            if (send(s, &b, 1, 0) != 1)
                die("send");
            if (recv(s, &back, 1, 0) != 1)
                die("recv");
        }
        printf("SECONDS %.6f\n", now() - t0);
        close(s);
        return 0;
    }
    if (strcmp(mode, "epoll-server") == 0) {
        int c = listen_and_accept(), ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7}, got[4];
        char b;
        ssize_t r = 1;
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0)
            die("epoll");
        while (r == 1) {
            int n = epoll_wait(ep, got, 4, -1);
            if (n != 1 || got[0].data.u64 != 7)
                die("epoll_wait");
            r = recv(c, &b, 1, 0);
            if (r == 1 && send(c, &b, 1, 0) != 1)
                die("send");
        }
        if (r < 0)
            die("recv");
        close(c);
        close(ep);
        return 0;
    }
    if (strcmp(mode, "epoll-client") == 0 && argc == 4) {
        int s = connect_to(atoi(argv[2])), ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 9}, got[4];
        long n = atol(argv[3]), i;
        char b = 'x', back;
        double t0;
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0)
            die("epoll");
        t0 = now();
        for (i = 0; i < n; i++) {
            if (send(s, &b, 1, 0) != 1)
                die("send");
            if (epoll_wait(ep, got, 4, -1) != 1 || got[0].data.u64 != 9)
                die("epoll_wait");
            if (recv(s, &back, 1, 0) != 1)
                die("recv");
        }
        printf("SECONDS %.6f\n", now() - t0);
        close(s);
        close(ep);
        return 0;
    }
    if (strcmp(mode, "sink-server") == 0) {
        int c = listen_and_accept();
        uint64_t total = 0;
        ssize_t r;
        while ((r = read(c, buf, sizeof buf)) > 0)
            total += (uint64_t)r;
        if (r < 0)
            die("read");
        if (write(c, &total, sizeof total) != (ssize_t)sizeof total)
            die("write");
        close(c);
        return 0;
    }
    if (strcmp(mode, "source-client") == 0 && argc == 4) {
        int s = connect_to(atoi(argv[2]));
        uint64_t want = strtoull(argv[3], NULL, 10), sent = 0, got = 0;
        double t0;
        memset(buf, 'z', sizeof buf);
        t0 = now();
        while (sent < want) {
            size_t n = want - sent < CHUNK ? (size_t)(want - sent) : CHUNK;
            ssize_t w = write(s, buf, n);
            if (w <= 0)
                die("write");
            sent += (uint64_t)w;
        }
        if (shutdown(s, SHUT_WR) < 0)
            die("shutdown");
        if (read(s, &got, sizeof got) != (ssize_t)sizeof got)
            die("read count");
        printf("SECONDS %.6f\n", now() - t0);
        if (got != want) {
            fprintf(stderr, "server counted %llu bytes, sent %llu\n", (unsigned long long)got,
                    (unsigned long long)want);
            return 1;
        }
        close(s);
        return 0;
    }
    fprintf(stderr, "usage: %s pingpong-server | pingpong-client PORT N | epoll-server | epoll-client PORT N | "
                    "sink-server | source-client PORT BYTES\n",
            argv[0]);
    return 2;
}
