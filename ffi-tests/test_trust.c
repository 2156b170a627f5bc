/* Certificate pinning and client certificates (mutual TLS), through the C ABI only, against the
 * wss:// peers of ffi-tests/peers_trust.py (a server whose chain is leaf + intermediate under a
 * root it does not send, and one that requires a client certificate). The peer writes its
 * certificates and the expected pins into a temporary directory ($TRUST_DIR).
 */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp, setenv */
#include "common.h"
#include "peer_process.h"

#include <ftw.h>

static peer_process g_peer;
static char g_dir[] = "/tmp/libws-trust-XXXXXX";
static char g_server[64], g_mtls[64];
static char *g_ca;
static size_t g_ca_len;
/* leaf, intermediate, root, a key nobody uses */
static char g_pin[4][64];
enum { LEAF, INTERMEDIATE, ROOT, NOBODY };

static char *read_all(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "rb");
    if (!check_report(f != NULL, __FILE__, __LINE__, "read %s", path)) exit(1);
    char *buf = malloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

typedef struct trust {
    const char *const *pins;
    size_t pin_count;
    bool with_ca;
    bool skip;
    const char *cert, *key; /* file names in g_dir, or NULL */
} trust;

/* Connects to url with `t`; returns the recorder once the task opened and echoed (then closed)
 * or failed (then its close came). */
static task_rec *run(const char *name, const char *url, trust t) {
    task_rec *rec = rec_new(name);
    result_box *box = new_box();
    ws_connect_options o = rec_options(url, rec, box);
    if (t.with_ca) {
        o.ca_pem = (const uint8_t *)g_ca;
        o.ca_pem_len = g_ca_len;
    }
    o.dangerous_skip_certificate_verification = t.skip;
    o.certificate_pins = t.pins;
    o.certificate_pin_count = t.pin_count;
    size_t cert_len = 0, key_len = 0;
    if (t.cert) {
        o.client_cert_pem = (const uint8_t *)read_all(t.cert, &cert_len);
        o.client_cert_pem_len = cert_len;
    }
    if (t.key) {
        o.client_key_pem = (const uint8_t *)read_all(t.key, &key_len);
        o.client_key_pem_len = key_len;
    }
    int64_t id = ws_connect(&o);
    if (!CHECK_RESULT(box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok")) return rec;
    wait_for(rec_has_open_or_close, rec);
    if (rec_get(rec).opens == 1) {
        CHECK_EQ(ws_send(id, (const uint8_t *)"pinned", 6, WS_TEXT, NULL, NULL), WS_OK);
        if (WAIT_MESSAGES(rec, 1)) CHECK(memcmp(rec_find(rec, WS_EVENT_MESSAGE, 0)->data, "pinned", 6) == 0);
        CLOSE_AND_WAIT(id, rec);
    } else {
        WAIT_CLOSE(rec);
    }
    CHECK_SEQUENCE(rec, id);
    return rec;
}

static void opens(const char *name, const char *url, trust t) {
    task_rec *rec = run(name, url, t);
    WAIT_OPEN(rec);
    CHECK_CLOSE(rec, 1000, true, "done");
}

static const char *fails_tls(const char *name, const char *url, trust t, const char *prefix) {
    task_rec *rec = run(name, url, t);
    CHECK_EQ(rec_get(rec).opens, 0);
    CHECK_ERROR(rec, WS_ERR_TLS, prefix);
    CHECK_CLOSE(rec, 1006, false, NULL);
    rec_event *e = rec_find(rec, WS_EVENT_ERROR, 0);
    return e && e->err_msg ? e->err_msg : "";
}

/* ------------------------------------------------------------------------------------------ */
/* Pinning                                                                                      */

static void pin_of_the_server_key_opens(void) {
    const char *pins[] = {g_pin[NOBODY], g_pin[LEAF]};
    opens("leaf", g_server, (trust){pins, 2, true, false, NULL, NULL});
}

static void pin_of_the_intermediate_opens(void) {
    const char *pins[] = {g_pin[INTERMEDIATE]};
    opens("intermediate", g_server, (trust){pins, 1, true, false, NULL, NULL});
}

/* The server does not send its root: the pin matches the root of the path libws built. */
static void pin_of_the_root_opens(void) {
    const char *pins[] = {g_pin[ROOT]};
    opens("root", g_server, (trust){pins, 1, true, false, NULL, NULL});
}

/* The errMsg lists every pin of the chain, so a developer can copy the right one. */
static void wrong_pin_fails_naming_the_chain(void) {
    const char *pins[] = {g_pin[NOBODY]};
    const char *msg = fails_tls("wrong", g_server, (trust){pins, 1, true, false, NULL, NULL},
                                "connectSocket:fail certificate: pinning failed: ");
    for (int i = LEAF; i <= NOBODY; i++) CHECK_CONTAINS(msg, g_pin[i]);
    char order[512];
    snprintf(order, sizeof order, "(server first): %s, %s, %s; pinned: %s", g_pin[LEAF], g_pin[INTERMEDIATE],
             g_pin[ROOT], g_pin[NOBODY]);
    CHECK_CONTAINS(msg, order);
}

/* The TLS configurations are cached by their options: the same CA with no pins, then a wrong
 * pin, then the right one again must each get what they ask. */
static void pins_are_part_of_the_cached_configuration(void) {
    const char *wrong[] = {g_pin[NOBODY]}, *right[] = {g_pin[LEAF]};
    opens("no pins", g_server, (trust){NULL, 0, true, false, NULL, NULL});
    fails_tls("wrong after none", g_server, (trust){wrong, 1, true, false, NULL, NULL}, "connectSocket:fail certificate: pinning failed");
    opens("right after wrong", g_server, (trust){right, 1, true, false, NULL, NULL});
    fails_tls("wrong after right", g_server, (trust){wrong, 1, true, false, NULL, NULL}, "connectSocket:fail certificate: pinning failed");
}

static void empty_set_does_nothing(void) {
    const char *pins[] = {g_pin[NOBODY]};
    opens("empty, non-NULL", g_server, (trust){pins, 0, true, false, NULL, NULL});
}

/* Pins never weaken verification: a matching pin does not make an unknown issuer trusted. */
static void pin_does_not_replace_verification(void) {
    const char *pins[] = {g_pin[LEAF]};
    fails_tls("pinned, no CA", g_server, (trust){pins, 1, false, false, NULL, NULL},
              "connectSocket:fail certificate: unknown issuer");
}

/* With verification skipped pins still apply, to the certificates the server sent. */
static void pins_apply_when_verification_is_skipped(void) {
    const char *right[] = {g_pin[INTERMEDIATE]}, *wrong[] = {g_pin[NOBODY]}, *root[] = {g_pin[ROOT]};
    opens("skip + pin", g_server, (trust){right, 1, false, true, NULL, NULL});
    const char *msg = fails_tls("skip + wrong pin", g_server, (trust){wrong, 1, false, true, NULL, NULL},
                                "connectSocket:fail certificate: pinning failed");
    CHECK(strstr(msg, g_pin[ROOT]) == NULL); /* not sent, not on any path: not shown */
    fails_tls("skip + root pin", g_server, (trust){root, 1, false, true, NULL, NULL},
              "connectSocket:fail certificate: pinning failed");
}

static void bad_pins_are_refused_at_the_call(void) {
    const char *cases[][2] = {
        {"sha1/AAAA", "connectSocket:fail certificate_pins[1]: \"sha1/AAAA\" is not a pin (no sha256/ prefix"},
        {"sha256/AAAA", "connectSocket:fail certificate_pins[1]: \"sha256/AAAA\" is not a pin (3 bytes"},
        {"sha256/!!", "connectSocket:fail certificate_pins[1]: \"sha256/!!\" is not a pin (bad base64"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *pins[] = {g_pin[LEAF], cases[i][0]};
        result_box *box = new_box();
        ws_connect_options o = rec_options(g_server, NULL, box);
        o.certificate_pins = pins;
        o.certificate_pin_count = 2;
        CHECK_RESULT(box, ws_connect(&o), WS_ERR_INVALID_ARGUMENT, cases[i][1]);
    }
    const char *with_null[] = {NULL};
    result_box *box = new_box();
    ws_connect_options o = rec_options(g_server, NULL, box);
    o.certificate_pins = with_null;
    o.certificate_pin_count = 1;
    CHECK_RESULT(box, ws_connect(&o), WS_ERR_INVALID_ARGUMENT, "connectSocket:fail certificate_pins[0]: NULL");
    box = new_box();
    o = rec_options(g_server, NULL, box);
    o.certificate_pin_count = 1;
    CHECK_RESULT(box, ws_connect(&o), WS_ERR_INVALID_ARGUMENT, "connectSocket:fail certificate_pins is NULL but its count is 1");
    CHECK_BOXES_CALLED_ONCE();
}

/* Runtime-wide pins apply to every task; a task's own are added to them. */
static void runtime_pins(void) {
    const char *bad[] = {"sha256/AAAA"};
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.certificate_pins = bad;
    cfg.certificate_pin_count = 1;
    CHECK_EQ(ws_shutdown(), WS_OK);
    CHECK_EQ(ws_init(&cfg), WS_ERR_INVALID_ARGUMENT);
    const char *wrong[] = {g_pin[NOBODY]}, *right[] = {g_pin[ROOT]};
    cfg.certificate_pins = wrong;
    if (!runtime_with(&cfg)) return;
    fails_tls("runtime wrong pin", g_server, (trust){NULL, 0, true, false, NULL, NULL}, "connectSocket:fail certificate: pinning failed");
    opens("runtime wrong + task right", g_server, (trust){right, 1, true, false, NULL, NULL});
    cfg.certificate_pins = right;
    if (!runtime_with(&cfg)) return;
    opens("runtime right", g_server, (trust){NULL, 0, true, false, NULL, NULL});
    runtime_with(NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Client certificates (a server with CERT_REQUIRED)                                           */

static void client_certificate_is_accepted_in_each_key_format(void) {
    opens("PKCS#8", g_mtls, (trust){NULL, 0, true, false, "client.pem", "client_pkcs8.key"});
    opens("SEC1", g_mtls, (trust){NULL, 0, true, false, "client.pem", "client_sec1.key"});
    opens("PKCS#1 (RSA)", g_mtls, (trust){NULL, 0, true, false, "client_rsa.pem", "client_rsa_pkcs1.key"});
}

/* The server refuses the handshake; TLS 1.3 tells the client with an alert after its Finished. */
static void no_client_certificate_is_refused(void) {
    const char *msg = fails_tls("none", g_mtls, (trust){NULL, 0, true, false, NULL, NULL}, "connectSocket:fail ");
    CHECK_CONTAINS(msg, "TLS handshake failed");
}

static void untrusted_client_certificate_is_refused(void) {
    const char *msg = fails_tls("untrusted", g_mtls, (trust){NULL, 0, true, false, "untrusted.pem", "untrusted.key"},
                                "connectSocket:fail ");
    CHECK_CONTAINS(msg, "TLS handshake failed");
}

/* The same options on the other server: a certificate nobody asks for changes nothing. */
static void client_certificate_unasked_is_harmless(void) {
    opens("unasked", g_server, (trust){NULL, 0, true, false, "client.pem", "client_pkcs8.key"});
}

static void bad_client_certificates_are_refused_at_the_call(void) {
    struct { const char *cert, *key, *msg; } cases[] = {
        {"client.pem", "other.key", "connectSocket:fail client certificate: the private key does not match the certificate"},
        {"client.pem", NULL, "connectSocket:fail client_cert_pem and client_key_pem must be given together"},
        {NULL, "client_pkcs8.key", "connectSocket:fail client_cert_pem and client_key_pem must be given together"},
        {"client.pem", "pins", "connectSocket:fail client_key_pem: no usable private key (PKCS#8, SEC1 or PKCS#1 PEM"},
        {"client_pkcs8.key", "client_pkcs8.key", "connectSocket:fail client_cert_pem: no CERTIFICATE found"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result_box *box = new_box();
        ws_connect_options o = rec_options(g_mtls, NULL, box);
        size_t n;
        if (cases[i].cert) o.client_cert_pem = (const uint8_t *)read_all(cases[i].cert, &n), o.client_cert_pem_len = n;
        if (cases[i].key) o.client_key_pem = (const uint8_t *)read_all(cases[i].key, &n), o.client_key_pem_len = n;
        CHECK_RESULT(box, ws_connect(&o), WS_ERR_INVALID_ARGUMENT, cases[i].msg);
    }
    CHECK_BOXES_CALLED_ONCE();
}

/* Runtime-wide: every task presents it; a bad pair makes ws_init fail. */
static void runtime_client_certificate(void) {
    size_t cert_len, key_len;
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.client_cert_pem = (const uint8_t *)read_all("client.pem", &cert_len);
    cfg.client_cert_pem_len = cert_len;
    cfg.client_key_pem = (const uint8_t *)read_all("other.key", &key_len);
    cfg.client_key_pem_len = key_len;
    CHECK_EQ(ws_shutdown(), WS_OK);
    CHECK_EQ(ws_init(&cfg), WS_ERR_INVALID_ARGUMENT);
    cfg.client_key_pem = (const uint8_t *)read_all("client_sec1.key", &key_len);
    cfg.client_key_pem_len = key_len;
    if (!runtime_with(&cfg)) return;
    opens("runtime identity", g_mtls, (trust){NULL, 0, true, false, NULL, NULL});
    fails_tls("task identity replaces it", g_mtls, (trust){NULL, 0, true, false, "untrusted.pem", "untrusted.key"},
              "connectSocket:fail TLS handshake failed");
    runtime_with(NULL);
}

/* ------------------------------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

int main(void) {
    tests_begin("test_trust");
    if (!mkdtemp(g_dir)) return 1;
    setenv("TRUST_DIR", g_dir, 1);
    if (!peer_start(&g_peer, "peers_trust.py")) return 1;
    snprintf(g_server, sizeof g_server, "wss://127.0.0.1:%d/echo", g_peer.ports[0]);
    snprintf(g_mtls, sizeof g_mtls, "wss://127.0.0.1:%d/echo", g_peer.ports[1]);
    g_ca = read_all("ca.pem", &g_ca_len);
    char *pins = read_all("pins", NULL);
    for (int i = 0; i < 4; i++) {
        char *line = strtok(i == 0 ? pins : NULL, "\n");
        if (!line) return 1;
        snprintf(g_pin[i], sizeof g_pin[i], "%s", line);
    }

    RUN_CASE(pin_of_the_server_key_opens);
    RUN_CASE(pin_of_the_intermediate_opens);
    RUN_CASE(pin_of_the_root_opens);
    RUN_CASE(wrong_pin_fails_naming_the_chain);
    RUN_CASE(pins_are_part_of_the_cached_configuration);
    RUN_CASE(empty_set_does_nothing);
    RUN_CASE(pin_does_not_replace_verification);
    RUN_CASE(pins_apply_when_verification_is_skipped);
    RUN_CASE(bad_pins_are_refused_at_the_call);
    RUN_CASE(runtime_pins);
    RUN_CASE(client_certificate_is_accepted_in_each_key_format);
    RUN_CASE(no_client_certificate_is_refused);
    RUN_CASE(untrusted_client_certificate_is_refused);
    RUN_CASE(client_certificate_unasked_is_harmless);
    RUN_CASE(bad_client_certificates_are_refused_at_the_call);
    RUN_CASE(runtime_client_certificate);

    int rc = tests_end();
    peer_stop(&g_peer);
    nftw(g_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return rc;
}
