/*
 * delivery.c - what `send` accepted reaches the peer, whatever ends the connection.
 *
 * Against the STARTTLS server's SINK command (tests/servers/starttls_server.py): the server reads
 * nothing for a while, then takes every byte until the client's close_notify or the end of TCP and
 * logs "SINK-END <client> <bytes> <first byte off the pattern, -1: none> <how it ended>". TLS 1.3:
 * the server's session tickets lie unread in the client's kernel receive queue all along.
 *
 * 1. A blocking send of 4 MiB, then closesocket at once: every byte arrives (a close with unread
 *    bytes, the tickets, would make TCP reset the connection and drop its send queue).
 * 2. A non-blocking socket sends until WSAEWOULDBLOCK (records the library took whole but the kernel
 *    had no room for wait in its send buffer), then shutdown(SD_SEND), a pause, closesocket: every
 *    accepted byte arrives, then close_notify.
 * 3. The same with closesocket after the pause and no shutdown.
 * 4. sendfile(s, file, NULL, n) on a non-blocking socket, retried on EAGAIN after poll: the file
 *    arrives whole and in order (a failed call does not move the file position past unsent bytes);
 *    then the socket is made blocking and shutdown(SD_SEND) waits until the last records are out.
 *
 * Not covered, because it is not promised: closesocket at once after a non-blocking send that left
 * records in the library's send buffer (at most 72 KiB) sends what the kernel takes at that moment
 * and drops the rest (docs/api.md, closesocket).
 */
#include "common.h"
#include "failclosed.h"

#include <poll.h>
#include <sys/sendfile.h>

#define SINK_DELAY_MS 1500

/* Wait (bounded) for the SINK-END line of `port` in the server's log; fills total, bad, end. */
static int sink_result(const char *log, long from, int port, long long *total, long long *bad, char *end, size_t cap)
{
    char want[64];
    snprintf(want, sizeof want, "SINK-END 127.0.0.1:%d ", port);
    for (int i = 0; i < 600; i++) { /* up to 60 s: a loaded machine is slow, never a reason to fail */
        FILE *f = fopen(log, "r");
        char line[512];
        if (f) {
            fseek(f, from, SEEK_SET);
            while (fgets(line, sizeof line, f)) {
                if (strncmp(line, want, strlen(want)) == 0) {
                    char e[64] = "";
                    if (sscanf(line + strlen(want), "%lld %lld %63s", total, bad, e) == 3) {
                        snprintf(end, cap, "%s", e);
                        fclose(f);
                        return 0;
                    }
                }
            }
            fclose(f);
        }
        usleep(100 * 1000);
    }
    return -1;
}

/* A secure socket to the STARTTLS server in immediate mode, the server in SINK mode. */
static SOCKET sink_socket(int port, int *local)
{
    char line[256], cmd[64];
    SOCKET s = fc_connect_immediate(port, 20000, local);
    if (s == INVALID_SOCKET)
        return s;
    snprintf(cmd, sizeof cmd, "SINK %d\r\n", SINK_DELAY_MS);
    if (send_str(s, cmd) != 0 || recv_line(s, line, sizeof line) < 0 || strcmp(line, "SINK OK") != 0) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

static void check_sink(const char *what, const char *log, long from, int port, long long sent, int want_notify)
{
    long long total = -1, bad = -2;
    char end[64] = "?";
    if (!CHECK(sink_result(log, from, port, &total, &bad, end, sizeof end) == 0, "%s: the server logged the end",
               what))
        return;
    CHECK(total == sent && bad == -1, "%s: every accepted byte arrived, in order (%lld of %lld, first wrong %lld)",
          what, total, sent, bad);
    if (want_notify)
        CHECK(strcmp(end, "close_notify") == 0, "%s: the stream ended with close_notify (%s)", what, end);
}

static long long send_until_full(SOCKET s, unsigned char *pat, size_t cap)
{
    long long acc = 0;
    int would_block = 0;
    u_long on = 1;
    ioctlsocket(s, FIONBIO, &on);
    while (would_block < 3 && acc < (long long)(cap - 20000)) {
        int n = send(s, (const char *)pat + acc, 7000, 0);
        if (n > 0) {
            acc += n;
            continue;
        }
        if (WSAGetLastError() != WSAEWOULDBLOCK)
            break;
        would_block++;
        usleep(1000);
    }
    return acc;
}

int main(void)
{
    int port = env_port("T_PORT_STARTTLS"), local = 0;
    const char *log = fc_starttls_log();
    long from = fc_log_size(log);
    size_t cap = 8u << 20;
    unsigned char *pat = malloc(cap);
    WSADATA wsa;
    start_watchdog(240);
    WSAStartup(MAKEWORD(2, 2), &wsa);
    if (!pat)
        return 2;
    for (size_t i = 0; i < cap; i++)
        pat[i] = pattern_byte(i);

    /* 1 */
    {
        SOCKET s = sink_socket(port, &local);
        int sndbuf = 16384;
        if (CHECK(s != INVALID_SOCKET, "1: secure socket in SINK mode (%s)", fc_why)) {
            setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&sndbuf, sizeof sndbuf);
            CHECK(send_all(s, pat, 4u << 20) == 0, "1: a blocking send of 4 MiB");
            CHECK(closesocket(s) == 0, "1: closesocket at once");
            check_sink("1: closesocket right after a large send", log, from, local, 4 << 20, 0);
        }
    }
    /* 2 and 3 */
    for (int shut = 1; shut >= 0; shut--) {
        const char *what = shut ? "2: shutdown(SD_SEND) with records waiting" : "3: closesocket with records waiting";
        SOCKET s = sink_socket(port, &local);
        int sndbuf = 16384;
        if (!CHECK(s != INVALID_SOCKET, "%s: secure socket in SINK mode (%s)", what, fc_why))
            continue;
        setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&sndbuf, sizeof sndbuf);
        long long acc = send_until_full(s, pat, cap);
        CHECK(acc > 0, "%s: the non-blocking sends took %lld bytes before WSAEWOULDBLOCK", what, acc);
        if (shut)
            CHECK(shutdown(s, SD_SEND) == 0, "%s: shutdown returns 0", what);
        usleep((SINK_DELAY_MS + 1500) * 1000); /* the server reads meanwhile: room comes */
        CHECK(closesocket(s) == 0, "%s: closesocket", what);
        check_sink(what, log, from, local, acc, shut);
    }
    /* 4 */
    {
        char path[] = "/tmp/sslsock-delivery-XXXXXX";
        int fd = mkstemp(path);
        SOCKET s = sink_socket(port, &local);
        long long file_size = 3 << 20, done = 0;
        int sndbuf = 16384, failures = 0;
        if (CHECK(fd >= 0 && s != INVALID_SOCKET, "4: a file and a secure socket in SINK mode (%s)", fc_why)) {
            unlink(path);
            CHECK(write(fd, pat, (size_t)file_size) == file_size && lseek(fd, 0, SEEK_SET) == 0, "4: the file");
            setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&sndbuf, sizeof sndbuf);
            u_long on = 1;
            ioctlsocket(s, FIONBIO, &on);
            while (done < file_size && failures < 100000) {
                ssize_t n = sendfile(s, fd, NULL, (size_t)(file_size - done));
                if (n > 0) {
                    done += n;
                    continue;
                }
                if (n < 0 && errno == EAGAIN) {
                    struct pollfd p = {s, POLLOUT, 0};
                    failures++;
                    poll(&p, 1, 1000);
                    continue;
                }
                break;
            }
            CHECK(done == file_size, "4: sendfile sent the whole file (%lld of %lld, %d EAGAIN)", done, file_size,
                  failures);
            CHECK(lseek(fd, 0, SEEK_CUR) == file_size, "4: the file position is at the end (%lld)",
                  (long long)lseek(fd, 0, SEEK_CUR));
            /* Blocking again: shutdown waits (SO_SNDTIMEO) until the records the library took are in
             * the kernel, our close_notify last. */
            on = 0;
            ioctlsocket(s, FIONBIO, &on);
            CHECK(shutdown(s, SD_SEND) == 0, "4: shutdown(SD_SEND) on the blocking socket");
            CHECK(closesocket(s) == 0, "4: closesocket");
            check_sink("4: sendfile(NULL offset) on a non-blocking socket", log, from, local, done, 1);
        }
        if (fd >= 0)
            close(fd);
    }
    free(pat);
    WSACleanup();
    return finish();
}
