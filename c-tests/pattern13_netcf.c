/*
 * Pattern 13 - .NET Compact Framework helpers (three projects), as their
 * P/Invoke and Socket calls reach Winsock:
 *   Socket.SetSocketOption((SocketOptionLevel)0xFFFF, (SocketOptionName)0x2001, 0x2004)
 *     -> setsockopt(s, 0xFFFF, 0x2001, &(int)0x2004, 4)
 *   Socket.IOControl(unchecked((int)0x90730008), inBytes, null)
 *     -> WSAIoctl(s, (int)0x90730008, in, cbIn, NULL, 0, &bytesTransferred, NULL, NULL)
 *   the hook delegate reads the BLOB as {int32 size, pointer};
 *   optional DEFER and PERFORM_HANDSHAKE(NULL, NULL).
 */
#include <winsock2.h>
#include <sslsock.h>
#include "common.h"

/* The codes as the C# sources write them: negative 32-bit ints. */
static const int IOC_SET_HOOK = (int)0x90730008;
static const int IOC_SET_FLAGS = (int)0x90730002;
static const int IOC_PERFORM_HANDSHAKE = (int)0x1073000D;
static const int IOC_GET_CONNECTION_INFO = (int)0x5073000E;
static const int SO_SECURE_NET = 0x2001;
static const int SO_SEC_SSL_NET = 0x2004;
static const int LEVEL_SOCKET_NET = 0xFFFF;

/* How the managed hook marshals a BLOB. */
struct net_blob {
    int32_t cbSize;
    unsigned char *pBlobData;
};

static struct hook_record g_rec;

static int CALLBACK net_cert_hook(DWORD dwType, LPVOID pvArg, DWORD dwChainLen, LPBLOB pCertChain,
                                  DWORD dwFlags)
{
    const struct net_blob *blob = (const struct net_blob *)pCertChain;
    BLOB managed;
    /* the managed side reads {int32 size, pointer} and copies the bytes out:
     * record what that view sees */
    managed.cbSize = (dwChainLen >= 1 && blob && blob[0].cbSize > 0) ? (ULONG)blob[0].cbSize : 0;
    managed.pBlobData = (dwChainLen >= 1 && blob) ? blob[0].pBlobData : NULL;
    hook_note(&g_rec, dwType, pvArg, dwChainLen, &managed, dwFlags);
    if (managed.cbSize == 0 || managed.pBlobData == NULL)
        return SSL_ERR_BAD_DATA;
    if (dwType != SSL_CERT_X509 || dwFlags != 0)
        return SSL_ERR_CERT_UNKNOWN;
    return SSL_ERR_OKAY;
}

/* new Socket(...); SetSocketOption(0xFFFF, 0x2001, 0x2004); IOControl(hook) */
static SOCKET net_socket(LPVOID cookie, const char *what)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    unsigned char in[sizeof(SSLVALIDATECERTHOOK)];
    SSLVALIDATECERTFUNC fn = net_cert_hook;
    DWORD bytes = 0;
    int v = SO_SEC_SSL_NET, rc;

    CHECK(s != INVALID_SOCKET, "%s: socket()", what);
    rc = setsockopt(s, LEVEL_SOCKET_NET, SO_SECURE_NET, (const char *)&v, sizeof v);
    CHECK(rc == 0, "%s: setsockopt(0xFFFF, 0x2001, 0x2004)", what);
    /* the in buffer is built byte by byte, as the managed code does: {fn, arg} */
    memset(in, 0, sizeof in);
    memcpy(in, &fn, sizeof fn);
    memcpy(in + offsetof(SSLVALIDATECERTHOOK, pvArg), &cookie, sizeof cookie);
    rc = WSAIoctl(s, IOC_SET_HOOK, in, sizeof in, NULL, 0, &bytes, NULL, NULL);
    CHECK(rc == 0, "%s: IOControl((int)0x90730008 = %d, hook bytes, null)", what, IOC_SET_HOOK);
    return s;
}

static void check_blob_layout(void)
{
    CHECK(sizeof(struct net_blob) == sizeof(BLOB) && offsetof(struct net_blob, pBlobData) == offsetof(BLOB, pBlobData),
          "BLOB reads as {int32 size, pointer} (size %u, data at %u)", (unsigned)sizeof(BLOB),
          (unsigned)offsetof(BLOB, pBlobData));
}

int main(void)
{
    SOCKET s;
    SOCKADDR_IN addr;
    DWORD bytes;
    int rc, err;
    size_t good_len, self_len;
    unsigned char *good = read_pki("good.der", &good_len);
    unsigned char *self = read_pki("selfsigned.der", &self_len);
    LPVOID cookie = (LPVOID)(intptr_t)0x5EED;   /* a GCHandle-like value */
    char line[256];

    start_watchdog(55);
    check_blob_layout();

    /* ---- project A: immediate, HTTPS download through a NetworkStream ---- */
    hook_reset(&g_rec, 0);
    s = net_socket(cookie, "A");
    connect_addr(&addr, env_port("T_PORT_HTTPS"));
    rc = connect(s, (SOCKADDR *)&addr, sizeof addr);
    CHECK(rc == 0, "A: Connect returns 0 (handshake inside)");
    check_hook(&g_rec, 1, 0, cookie, good, good_len, "A");
    check_http_big(s, 8192, "A");
    CHECK(closesocket(s) == 0, "A: Close");

    /* ---- project A against a self-signed server: the delegate refuses ---- */
    hook_reset(&g_rec, 0);
    s = net_socket(cookie, "A self-signed");
    connect_addr(&addr, env_port("T_PORT_SELFSIGNED"));
    rc = connect(s, (SOCKADDR *)&addr, sizeof addr);
    err = WSAGetLastError();
    CHECK(rc == SOCKET_ERROR && err == WSAECONNABORTED,
          "A self-signed: Connect throws SocketException 10053 (rc %d, err %d)", rc, err);
    check_hook(&g_rec, 1, SSL_CERT_FLAG_ISSUER_UNKNOWN, cookie, self, self_len, "A self-signed");
    CHECK(send(s, "x", 1, 0) == SOCKET_ERROR, "A self-signed: a later Send fails");
    closesocket(s);

    /* ---- project B: DEFER, plaintext command, PERFORM_HANDSHAKE(NULL, NULL) ---- */
    hook_reset(&g_rec, 0);
    s = net_socket(NULL, "B");
    {
        unsigned char flags_in[4] = {SSL_FLAG_DEFER_HANDSHAKE, 0, 0, 0};   /* BitConverter.GetBytes(8) */
        rc = WSAIoctl(s, IOC_SET_FLAGS, flags_in, sizeof flags_in, NULL, 0, &bytes, NULL, NULL);
        CHECK(rc == 0, "B: IOControl((int)0x90730002, GetBytes(DEFER), null)");
    }
    connect_addr(&addr, env_port("T_PORT_STARTTLS"));
    CHECK(connect(s, (SOCKADDR *)&addr, sizeof addr) == 0, "B: Connect (plain TCP)");
    rc = recv_line(s, line, sizeof line);
    CHECK(rc >= 0 && strcmp(line, "220 sslsock-test ready") == 0, "B: plaintext greeting (got '%s')", line);
    CHECK(send_str(s, "TLS\r\n") == 0, "B: plaintext TLS command");
    rc = WSAIoctl(s, IOC_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &bytes, NULL, NULL);
    CHECK(rc == 0, "B: IOControl((int)0x1073000D, null, null) returns 0");
    check_hook(&g_rec, 1, 0, NULL, good, good_len, "B");
    CHECK(echo_roundtrip(s, "managed code"), "B: ECHO over TLS");
    CHECK(big_roundtrip(s, 70000, 8192), "B: BIG 70000 in 8192-byte reads, byte-exact");
    CHECK(send_str(s, "QUIT\r\n") == 0 && recv_line(s, line, sizeof line) >= 0 && strcmp(line, "BYE") == 0,
          "B: QUIT -> BYE");
    CHECK(recv(s, line, sizeof line, 0) == 0, "B: Receive returns 0 at the end");
    CHECK(closesocket(s) == 0, "B: Close");

    /* ---- project C: DEFER, PERFORM_HANDSHAKE(NULL, NULL) at once, connection info as bytes ---- */
    hook_reset(&g_rec, 0);
    s = net_socket(cookie, "C");
    {
        unsigned char flags_in[4] = {SSL_FLAG_DEFER_HANDSHAKE, 0, 0, 0};
        unsigned char out[28];
        SSLCONNECTIONINFO info;
        rc = WSAIoctl(s, IOC_SET_FLAGS, flags_in, sizeof flags_in, NULL, 0, &bytes, NULL, NULL);
        CHECK(rc == 0, "C: IOControl(SET_FLAGS, DEFER)");
        CHECK(connect(s, (SOCKADDR *)&addr, sizeof addr) == 0, "C: Connect (plain TCP)");
        rc = WSAIoctl(s, IOC_PERFORM_HANDSHAKE, NULL, 0, NULL, 0, &bytes, NULL, NULL);
        CHECK(rc == 0, "C: IOControl((int)0x1073000D, null, null) right after Connect returns 0");
        check_hook(&g_rec, 1, 0, cookie, good, good_len, "C");
        bytes = 0;
        memset(out, 0, sizeof out);
        rc = WSAIoctl(s, IOC_GET_CONNECTION_INFO, NULL, 0, out, sizeof out, &bytes, NULL, NULL);
        CHECK(rc == 0 && bytes == 28, "C: IOControl((int)0x5073000E, null, byte[28]) gives 28 bytes (%u)",
              (unsigned)bytes);
        memcpy(&info, out, sizeof info);   /* BitConverter.ToInt32(out, 0), (out, 4), ... */
        check_conn_info(&info, "C");
    }
    CHECK(echo_roundtrip(s, "project C"), "C: ECHO over TLS");
    CHECK(send_str(s, "QUIT\r\n") == 0 && recv_line(s, line, sizeof line) >= 0 && strcmp(line, "BYE") == 0,
          "C: QUIT -> BYE");
    CHECK(closesocket(s) == 0, "C: Close");

    free(good);
    free(self);
    return finish();
}
