/*
 * crack.c - CE's certificate cracker, SslCrackCertificate / SslFreeCertificate (docs/porting.md 4.3):
 * called directly (declared by <sslsock.h>) and the CE way, through the compat <windows.h>'s
 * LoadLibrary(TEXT("schannel.dll")) + GetProcAddress(h, SSL_CRACK_CERTIFICATE_NAME), on the
 * certificates the runner made for this run (tests/pki/mkcerts.py: ECDSA, RSA, Ed25519, expired) and
 * on one made here by `openssl req` with a known serial and a six-part subject.  Every field is
 * compared with what the openssl command reads from the same DER (serial, dates, names, key,
 * signature algorithm).  Then bad input: every truncation, garbage, trailing bytes, NULL, length 0:
 * FALSE, *ppCertificate NULL, GetLastError() ERROR_INVALID_PARAMETER or ERROR_INVALID_DATA.
 */
#include <sslsock/compat/windows.h>
#include <sslsock/compat/schnlsp.h>
#include <sslsock/compat/wincrypt.h>
#include "common.h"

#define ERROR_INVALID_DATA 13L

/* The first line of `cmd`'s output, without its newline; "" when it printed nothing. */
static char *run_line(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    out[0] = 0;
    if (p) {
        if (!fgets(out, (int)cap, p))
            out[0] = 0;
        pclose(p);
    }
    out[strcspn(out, "\r\n")] = 0;
    return out;
}

static ULONGLONG ft64(FILETIME ft)
{
    return ((ULONGLONG)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
}

/* "notBefore=Jan  2 03:04:05 2024 GMT" (openssl x509 -startdate) as a FILETIME value. */
static ULONGLONG openssl_date_to_filetime(const char *line)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4] = {0};
    const char *v = strchr(line, '='), *m;
    SYSTEMTIME st;
    FILETIME ft;
    int day, hour, min_, sec, year;
    memset(&st, 0, sizeof st);
    if (!v || sscanf(v + 1, "%3s %d %d:%d:%d %d GMT", mon, &day, &hour, &min_, &sec, &year) != 6 ||
        !(m = strstr(months, mon)) || (m - months) % 3 != 0)
        return 0;
    st.wYear = (WORD)year, st.wMonth = (WORD)((m - months) / 3 + 1), st.wDay = (WORD)day;
    st.wHour = (WORD)hour, st.wMinute = (WORD)min_, st.wSecond = (WORD)sec;
    if (!SystemTimeToFileTime(&st, &ft))
        return 0;
    return ft64(ft);
}

/* "serial=0102...11" as CE's DWORD[4]: the low 16 bytes, least significant first. */
static void openssl_serial_to_dwords(const char *line, DWORD out[4])
{
    const char *hex = strchr(line, '=');
    size_t n, i;
    memset(out, 0, 4 * sizeof(DWORD));
    if (!hex)
        return;
    hex++;
    n = strlen(hex);
    for (i = 0; i < 32 && i < n; i++) { /* i-th hex digit from the end */
        char c = hex[n - 1 - i];
        DWORD v = (DWORD)(c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0');
        out[i / 8] |= v << (4 * (i % 8));
    }
}

/* The DER SubjectPublicKeyInfo of a certificate, through openssl: malloc'd, length in *len. */
static unsigned char *openssl_spki(const char *path, size_t *len)
{
    char cmd[8192], spki_path[4200];
    snprintf(spki_path, sizeof spki_path, "%s.spki", path);
    snprintf(cmd, sizeof cmd,
             "openssl x509 -inform DER -in '%s' -noout -pubkey | openssl pkey -pubin -outform DER -out '%s'",
             path, spki_path);
    if (system(cmd) != 0)
        return NULL;
    return read_file(spki_path, len);
}

/* Compare every field of a cracked certificate with openssl's reading of the DER file. */
static void check_against_openssl(const char *what, const char *path, PX509Certificate c,
                                  const char *expect_subject)
{
    char cmd[8192], line[4096], subject[4096], issuer[4096];
    DWORD serial[4];
    unsigned char *spki;
    size_t spki_len = 0;
    ALG_ID sig = 0, key = 0;

    CHECK(c->Version == 2, "%s: Version is 2 (X.509 v3, as encoded)", what);

    snprintf(cmd, sizeof cmd, "openssl x509 -inform DER -in '%s' -noout -serial", path);
    openssl_serial_to_dwords(run_line(cmd, line, sizeof line), serial);
    CHECK(line[0] && memcmp(serial, c->SerialNumber, sizeof serial) == 0,
          "%s: SerialNumber %08x %08x %08x %08x is the low 128 bits of %s, least significant first", what,
          (unsigned)c->SerialNumber[0], (unsigned)c->SerialNumber[1], (unsigned)c->SerialNumber[2],
          (unsigned)c->SerialNumber[3], line);

    snprintf(cmd, sizeof cmd, "openssl x509 -inform DER -in '%s' -noout -startdate", path);
    run_line(cmd, line, sizeof line);
    CHECK(ft64(c->ValidFrom) == openssl_date_to_filetime(line) && ft64(c->ValidFrom) != 0,
          "%s: ValidFrom %llu is %s", what, (unsigned long long)ft64(c->ValidFrom), line);
    snprintf(cmd, sizeof cmd, "openssl x509 -inform DER -in '%s' -noout -enddate", path);
    run_line(cmd, line, sizeof line);
    CHECK(ft64(c->ValidUntil) == openssl_date_to_filetime(line) && ft64(c->ValidUntil) != 0,
          "%s: ValidUntil %llu is %s", what, (unsigned long long)ft64(c->ValidUntil), line);

    /* openssl's one-line form with ", " and " + " is CE's apart from two names (ST, emailAddress). */
    snprintf(cmd, sizeof cmd,
             "openssl x509 -inform DER -in '%s' -noout -subject -nameopt sep_comma_plus_space,utf8 "
             "| sed 's/^subject=//; s/\\bST=/S=/g; s/\\bemailAddress=/E=/g'", path);
    run_line(cmd, subject, sizeof subject);
    snprintf(cmd, sizeof cmd,
             "openssl x509 -inform DER -in '%s' -noout -issuer -nameopt sep_comma_plus_space,utf8 "
             "| sed 's/^issuer=//; s/\\bST=/S=/g; s/\\bemailAddress=/E=/g'", path);
    run_line(cmd, issuer, sizeof issuer);
    CHECK(c->pszSubject && strcmp(c->pszSubject, subject) == 0, "%s: pszSubject \"%s\" (openssl: \"%s\")", what,
          c->pszSubject ? c->pszSubject : "(null)", subject);
    if (expect_subject)
        CHECK(c->pszSubject && strcmp(c->pszSubject, expect_subject) == 0, "%s: pszSubject is \"%s\"", what,
              expect_subject);
    CHECK(c->pszIssuer && strcmp(c->pszIssuer, issuer) == 0, "%s: pszIssuer \"%s\" (openssl: \"%s\")", what,
          c->pszIssuer ? c->pszIssuer : "(null)", issuer);

    snprintf(cmd, sizeof cmd,
             "openssl x509 -inform DER -in '%s' -noout -text | sed -n 's/^ *Signature Algorithm: //p' | head -n 1",
             path);
    run_line(cmd, line, sizeof line);
    if (strstr(line, "ecdsa"))
        sig = CALG_ECDSA;
    else if (strstr(line, "RSA") || strstr(line, "rsa"))
        sig = CALG_RSA_SIGN;
    CHECK(c->SignatureAlgorithm == sig, "%s: SignatureAlgorithm %#x for \"%s\"", what,
          (unsigned)c->SignatureAlgorithm, line);

    snprintf(cmd, sizeof cmd,
             "openssl x509 -inform DER -in '%s' -noout -text | sed -n 's/^ *Public Key Algorithm: //p' | head -n 1",
             path);
    run_line(cmd, line, sizeof line);
    if (strcmp(line, "id-ecPublicKey") == 0)
        key = CALG_ECDSA;
    else if (strcmp(line, "rsaEncryption") == 0)
        key = CALG_RSA_KEYX;
    spki = openssl_spki(path, &spki_len);
    CHECK(c->pPublicKey && c->pPublicKey->Type == key, "%s: pPublicKey->Type %#x for \"%s\"", what,
          c->pPublicKey ? (unsigned)c->pPublicKey->Type : 0u, line);
    /* The BIT STRING is the SubjectPublicKeyInfo's last element: its bytes end the DER. */
    CHECK(spki && c->pPublicKey && c->pPublicKey->cbKey > 0 && c->pPublicKey->cbKey < spki_len &&
              memcmp(c->pPublicKey->pKey, spki + spki_len - c->pPublicKey->cbKey, c->pPublicKey->cbKey) == 0,
          "%s: pPublicKey holds the %u key bytes openssl reads", what,
          c->pPublicKey ? (unsigned)c->pPublicKey->cbKey : 0u);
    free(spki);
}

static void crack_file(const char *name, const char *expect_subject)
{
    char what[256];
    size_t len = 0;
    unsigned char *der = read_pki(name, &len);
    PX509Certificate c = NULL;
    snprintf(what, sizeof what, "%s (direct)", name);
    if (CHECK(SslCrackCertificate(der, (DWORD)len, 0, &c) == TRUE && c != NULL, "%s: SslCrackCertificate TRUE",
              what)) {
        check_against_openssl(what, pki_path(name), c, expect_subject);
        SslFreeCertificate(c);
    }
    free(der);
}

/* Every way of handing it something that is not one certificate: FALSE, *pp NULL, the right code. */
static void bad_input(SSL_CRACK_CERTIFICATE_FN crack, const char *how)
{
    static const char text[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    unsigned char garbage[512], *der, *longer;
    size_t len = 0, n;
    PX509Certificate c;
    int all_false = 1, all_null = 1, all_codes = 1;
    unsigned seed = 12345;

    der = read_pki("good.der", &len);
    for (n = 0; n < len; n++) { /* every truncation, 0 bytes included */
        c = (PX509Certificate)(uintptr_t)1;
        SetLastError(0);
        if (crack(der, (DWORD)n, FALSE, &c) != FALSE)
            all_false = 0;
        if (c != NULL)
            all_null = 0;
        if (GetLastError() != (n == 0 ? ERROR_INVALID_PARAMETER : ERROR_INVALID_DATA))
            all_codes = 0;
    }
    CHECK(all_false && all_null && all_codes,
          "%s: every truncation of good.der (0..%zu bytes): FALSE, *ppCertificate NULL, ERROR_INVALID_DATA "
          "(ERROR_INVALID_PARAMETER for 0)", how, len - 1);

    longer = (unsigned char *)malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    c = NULL;
    CHECK(crack(longer, (DWORD)len + 1, FALSE, &c) == FALSE && c == NULL && GetLastError() == ERROR_INVALID_DATA,
          "%s: a certificate followed by a byte: FALSE (ERROR_INVALID_DATA)", how);
    CHECK(crack(longer, (DWORD)len + 1, CF_CERT_FROM_FILE, &c) == TRUE && c != NULL,
          "%s: the same with CF_CERT_FROM_FILE: TRUE", how);
    SslFreeCertificate(c);
    free(longer);

    for (n = 0; n < sizeof garbage; n++) {
        seed = seed * 1103515245u + 12345u;
        garbage[n] = (unsigned char)(seed >> 16);
    }
    garbage[0] = 0x30; /* a SEQUENCE, so that the parser goes further than the first byte */
    garbage[1] = 0x82;
    garbage[2] = 0x01;
    garbage[3] = 0xfc;
    c = (PX509Certificate)(uintptr_t)1;
    CHECK(crack(garbage, sizeof garbage, FALSE, &c) == FALSE && c == NULL && GetLastError() == ERROR_INVALID_DATA,
          "%s: 512 bytes of garbage behind a SEQUENCE header: FALSE (ERROR_INVALID_DATA)", how);
    c = (PX509Certificate)(uintptr_t)1;
    CHECK(crack((PUCHAR)text, sizeof text - 1, FALSE, &c) == FALSE && c == NULL &&
              GetLastError() == ERROR_INVALID_DATA,
          "%s: PEM text instead of DER: FALSE (ERROR_INVALID_DATA)", how);
    c = (PX509Certificate)(uintptr_t)1;
    CHECK(crack(NULL, 100, FALSE, &c) == FALSE && c == NULL && GetLastError() == ERROR_INVALID_PARAMETER,
          "%s: NULL bytes: FALSE (ERROR_INVALID_PARAMETER)", how);
    c = (PX509Certificate)(uintptr_t)1;
    CHECK(crack(der, 0, FALSE, &c) == FALSE && c == NULL && GetLastError() == ERROR_INVALID_PARAMETER,
          "%s: length 0: FALSE (ERROR_INVALID_PARAMETER)", how);
    CHECK(crack(der, (DWORD)len, FALSE, NULL) == FALSE && GetLastError() == ERROR_INVALID_PARAMETER,
          "%s: NULL ppCertificate: FALSE (ERROR_INVALID_PARAMETER)", how);
    free(der);
}

int main(void)
{
    HMODULE h;
    SSL_CRACK_CERTIFICATE_FN crack;
    SSL_FREE_CERTIFICATE_FN release;
    char cmd[16384], path[4200];
    const char *tmp = getenv("TMPDIR");
    char dirbuf[4096];
    size_t len = 0;
    unsigned char *der;
    PX509Certificate a = NULL, b = NULL;

    start_watchdog(50);

    /* ---- the certificates of this run. */
    crack_file("good.der", "O=sslsock tests, CN=localhost");
    crack_file("good-rsa.der", "O=sslsock tests, CN=localhost");
    crack_file("expired.der", NULL);
    crack_file("selfsigned.der", NULL);
    crack_file("p384.der", NULL);
    crack_file("wildcard.der", "O=sslsock tests, CN=*.localtest.example");

    /* The expired leaf's dates are fixed by mkcerts.py: 2020-01-01 .. 2021-01-01 (UTC). */
    der = read_pki("expired.der", &len);
    if (CHECK(SslCrackCertificate(der, (DWORD)len, 0, &a), "expired.der cracks")) {
        SYSTEMTIME st;
        FILETIME from, until;
        memset(&st, 0, sizeof st);
        st.wYear = 2020, st.wMonth = 1, st.wDay = 1;
        SystemTimeToFileTime(&st, &from);
        st.wYear = 2021;
        SystemTimeToFileTime(&st, &until);
        CHECK(CompareFileTime(&a->ValidFrom, &from) == 0 && CompareFileTime(&a->ValidUntil, &until) == 0,
              "expired.der: ValidFrom 2020-01-01 and ValidUntil 2021-01-01 (SystemTimeToFileTime)");
        SslFreeCertificate(a);
    }
    free(der);

    /* Ed25519: no wincrypt name for the key or (when self-signed) the signature. */
    der = read_pki("ed25519.der", &len);
    a = NULL;
    if (CHECK(SslCrackCertificate(der, (DWORD)len, 0, &a), "ed25519.der cracks")) {
        CHECK(a->pPublicKey && a->pPublicKey->Type == 0 && a->pPublicKey->cbKey == 32,
              "ed25519.der: key Type 0 (no CALG), 32 key bytes");
        CHECK(strstr(a->pszSubject, "CN=localhost") != NULL, "ed25519.der: subject %s", a->pszSubject);
        SslFreeCertificate(a);
    }
    free(der);

    /* ---- one made here: known serial (17 bytes), six name parts, RSA, self-signed. */
    snprintf(dirbuf, sizeof dirbuf, "%s/sslsock-crack.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (CHECK(mkdtemp(dirbuf) != NULL, "temporary directory %s", dirbuf)) {
        snprintf(path, sizeof path, "%s/made.der", dirbuf);
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s/made.key' -days 30 "
                 "-subj '/C=US/ST=Washington/L=Redmond/O=Example Widgets/OU=Ops/CN=crack.example' "
                 "-set_serial 0x0102030405060708090a0b0c0d0e0f1011 -outform DER -out '%s' 2>/dev/null",
                 dirbuf, path);
        if (CHECK(system(cmd) == 0, "openssl req made a certificate")) {
            der = read_file(path, &len);
            a = NULL;
            if (CHECK(der && SslCrackCertificate(der, (DWORD)len, 0, &a), "made.der cracks")) {
                check_against_openssl("made.der", path, a,
                                      "C=US, S=Washington, L=Redmond, O=Example Widgets, OU=Ops, CN=crack.example");
                CHECK(a->SerialNumber[0] == 0x0e0f1011 && a->SerialNumber[1] == 0x0a0b0c0d &&
                          a->SerialNumber[2] == 0x06070809 && a->SerialNumber[3] == 0x02030405,
                      "made.der: SerialNumber = the low 16 bytes of 0x0102..11, least significant DWORD first");
                CHECK(a->SignatureAlgorithm == CALG_RSA_SIGN && a->pPublicKey->Type == CALG_RSA_KEYX &&
                          a->pPublicKey->cbKey == 270,
                      "made.der: RSA signature (CALG_RSA_SIGN), RSA key (CALG_RSA_KEYX, 270-byte RSAPublicKey)");
                SslFreeCertificate(a);
            }
            free(der);
        }
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dirbuf);
        if (system(cmd) != 0)
            note("could not remove %s", dirbuf);
    }


    /* ---- the CE way: LoadLibrary + GetProcAddress. */
    h = LoadLibrary(TEXT("schannel.dll"));
    CHECK(h != NULL, "LoadLibrary(TEXT(\"schannel.dll\")) gives a module");
    crack = (SSL_CRACK_CERTIFICATE_FN)GetProcAddress(h, SSL_CRACK_CERTIFICATE_NAME);
    release = (SSL_FREE_CERTIFICATE_FN)GetProcAddress(h, SSL_FREE_CERTIFICATE_NAME);
    CHECK(crack != NULL && release != NULL, "GetProcAddress(SSL_CRACK_CERTIFICATE_NAME / SSL_FREE_CERTIFICATE_NAME)");
    if (crack && release) {
        der = read_pki("good.der", &len);
        a = b = NULL;
        CHECK(crack(der, (DWORD)len, FALSE, &a) == TRUE && SslCrackCertificate(der, (DWORD)len, 0, &b) == TRUE,
              "through GetProcAddress: TRUE, as the direct call");
        if (a && b) {
            CHECK(strcmp(a->pszSubject, b->pszSubject) == 0 && strcmp(a->pszIssuer, b->pszIssuer) == 0 &&
                      memcmp(a->SerialNumber, b->SerialNumber, sizeof a->SerialNumber) == 0 &&
                      ft64(a->ValidFrom) == ft64(b->ValidFrom) && ft64(a->ValidUntil) == ft64(b->ValidUntil),
                  "through GetProcAddress: the same fields as the direct call");
            check_against_openssl("good.der (GetProcAddress)", pki_path("good.der"), a, NULL);
        }
        release(a);
        SslFreeCertificate(b);
        release(NULL); /* NULL is ignored */
        free(der);
        bad_input(crack, "through GetProcAddress");
    }
    bad_input((SSL_CRACK_CERTIFICATE_FN)SslCrackCertificate, "direct");
    CHECK(FreeLibrary(h) == TRUE, "FreeLibrary");

    h = LoadLibrary(TEXT("SCHANNEL"));
    CHECK(h != NULL && GetProcAddress(h, "SslFreeCertificate") != NULL,
          "LoadLibrary(\"SCHANNEL\") (any case, no .dll) is sslsock too");
    SetLastError(0);
    CHECK(h != NULL && GetProcAddress(h, "NoSuchFunction") == NULL && GetLastError() == ERROR_PROC_NOT_FOUND,
          "GetProcAddress of a missing name: NULL, ERROR_PROC_NOT_FOUND");
    if (h)
        FreeLibrary(h);
    SetLastError(0);
    CHECK(LoadLibrary(TEXT("nosuch-library-14.dll")) == NULL && GetLastError() == ERROR_MOD_NOT_FOUND,
          "LoadLibrary of a missing DLL: NULL, ERROR_MOD_NOT_FOUND");
    return finish();
}
