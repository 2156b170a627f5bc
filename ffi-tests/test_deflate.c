/* permessage-deflate (RFC 7692) through the C API: ws_connect_options.per_message_deflate, the open
 * event's compressed/extensions, echo through real compressing servers, and the failures.
 *
 *   - the offer: none when the option is off; exactly "permessage-deflate; client_max_window_bits"
 *     when it is on (ffi-tests/peers_deflate.py echoes the request's header back);
 *   - every answer a server may give is accepted and then works both ways (the raw peer inflates
 *     what we send with the negotiated window and context rules, and says whether RSV1 was set);
 *     the answers we cannot accept fail the connect with WS_ERR_HANDSHAKE naming the cause;
 *   - echo through Python websockets ($WS_BASE/echo) and Node ws (ffi-tests/node/echo_server.js,
 *     started here), text and binary, 0 B to 16 MiB, compressible and not, one at a time, 50 in
 *     flight, 1000 times the same text (context takeover), and sends from the event callback;
 *   - a zip bomb (256 MiB of zeros in one ~255 KiB frame) against max_message_size 1 MiB:
 *     WS_ERR_MESSAGE_TOO_BIG, close 1009, and the process's peak RSS grows by less than 64 MiB;
 *   - corrupt deflate data: close 1007; RSV1 without negotiation, on a continuation frame or on a
 *     ping: close 1002; a compressed message split over several frames (a ping between them)
 *     decodes, and so do messages ended by a BFINAL block.
 *
 * Self-contained apart from $WS_BASE (run.sh's server.py): it starts peers_deflate.py with $PYTHON
 * and the Node server with $NODE (default "node"). Node missing is a failure, not a skip.
 * Under valgrind (detected through LD_PRELOAD, which valgrind sets; valgrind.sh sets nothing of
 * its own) or with DEFLATE_TEST_SMALL=1 the biggest messages shrink (16 MiB and 1 MiB to 256 KiB,
 * 1000 repeats to 200), so memcheck finishes in minutes.
 */
#include "common.h"

#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

/* ------------------------------------------------------------------------------------------ */
/* Peers                                                                                        */

typedef struct peer {
    const char *what;
    pid_t pid;
    int stdin_fd; /* the peer exits when this pipe closes */
    int port;
} peer;

static peer g_py = {"ffi-tests/peers_deflate.py", 0, -1, 0};
static peer g_node = {"ffi-tests/node/echo_server.js", 0, -1, 0};
static bool g_small; /* valgrind: smaller messages */
static int g_max_big; /* the largest message size of the echo matrix */

static const char *first_existing(const char *const *paths) {
    for (int i = 0; paths[i]; i++)
        if (paths[i][0] && access(paths[i], R_OK) == 0) return paths[i];
    return NULL;
}

/* "<dir of $SERVER_PY>/<rel>" (or "" when SERVER_PY is unset). */
static const char *beside_server(const char *rel, char *buf, size_t cap) {
    const char *server_py = getenv("SERVER_PY");
    buf[0] = '\0';
    if (!server_py) return buf;
    snprintf(buf, cap, "%s", server_py);
    char *slash = strrchr(buf, '/');
    if (slash) snprintf(slash + 1, cap - (size_t)(slash + 1 - buf), "%s", rel);
    else buf[0] = '\0';
    return buf;
}

/* Spawns argv with stdout and stdin on pipes; reads its "READY <port>" line. */
static bool start_peer(peer *p, char *const argv[]) {
    int out[2], in[2];
    if (pipe(out) != 0) return false;
    if (pipe(in) != 0) {
        close(out[0]);
        close(out[1]);
        return false;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    posix_spawn_file_actions_addclose(&fa, in[0]);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    int rc = posix_spawnp(&p->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(in[0]);
    if (rc != 0) {
        fprintf(stderr, "could not start %s (%s): %s\n", p->what, argv[0], strerror(rc));
        close(out[0]);
        close(in[1]);
        p->pid = 0;
        return false;
    }
    p->stdin_fd = in[1];
    FILE *f = fdopen(out[0], "r");
    char line[128] = "";
    bool ok = f && fgets(line, sizeof line, f) && sscanf(line, "READY %d", &p->port) == 1 && p->port > 0;
    if (f) fclose(f);
    else close(out[0]);
    if (!ok) fprintf(stderr, "%s did not print READY <port> (got \"%s\")\n", p->what, line);
    return ok;
}

static void stop_peer(peer *p) {
    if (p->stdin_fd >= 0) close(p->stdin_fd);
    p->stdin_fd = -1;
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        waitpid(p->pid, NULL, 0);
    }
    p->pid = 0;
}

static bool start_python_peer(void) {
    const char *python = getenv("PYTHON");
    if (!python || !*python) {
        static const char *const pythons[] = {".venv/bin/python", "../.venv/bin/python", NULL};
        python = first_existing(pythons);
        if (!python) python = "python3";
    }
    char beside[512];
    const char *env_script = getenv("PEERS_DEFLATE_PY");
    const char *const scripts[] = {env_script ? env_script : "", "ffi-tests/peers_deflate.py", "peers_deflate.py",
                                   "../ffi-tests/peers_deflate.py",
                                   beside_server("peers_deflate.py", beside, sizeof beside), NULL};
    const char *script = first_existing(scripts);
    if (!check_report(script != NULL, __FILE__, __LINE__, "ffi-tests/peers_deflate.py found")) return false;
    char *argv[] = {(char *)python, (char *)script, "0", NULL};
    return start_peer(&g_py, argv);
}

static bool start_node_server(void) {
    const char *node = getenv("NODE");
    if (!node || !*node) node = "node";
    char beside[512];
    const char *const scripts[] = {"ffi-tests/node/echo_server.js", "node/echo_server.js",
                                   "../ffi-tests/node/echo_server.js",
                                   beside_server("node/echo_server.js", beside, sizeof beside), NULL};
    const char *script = first_existing(scripts);
    if (!script) {
        fprintf(stderr, "ffi-tests/node/echo_server.js not found\n");
        return false;
    }
    char *argv[] = {(char *)node, (char *)script, "0", NULL};
    return start_peer(&g_node, argv);
}

/* ------------------------------------------------------------------------------------------ */
/* URLs, reports                                                                                */

static char *g_urls[512];
static int g_nurls;

static char *keep_url(char *url) {
    if (g_nurls == (int)(sizeof g_urls / sizeof g_urls[0])) abort();
    return g_urls[g_nurls++] = url;
}

static void free_urls(void) {
    while (g_nurls > 0) free(g_urls[--g_nurls]);
}

static char *url_on(int port, const char *path) {
    size_t n = strlen(path) + 64;
    char *url = malloc(n);
    if (!url) abort();
    snprintf(url, n, "ws://127.0.0.1:%d%s", port, path);
    return keep_url(url);
}

/* Percent-encodes everything but unreserved characters. */
static void url_encode(const char *s, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
}

/* The raw peer's URL for /answer with the given Sec-WebSocket-Extensions answer lines. */
static char *answer_url(const char *rid, const char *const *answers, int count) {
    char path[2048];
    size_t n = (size_t)snprintf(path, sizeof path, "/answer?id=%s", rid);
    for (int i = 0; i < count; i++) {
        char enc[600];
        url_encode(answers[i], enc, sizeof enc);
        n += (size_t)snprintf(path + n, sizeof path - n, "&ext=%s", enc);
    }
    return url_on(g_py.port, path);
}

static char *peer_path(const char *fmt, const char *rid) {
    char path[512];
    snprintf(path, sizeof path, fmt, rid);
    return url_on(g_py.port, path);
}

/* ------------------------------------------------------------------------------------------ */
/* Connections                                                                                  */

/* One task: its recorder and what its open event said (the recorder does not keep these). */
typedef struct conn {
    task_rec *rec;
    int64_t id;
    bool open_seen, compressed;
    char *extensions;
    /* ping-pong from the event callback: each message received makes the callback send the next */
    int pingpong_target;
    atomic_int pingpong_sent;
    atomic_int pingpong_send_errors;
} conn;

static void make_message(uint8_t *buf, size_t n, bool compressible, uint32_t seed, bool text);

static void pingpong_message(int k, uint8_t **buf, size_t *n, uint32_t *kind) {
    *n = (size_t)((k * 7919) % 6000);
    *kind = k % 3 == 0 ? WS_BINARY : WS_TEXT;
    *buf = malloc(*n ? *n : 1);
    if (!*buf) abort();
    make_message(*buf, *n, k % 2 == 0, (uint32_t)k * 101u + 7u, *kind == WS_TEXT);
}

static void conn_hook(task_rec *rec, const ws_event *e) {
    conn *c = rec->hook_data;
    if (e->kind == WS_EVENT_OPEN) {
        char *x = dup_or_empty(e->open.extensions);
        check_report(e->open.extensions != NULL, __FILE__, __LINE__, "open.extensions is not NULL");
        pthread_mutex_lock(&g_mu);
        c->open_seen = true;
        c->compressed = e->open.compressed;
        c->extensions = x;
        pthread_mutex_unlock(&g_mu);
    } else if (e->kind == WS_EVENT_MESSAGE && c->pingpong_target > 0) {
        int k = atomic_load(&c->pingpong_sent);
        if (k < c->pingpong_target) {
            uint8_t *buf;
            size_t n;
            uint32_t kind;
            pingpong_message(k, &buf, &n, &kind);
            int32_t rc = ws_send(e->task_id, buf, n, kind, NULL, NULL); /* from the libws thread */
            free(buf);
            if (rc != WS_OK) atomic_fetch_add(&c->pingpong_send_errors, 1);
            atomic_fetch_add(&c->pingpong_sent, 1);
        }
    }
}

static bool node_up(void);

static uint64_t g_group = 1000;

/* Connects with or without the deflate offer; checks "connectSocket:ok". pingpong: see conn. */
static conn *dconnect_pp(const char *url, bool deflate, const char *name, int pingpong) {
    conn *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->rec = rec_new(name);
    c->rec->hook = conn_hook;
    c->rec->hook_data = c;
    c->pingpong_target = pingpong;
    if (g_box_count > MAX_TRACKED_BOXES - 64) CHECK_BOXES_CALLED_ONCE(); /* makes room */
    result_box *box = new_box();
    ws_connect_options o = rec_options(url, c->rec, box);
    o.group = ++g_group;
    o.per_message_deflate = deflate;
    c->id = ws_connect(&o);
    CHECK_RESULT(box, c->id > 0 ? WS_OK : c->id, WS_OK, "connectSocket:ok");
    return c;
}

static conn *dconnect(const char *url, bool deflate, const char *name) { return dconnect_pp(url, deflate, name, 0); }

static bool conn_open_info(conn *c, bool *compressed, char **extensions) {
    pthread_mutex_lock(&g_mu);
    bool seen = c->open_seen;
    *compressed = c->compressed;
    *extensions = c->extensions;
    pthread_mutex_unlock(&g_mu);
    return seen;
}

/* The peer's JSON record of connection rid (malloc'd; "(no report)" when it could not be read). */
static char *peer_report(const char *rid) {
    conn *c = dconnect(peer_path("/report?id=%s", rid), false, "report");
    char *json = NULL;
    if (c->id > 0 && WAIT_MESSAGES(c->rec, 1)) {
        rec_event *m = rec_find(c->rec, WS_EVENT_MESSAGE, 0);
        json = calloc(1, m->len + 1);
        if (!json) abort();
        memcpy(json, m->data, m->len);
    }
    if (c->id > 0) WAIT_CLOSE(c->rec);
    return json ? json : strdup("(no report)");
}

/* ------------------------------------------------------------------------------------------ */
/* Messages                                                                                     */

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Compressible: JSON-like lines that repeat with small changes. Incompressible: pseudo-random
 * bytes (text: printable ASCII, so valid UTF-8). Deterministic in seed. */
static void make_message(uint8_t *buf, size_t n, bool compressible, uint32_t seed, bool text) {
    if (compressible) {
        size_t off = 0;
        for (unsigned i = 0; off < n; i++) {
            char line[160];
            int len = snprintf(line, sizeof line,
                               "{\"id\":%u,\"user\":\"user%u\",\"tags\":[\"alpha\",\"beta\"],\"active\":%s,\"seed\":%u}\n",
                               i, i % 97, i % 3 ? "true" : "false", seed);
            size_t take = (size_t)len < n - off ? (size_t)len : n - off;
            memcpy(buf + off, line, take);
            off += take;
        }
        return;
    }
    uint64_t s = 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed * 0xBF58476D1CE4E5B9ull);
    if (!s) s = 1;
    size_t i = 0;
    while (i < n) {
        uint64_t r = xorshift(&s);
        for (int k = 0; k < 8 && i < n; k++, r >>= 8) buf[i++] = text ? (uint8_t)(' ' + (r & 0xFF) % 95) : (uint8_t)r;
    }
}

/* Checks the index-th message of c: kind, length and bytes. Frees its copy afterwards (the
 * recorder keeps every message otherwise, and the big ones add up). */
static bool check_message(conn *c, int index, uint32_t kind, const uint8_t *want, size_t n, const char *what) {
    rec_event *m = rec_find(c->rec, WS_EVENT_MESSAGE, index);
    if (!check_report(m != NULL, __FILE__, __LINE__, "%s: message #%d arrived", what, index)) return false;
    bool ok = check_report(m->msg_kind == kind, __FILE__, __LINE__, "%s: message #%d kind %u, expected %u", what,
                           index, m->msg_kind, kind);
    ok &= check_report(m->len == n, __FILE__, __LINE__, "%s: message #%d length %zu, expected %zu", what, index,
                       m->len, n);
    if (ok && n && memcmp(m->data, want, n) != 0) {
        size_t at = 0;
        while (at < n && m->data[at] == want[at]) at++;
        ok = check_report(false, __FILE__, __LINE__, "%s: message #%d (%zu bytes) differs at byte %zu (got 0x%02x, expected 0x%02x)",
                          what, index, n, at, m->data[at], want[at]);
    }
    pthread_mutex_lock(&g_mu);
    free(m->data);
    m->data = NULL;
    pthread_mutex_unlock(&g_mu);
    return ok;
}

static bool wait_messages_long(conn *c, int count, int ms, const char *what) {
    rec_count_arg a = {c->rec, count};
    wait_for_ms(rec_has_messages, &a, ms);
    int got = rec_get(c->rec).messages;
    return check_report(got >= count, __FILE__, __LINE__, "%s: %d messages within %d ms (got %d)", what, count, ms,
                        got);
}

static int big_wait_ms(size_t n) { return WAIT_MS + (int)(n >> 20) * (g_small ? 20000 : 3000); }

/* Checks that an open task negotiated (or not) permessage-deflate, and that `extensions` is the
 * server's Sec-WebSocket-Extensions header verbatim ("" without one). Returns the extensions. */
static const char *check_negotiated(conn *c, bool want, const char *want_ext) {
    bool compressed;
    char *ext;
    if (!check_report(conn_open_info(c, &compressed, &ext), __FILE__, __LINE__, "task %s: open info recorded",
                      c->rec->name))
        return "";
    check_report(compressed == want, __FILE__, __LINE__, "task %s: open.compressed %d, expected %d (extensions \"%s\")",
                 c->rec->name, compressed, want, ext);
    rec_event *open = rec_find(c->rec, WS_EVENT_OPEN, 0);
    const char *header = open_header(open, "Sec-WebSocket-Extensions");
    check_report(strcmp(ext, header ? header : "") == 0, __FILE__, __LINE__,
                 "task %s: open.extensions \"%s\" is the response header verbatim (\"%s\")", c->rec->name, ext,
                 str_or_null(header));
    if (want_ext)
        check_report(strcmp(ext, want_ext) == 0, __FILE__, __LINE__, "task %s: open.extensions \"%s\", expected \"%s\"",
                     c->rec->name, ext, want_ext);
    return ext;
}

static void close_clean(conn *c) {
    CLOSE_AND_WAIT(c->id, c->rec);
    CHECK_SEQUENCE(c->rec, c->id);
    CHECK_EQ(rec_get(c->rec).errors, 0);
    CHECK_CLOSE(c->rec, 1000, true, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* The offer                                                                                    */

#define OFFER "permessage-deflate; client_max_window_bits"

/* Option off: no Sec-WebSocket-Extensions in the request; compressed false, extensions "". The
 * echo works, uncompressed both ways. */
static void case_option_off_sends_no_offer(void) {
    const char *rid = unique_id("off");
    conn *c = dconnect(answer_url(rid, NULL, 0), false, "off");
    if (c->id <= 0 || !WAIT_OPEN(c->rec)) return;
    check_negotiated(c, false, "");
    CHECK_STREQ(open_header(rec_find(c->rec, WS_EVENT_OPEN, 0), "X-Seen-Extensions"), "-");
    CHECK_EQ(ws_send(c->id, (const uint8_t *)"plain hello", 11, WS_TEXT, NULL, NULL), WS_OK);
    if (WAIT_MESSAGES(c->rec, 1)) check_message(c, 0, WS_TEXT, (const uint8_t *)"plain hello", 11, "off");
    close_clean(c);
    char *json = peer_report(rid);
    char buf[256];
    CHECK_STREQ(json_str(json, "offer", buf, sizeof buf), "-");
    CHECK_EQ(json_int(json, "messages", -1), 1);
    CHECK_EQ(json_int(json, "rsv1", -1), 0);
    free(json);

    /* The compressing servers do not compress when not asked. */
    conn *w = dconnect(ws_url("/echo"), false, "websockets off");
    if (w->id > 0 && WAIT_OPEN(w->rec)) {
        check_negotiated(w, false, "");
        close_clean(w);
    }
    if (node_up()) {
        conn *n = dconnect(url_on(g_node.port, "/"), false, "node off");
        if (n->id > 0 && WAIT_OPEN(n->rec)) {
            check_negotiated(n, false, "");
            close_clean(n);
        }
    }
}

/* Option on: the request carries exactly one Sec-WebSocket-Extensions line, exactly OFFER. */
static void case_option_on_sends_exact_offer(void) {
    const char *rid = unique_id("offer");
    const char *answers[] = {"permessage-deflate"};
    conn *c = dconnect(answer_url(rid, answers, 1), true, "offer");
    if (c->id <= 0 || !WAIT_OPEN(c->rec)) return;
    CHECK_STREQ(open_header(rec_find(c->rec, WS_EVENT_OPEN, 0), "X-Seen-Extensions"), OFFER);
    check_negotiated(c, true, "permessage-deflate");
    close_clean(c);
    char *json = peer_report(rid);
    char buf[256];
    CHECK_STREQ(json_str(json, "offer", buf, sizeof buf), OFFER);
    CHECK_EQ(json_int(json, "offer_lines", -1), 1);
    free(json);

    /* An answer without the extension (the server declined): open, not compressed, echo works. */
    const char *rid2 = unique_id("declined");
    conn *d = dconnect(answer_url(rid2, NULL, 0), true, "declined");
    if (d->id <= 0 || !WAIT_OPEN(d->rec)) return;
    check_negotiated(d, false, "");
    CHECK_EQ(ws_send(d->id, (const uint8_t *)"not compressed", 14, WS_TEXT, NULL, NULL), WS_OK);
    if (WAIT_MESSAGES(d->rec, 1)) check_message(d, 0, WS_TEXT, (const uint8_t *)"not compressed", 14, "declined");
    close_clean(d);
    json = peer_report(rid2);
    CHECK_EQ(json_int(json, "rsv1", -1), 0); /* nothing compressed when the server declined */
    CHECK_EQ(json_int(json, "messages", -1), 1);
    free(json);
}

/* ------------------------------------------------------------------------------------------ */
/* Accepted answers                                                                             */

/* Messages that reveal a wrong window or context: the same text twice (a compressor that keeps
 * its context refers back to the first, which a client_no_context_takeover peer cannot resolve),
 * and a random block repeated at a distance of 1500 bytes (beyond a 9-bit window of 512). */
enum { ACC_MSGS = 6 };
typedef struct {
    uint32_t kind;
    uint8_t *data;
    size_t len;
} msg;

static msg *accepted_messages(void) {
    static msg m[ACC_MSGS];
    if (m[0].data) return m;
    size_t sizes[ACC_MSGS] = {3000, 3000, 4500, 0, 1, 200};
    for (int i = 0; i < ACC_MSGS; i++) {
        m[i].len = sizes[i];
        m[i].kind = i == 2 || i == 5 ? WS_BINARY : WS_TEXT;
        m[i].data = malloc(sizes[i] ? sizes[i] : 1);
        if (!m[i].data) abort();
    }
    make_message(m[0].data, 3000, true, 1, true);
    memcpy(m[1].data, m[0].data, 3000);
    make_message(m[2].data, 1500, false, 2, false);
    memcpy(m[2].data + 1500, m[2].data, 1500);
    memcpy(m[2].data + 3000, m[2].data, 1500);
    m[4].data[0] = 'a';
    make_message(m[5].data, 200, true, 3, false);
    return m;
}

static void check_accepted(const char *answer, bool expect_rsv1) {
    const char *rid = unique_id("accept");
    conn *c = dconnect(answer_url(rid, &answer, 1), true, answer);
    if (c->id <= 0 || !WAIT_OPEN(c->rec)) return;
    check_negotiated(c, true, answer);
    msg *m = accepted_messages();
    for (int i = 0; i < ACC_MSGS; i++) CHECK_EQ(ws_send(c->id, m[i].data, m[i].len, m[i].kind, NULL, NULL), WS_OK);
    if (WAIT_MESSAGES(c->rec, ACC_MSGS))
        for (int i = 0; i < ACC_MSGS; i++) check_message(c, i, m[i].kind, m[i].data, m[i].len, answer);
    close_clean(c);
    char *json = peer_report(rid);
    CHECK_EQ(json_int(json, "messages", -1), ACC_MSGS);
    check_report(json_int(json, "inflate_errors", -1) == 0 && strstr(json, "\"error\":null"), __FILE__, __LINE__,
                 "answer \"%s\": the peer inflated every message with the negotiated window/context (record %s)",
                 answer, json);
    if (expect_rsv1) /* the three big compressible messages at least went compressed */
        check_report(json_int(json, "rsv1", -1) >= 3, __FILE__, __LINE__,
                     "answer \"%s\": our messages were compressed (RSV1) (record %s)", answer, json);
    else
        check_report(json_int(json, "rsv1", -1) == 0 && json_int(json, "plain", -1) == ACC_MSGS, __FILE__, __LINE__,
                     "answer \"%s\": every message went uncompressed, RSV1 clear (record %s)", answer, json);
    char kinds[16];
    CHECK_STREQ(json_str(json, "kinds", kinds, sizeof kinds), "ttbttb");
    free(json);
}

static void case_accepted_plain_answer(void) { check_accepted("permessage-deflate", true); }
static void case_accepted_server_no_context_takeover(void) {
    check_accepted("permessage-deflate; server_no_context_takeover", true);
}
static void case_accepted_client_no_context_takeover(void) {
    check_accepted("permessage-deflate; client_no_context_takeover", true);
}
static void case_accepted_server_max_window_bits_10(void) {
    check_accepted("permessage-deflate; server_max_window_bits=10", true);
}
static void case_accepted_client_max_window_bits_9(void) {
    check_accepted("permessage-deflate; client_max_window_bits=9", true);
}
static void case_accepted_client_max_window_bits_15(void) {
    check_accepted("permessage-deflate; client_max_window_bits=15", true);
}
static void case_accepted_client_max_window_bits_8_sends_plain(void) {
    check_accepted("permessage-deflate; client_max_window_bits=8", false);
}
static void case_accepted_quoted_value(void) { check_accepted("permessage-deflate; server_max_window_bits=\"12\"", true); }
static void case_accepted_everything_at_once(void) {
    check_accepted("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                   "server_max_window_bits=9; client_max_window_bits=9",
                   true);
}

/* ------------------------------------------------------------------------------------------ */
/* Rejected answers                                                                             */

static void expect_rejected(const char *const *answers, int count, bool offer, const char *detail) {
    const char *rid = unique_id("reject");
    conn *c = dconnect(answer_url(rid, answers, count), offer, answers[0]);
    if (c->id <= 0 || !WAIT_CLOSE(c->rec)) return;
    CHECK_SEQUENCE(c->rec, c->id);
    check_report(rec_get(c->rec).opens == 0, __FILE__, __LINE__, "answer \"%s\"%s refused: no open event", answers[0],
                 count > 1 ? " (+ more lines)" : "");
    CHECK_ERROR(c->rec, WS_ERR_HANDSHAKE, "connectSocket:fail handshake failed: ");
    rec_event *e = rec_find(c->rec, WS_EVENT_ERROR, 0);
    if (e)
        check_report(e->err_msg && strstr(e->err_msg, detail), __FILE__, __LINE__,
                     "answer \"%s\": err_msg names \"%s\" (got \"%s\")", answers[0], detail, str_or_null(e->err_msg));
    CHECK_CLOSE(c->rec, 1006, false, NULL);
}

static void reject1(const char *answer, const char *detail) { expect_rejected(&answer, 1, true, detail); }

static void case_rejected_unknown_extension(void) {
    reject1("x-foo", "x-foo");
    reject1("permessage-deflate, x-foo", "x-foo");
    reject1("x-foo, permessage-deflate", "x-foo");
}
static void case_rejected_unknown_parameter(void) {
    reject1("permessage-deflate; foo", "foo");
    reject1("permessage-deflate; foo=1", "foo");
}
static void case_rejected_duplicate_parameter(void) {
    reject1("permessage-deflate; server_no_context_takeover; server_no_context_takeover", "server_no_context_takeover");
    reject1("permessage-deflate; client_max_window_bits=10; client_max_window_bits=10", "client_max_window_bits");
    reject1("permessage-deflate; server_max_window_bits=10; server_max_window_bits=12", "server_max_window_bits");
}
static void case_rejected_bad_window_bits(void) {
    reject1("permessage-deflate; server_max_window_bits=7", "server_max_window_bits");
    reject1("permessage-deflate; server_max_window_bits=16", "server_max_window_bits");
    reject1("permessage-deflate; server_max_window_bits", "server_max_window_bits");
    reject1("permessage-deflate; server_max_window_bits=abc", "server_max_window_bits");
    reject1("permessage-deflate; client_max_window_bits", "client_max_window_bits");
    reject1("permessage-deflate; client_max_window_bits=16", "client_max_window_bits");
}
static void case_rejected_value_on_flag(void) {
    reject1("permessage-deflate; client_no_context_takeover=1", "client_no_context_takeover");
}
static void case_rejected_listed_twice(void) {
    reject1("permessage-deflate, permessage-deflate", "permessage-deflate");
    const char *two_lines[] = {"permessage-deflate", "permessage-deflate"};
    expect_rejected(two_lines, 2, true, "permessage-deflate");
}
/* Option off: any extension in the answer is one we did not offer. */
static void case_rejected_extension_not_offered(void) {
    const char *answer = "permessage-deflate";
    expect_rejected(&answer, 1, false, "permessage-deflate");
    const char *other = "x-foo";
    expect_rejected(&other, 1, false, "x-foo");
}

/* ------------------------------------------------------------------------------------------ */
/* Failures after open                                                                          */

static long max_rss_kib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss; /* KiB on Linux */
}

static void bomb(const char *kind) {
    const char *rid = unique_id("bomb");
    char path[128];
    snprintf(path, sizeof path, "/bomb?id=%%s&mib=256&kind=%s", kind);
    long before = max_rss_kib();
    conn *c = dconnect(peer_path(path, rid), true, kind);
    if (c->id <= 0 || !WAIT_OPEN(c->rec)) return;
    check_negotiated(c, true, "permessage-deflate");
    if (!WAIT_CLOSE(c->rec)) return;
    long grew = max_rss_kib() - before;
    CHECK_SEQUENCE(c->rec, c->id);
    CHECK_EQ(rec_get(c->rec).messages, 0);
    CHECK_ERROR(c->rec, WS_ERR_MESSAGE_TOO_BIG, "onSocketError:fail ");
    rec_event *e = rec_find(c->rec, WS_EVENT_ERROR, 0);
    if (e) CHECK_CONTAINS(e->err_msg, "decompress");
    rec_event *cl = rec_find(c->rec, WS_EVENT_CLOSE, 0);
    if (cl) CHECK_EQ(cl->close_code, 1009);
    check_report(grew < 64 * 1024, __FILE__, __LINE__,
                 "%s bomb: the peak RSS grew by less than 64 MiB (grew %ld KiB: libws must stop inflating at the limit)",
                 kind, grew);
    char *json = peer_report(rid);
    check_report(json_int(json, "close_code", -1) == 1009, __FILE__, __LINE__,
                 "%s bomb: the peer received close 1009 (record %s)", kind, json);
    printf("    (%s bomb: %lld compressed bytes inflating to 256 MiB; peak RSS grew %ld KiB)\n", kind,
           json_int(json, "compressed_len", -1), grew);
    free(json);
}

/* max_message_size 1 MiB; one frame of ~255 KiB inflating to 256 MiB of zeros. */
static void case_zip_bomb_stops_at_the_limit(void) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.max_message_size = 1 << 20;
    if (!runtime_with(&cfg)) return;
    bomb("binary");
    bomb("text");

    /* Exactly the limit after decompression is fine. */
    const char *rid = unique_id("at-limit");
    conn *c = dconnect(peer_path("/bomb?id=%s&mib=1&kind=binary", rid), true, "1 MiB of zeros");
    if (c->id > 0 && WAIT_MESSAGES(c->rec, 1)) {
        uint8_t *zeros = calloc(1, 1 << 20);
        if (!zeros) abort();
        check_message(c, 0, WS_BINARY, zeros, 1 << 20, "1 MiB at the limit");
        free(zeros);
        CLOSE_AND_WAIT(c->id, c->rec);
        CHECK_SEQUENCE(c->rec, c->id);
        CHECK_EQ(rec_get(c->rec).errors, 0);
    }
    runtime_with(NULL);
}

/* max_message_size UINT64_MAX, as a host meaning "no limit" may set it: a compressed message still
 * inflates. (The inflater's limit + 1 overflowed: in a release build the libws thread spun forever
 * on the first compressed message, so this case then also hangs in ws_shutdown until run.sh's
 * timeout kills it.) */
static void case_no_limit_still_inflates(void) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.max_message_size = UINT64_MAX;
    if (!runtime_with(&cfg)) return;
    const char *rid = unique_id("no-limit");
    conn *c = dconnect(peer_path("/bomb?id=%s&mib=1&kind=binary", rid), true, "1 MiB of zeros, no limit");
    if (c->id > 0 && WAIT_MESSAGES(c->rec, 1)) {
        uint8_t *zeros = calloc(1, 1 << 20);
        if (!zeros) abort();
        check_message(c, 0, WS_BINARY, zeros, 1 << 20, "1 MiB with no limit");
        free(zeros);
        CLOSE_AND_WAIT(c->id, c->rec);
        CHECK_EQ(rec_get(c->rec).errors, 0);
    }
    runtime_with(NULL);
}

/* The connection fails after open with an error event of `code` and close `close_code`, which
 * the peer received; nothing is delivered. */
static void expect_failure_after_open(const char *path_fmt, bool offer, int32_t code, int close_code,
                                      const char *detail) {
    const char *rid = unique_id("fail");
    conn *c = dconnect(peer_path(path_fmt, rid), offer, path_fmt);
    if (c->id <= 0 || !WAIT_CLOSE(c->rec)) return;
    CHECK_SEQUENCE(c->rec, c->id);
    CHECK_EQ(rec_get(c->rec).opens, 1);
    CHECK_EQ(rec_get(c->rec).messages, 0);
    CHECK_ERROR(c->rec, code, "onSocketError:fail ");
    rec_event *e = rec_find(c->rec, WS_EVENT_ERROR, 0);
    if (e && detail) CHECK_CONTAINS(e->err_msg, detail);
    rec_event *cl = rec_find(c->rec, WS_EVENT_CLOSE, 0);
    if (cl)
        check_report(cl->close_code == close_code, __FILE__, __LINE__, "%s: close code %u, expected %d", path_fmt,
                     cl->close_code, close_code);
    char *json = peer_report(rid);
    check_report(json_int(json, "close_code", -1) == close_code, __FILE__, __LINE__,
                 "%s: the peer received close %d (record %s)", path_fmt, close_code, json);
    free(json);
}

static void case_corrupt_compressed_data_1007(void) {
    expect_failure_after_open("/corrupt?id=%s", true, WS_ERR_PROTOCOL, 1007, "compressed data");
}
/* A message that inflates past max_message_size and then turns out corrupt is too big (1009),
 * whether or not its bad bytes came in the same read: the limit was passed first. (It was 1007
 * when they did.) One byte less, and the corruption decides: 1007. */
static void case_over_limit_then_corrupt_1009(void) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.max_message_size = 1000;
    if (!runtime_with(&cfg)) return;
    expect_failure_after_open("/over-limit-then-corrupt?id=%s&n=1001", true, WS_ERR_MESSAGE_TOO_BIG, 1009, NULL);
    expect_failure_after_open("/over-limit-then-corrupt?id=%s&n=1000", true, WS_ERR_PROTOCOL, 1007, "compressed data");
    runtime_with(NULL);
}
/* Compressed text that starts with an invalid UTF-8 byte and inflates past max_message_size fails
 * the same way however its bytes arrive: 1007 (invalid UTF-8), since the bytes inflated up to the
 * limit are checked before the size decides. write=4: the first read has the header and 2 payload
 * bytes, which inflate to the 0xff alone. (It was 1009 when the frame came in one read, and 1007
 * when its first bytes were inflated and checked in a read of their own.) */
static void case_invalid_text_over_limit_same_for_any_reads(void) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.max_message_size = 1000;
    if (!runtime_with(&cfg)) return;
    expect_failure_after_open("/invalid-text-over-limit?id=%s&n=5000&write=0", true, WS_ERR_INVALID_UTF8, 1007,
                              NULL);
    expect_failure_after_open("/invalid-text-over-limit?id=%s&n=5000&write=4", true, WS_ERR_INVALID_UTF8, 1007,
                              NULL);
    /* Under the limit it is only invalid. */
    expect_failure_after_open("/invalid-text-over-limit?id=%s&n=500&write=0", true, WS_ERR_INVALID_UTF8, 1007, NULL);
    runtime_with(NULL);
}
static void case_rsv1_without_negotiation_1002(void) {
    expect_failure_after_open("/rsv1-plain?id=%s", false, WS_ERR_PROTOCOL, 1002, NULL);
    /* Offered but not agreed is the same: not negotiated. */
    expect_failure_after_open("/rsv1-plain?id=%s", true, WS_ERR_PROTOCOL, 1002, NULL);
}
/* The server closes first, takes our answer, then resets TCP (autobahn's server does): the close
 * handshake finished, so the close is clean with the server's code and no error (RFC 6455 7.1.5). */
static void case_reset_after_close_handshake_is_clean(void) {
    for (int i = 0; i < 2; i++) {
        const char *rid = unique_id("rst");
        conn *c = dconnect(peer_path("/close-rst?id=%s", rid), i == 1, "close-rst");
        if (c->id <= 0 || !WAIT_CLOSE(c->rec)) continue;
        CHECK_SEQUENCE(c->rec, c->id);
        CHECK_EQ(rec_get(c->rec).errors, 0);
        CHECK_CLOSE(c->rec, 1000, true, "bye");
    }
}

/* RFC 7692 6.1: RSV1 only on the first frame of a message; RFC 6455 5.2: an unexpected RSV bit
 * fails the connection. */
static void case_rsv1_on_continuation_frame_1002(void) {
    expect_failure_after_open("/rsv1-continuation?id=%s", true, WS_ERR_PROTOCOL, 1002, NULL);
}
static void case_rsv1_on_ping_1002(void) {
    expect_failure_after_open("/rsv1-ping?id=%s", true, WS_ERR_PROTOCOL, 1002, NULL);
}

/* A compressed message split over K frames (RSV1 on the first only, a ping between the first two
 * fragments) decodes; so does the next. */
static void case_fragmented_compressed_message(void) {
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "{\"seq\":%d,\"name\":\"fragment\",\"ok\":true}\n", i);
    static const int splits[] = {1, 2, 3, 10, 60};
    for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
        char path[64];
        snprintf(path, sizeof path, "/fragmented?id=%%s&n=%d", splits[s]);
        const char *rid = unique_id("frag");
        conn *c = dconnect(peer_path(path, rid), true, "fragmented");
        if (c->id <= 0 || !WAIT_MESSAGES(c->rec, 2)) continue;
        check_message(c, 0, WS_TEXT, (const uint8_t *)text, n, path);
        check_message(c, 1, WS_TEXT, (const uint8_t *)"after", 5, path);
        CHECK_EQ(ws_send(c->id, (const uint8_t *)text, n, WS_TEXT, NULL, NULL), WS_OK);
        if (WAIT_MESSAGES(c->rec, 3)) check_message(c, 2, WS_TEXT, (const uint8_t *)text, n, path);
        close_clean(c);
        char *json = peer_report(rid);
        CHECK_EQ(json_int(json, "inflate_errors", -1), 0);
        free(json);
    }
}

/* Messages compressed as deflate streams of their own, ended by a BFINAL block (RFC 7692
 * 7.2.3.3), one after the other: each decodes. */
static void case_bfinal_blocks(void) {
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "{\"seq\":%d,\"name\":\"fragment\",\"ok\":true}\n", i);
    const char *rid = unique_id("bfinal");
    conn *c = dconnect(peer_path("/bfinal?id=%s", rid), true, "bfinal");
    if (c->id <= 0 || !WAIT_MESSAGES(c->rec, 3)) return;
    check_message(c, 0, WS_TEXT, (const uint8_t *)text, n, "bfinal #0");
    check_message(c, 1, WS_TEXT, (const uint8_t *)"second", 6, "bfinal #1");
    check_message(c, 2, WS_TEXT, (const uint8_t *)text, n, "bfinal #2");
    close_clean(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Echo through Python websockets and Node ws                                                  */

static conn *open_compressed(const char *url, const char *name) {
    conn *c = dconnect(url, true, name);
    if (c->id <= 0 || !WAIT_OPEN(c->rec)) return NULL;
    const char *ext = check_negotiated(c, true, NULL);
    CHECK_PREFIX(ext, "permessage-deflate");
    return c;
}

/* Text and binary x 0, 1, 125, 126, 65535, 65536, 1 MiB, 16 MiB x compressible or not, one at a
 * time, each compared byte for byte. */
static void echo_matrix(const char *url, const char *name) {
    conn *c = open_compressed(url, name);
    if (!c) return;
    size_t sizes[] = {0, 1, 125, 126, 65535, 65536, (size_t)1 << 20, (size_t)16 << 20};
    int count = 0;
    uint8_t *buf = malloc((size_t)16 << 20);
    if (!buf) abort();
    for (int kind = 0; kind < 2; kind++) {
        uint32_t k = kind ? WS_BINARY : WS_TEXT;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = sizes[s] > (size_t)g_max_big ? (size_t)g_max_big : sizes[s];
            for (int comp = 1; comp >= 0; comp--) {
                make_message(buf, n, comp, (uint32_t)count, k == WS_TEXT);
                char what[128];
                snprintf(what, sizeof what, "%s %s %zu bytes %s", name, kind ? "binary" : "text", n,
                         comp ? "compressible" : "random");
                result_box *box = new_box();
                int32_t rc = ws_send(c->id, buf, n, k, box_on_result, box);
                if (!CHECK_RESULT(box, rc, WS_OK, "sendSocketMessage:ok") ||
                    !wait_messages_long(c, count + 1, big_wait_ms(n), what)) {
                    free(buf);
                    return;
                }
                check_message(c, count, k, buf, n, what);
                count++;
            }
        }
    }
    free(buf);
    close_clean(c);
    CHECK_EQ(rec_get(c->rec).messages, count);
    CHECK_BOXES_CALLED_ONCE();
}

/* 50 messages of mixed sizes, kinds and contents sent at once; echoed in order, byte-exact. */
static void echo_batch(const char *url, const char *name) {
    enum { BATCH = 50 };
    conn *c = open_compressed(url, name);
    if (!c) return;
    static const size_t sizes[] = {0, 1, 2, 125, 126, 127, 1000, 4096, 65535, 65536, 65537, 100000, 300000, 1 << 20};
    msg m[BATCH];
    result_box *boxes = calloc(BATCH, sizeof *boxes); /* leaked if a result never comes */
    if (!boxes) abort();
    bool all_called = true;
    size_t total = 0;
    for (int i = 0; i < BATCH; i++) {
        size_t n = sizes[(i * 5) % (sizeof sizes / sizeof sizes[0])];
        if (g_small && n > 65537) n = 65537;
        m[i].len = n;
        m[i].kind = i % 2 ? WS_BINARY : WS_TEXT;
        m[i].data = malloc(n ? n : 1);
        if (!m[i].data) abort();
        make_message(m[i].data, n, (i / 2) % 2 == 0, (uint32_t)(1000 + i), m[i].kind == WS_TEXT);
        total += n;
    }
    for (int i = 0; i < BATCH; i++) CHECK_EQ(ws_send(c->id, m[i].data, m[i].len, m[i].kind, box_on_result, &boxes[i]), WS_OK);
    char what[96];
    snprintf(what, sizeof what, "%s batch of %d (%zu bytes)", name, BATCH, total);
    if (wait_messages_long(c, BATCH, big_wait_ms(total), what)) {
        for (int i = 0; i < BATCH; i++) {
            char w[128];
            snprintf(w, sizeof w, "%s #%d (%zu bytes)", what, i, m[i].len);
            check_message(c, i, m[i].kind, m[i].data, m[i].len, w);
        }
    }
    for (int i = 0; i < BATCH; i++) {
        if (CHECK(wait_for(box_called, &boxes[i]))) CHECK_EQ(box_get(&boxes[i]).code, WS_OK);
        else all_called = false;
        free(box_get(&boxes[i]).err_msg);
        free(m[i].data);
    }
    if (all_called) free(boxes);
    close_clean(c);
    CHECK_EQ(rec_get(c->rec).messages, BATCH);
}

/* The same text `repeat` times in flight at once: with context takeover every message after the
 * first compresses to a back-reference; all must come back intact. */
static void echo_repeated(const char *url, const char *name) {
    int repeat = g_small ? 200 : 1000;
    conn *c = open_compressed(url, name);
    if (!c) return;
    uint8_t text[700];
    make_message(text, sizeof text, true, 77, true);
    result_box *boxes = calloc((size_t)repeat, sizeof *boxes);
    if (!boxes) abort();
    for (int i = 0; i < repeat; i++)
        if (!CHECK_EQ(ws_send(c->id, text, sizeof text, WS_TEXT, box_on_result, &boxes[i]), WS_OK)) break;
    char what[96];
    snprintf(what, sizeof what, "%s: the same text %d times", name, repeat);
    if (wait_messages_long(c, repeat, WAIT_MS * 3, what)) {
        int bad = 0;
        for (int i = 0; i < repeat && bad < 3; i++) {
            char w[128];
            snprintf(w, sizeof w, "%s #%d", what, i);
            if (!check_message(c, i, WS_TEXT, text, sizeof text, w)) bad++;
        }
    }
    bool all_called = true;
    for (int i = 0; i < repeat; i++) {
        if (!wait_for(box_called, &boxes[i])) {
            check_report(false, __FILE__, __LINE__, "%s: send #%d got its result", what, i);
            all_called = false;
            break;
        }
        if (box_get(&boxes[i]).code != WS_OK) {
            CHECK_EQ(box_get(&boxes[i]).code, WS_OK);
            break;
        }
    }
    if (all_called) {
        for (int i = 0; i < repeat; i++) free(box_get(&boxes[i]).err_msg);
        free(boxes);
    }
    close_clean(c);
    CHECK_EQ(rec_get(c->rec).messages, repeat);
}

/* Echo ping-pong driven from the event callback: each echo makes the callback send the next
 * message (varied sizes and kinds), `rounds` in all. */
static void echo_pingpong(const char *url, const char *name) {
    enum { ROUNDS = 200 };
    conn *c = dconnect_pp(url, true, name, ROUNDS);
    if (c->id <= 0 || !WAIT_OPEN(c->rec)) return;
    check_negotiated(c, true, NULL);
    uint8_t *buf;
    size_t n;
    uint32_t kind;
    pingpong_message(0, &buf, &n, &kind);
    atomic_store(&c->pingpong_sent, 1);
    CHECK_EQ(ws_send(c->id, buf, n, kind, NULL, NULL), WS_OK);
    free(buf);
    char what[96];
    snprintf(what, sizeof what, "%s ping-pong from the callback", name);
    if (wait_messages_long(c, ROUNDS, WAIT_MS * 3, what)) {
        for (int k = 0; k < ROUNDS; k++) {
            pingpong_message(k, &buf, &n, &kind);
            char w[128];
            snprintf(w, sizeof w, "%s round %d", what, k);
            check_message(c, k, kind, buf, n, w);
            free(buf);
        }
    }
    CHECK_EQ(atomic_load(&c->pingpong_send_errors), 0);
    close_clean(c);
    CHECK_EQ(rec_get(c->rec).messages, ROUNDS);
}

static bool node_up(void) {
    return check_report(g_node.port > 0, __FILE__, __LINE__,
                        "the Node ws echo server runs (`node ffi-tests/node/echo_server.js`; needs node and "
                        "ffi-tests/node/node_modules/ws, which run.sh installs with npm)");
}
static char *node_url(void) { return url_on(g_node.port, "/echo"); }

static void case_websockets_echo_matrix(void) { echo_matrix(ws_url("/echo"), "websockets"); }
static void case_websockets_echo_batch_in_flight(void) { echo_batch(ws_url("/echo"), "websockets"); }
static void case_websockets_context_takeover_repeated(void) { echo_repeated(ws_url("/echo"), "websockets"); }
static void case_websockets_pingpong_from_callback(void) { echo_pingpong(ws_url("/echo"), "websockets"); }
static void case_node_echo_matrix(void) {
    if (node_up()) echo_matrix(node_url(), "node ws");
}
static void case_node_echo_batch_in_flight(void) {
    if (node_up()) echo_batch(node_url(), "node ws");
}
static void case_node_context_takeover_repeated(void) {
    if (node_up()) echo_repeated(node_url(), "node ws");
}
static void case_node_pingpong_from_callback(void) {
    if (node_up()) echo_pingpong(node_url(), "node ws");
}

/* ------------------------------------------------------------------------------------------ */

static int g_watchdog_s;
static void *watchdog(void *arg) {
    (void)arg;
    sleep_ms(g_watchdog_s * 1000);
    printf("test_deflate: watchdog: still running after %d s (in case %s; a hang in libws?)\n0 passed, 1 failed\n",
           g_watchdog_s, atomic_load(&g_case));
    fflush(stdout);
    stop_peer(&g_py);
    stop_peer(&g_node);
    _exit(1);
}

int main(void) {
    const char *preload = getenv("LD_PRELOAD");
    const char *small = getenv("DEFLATE_TEST_SMALL");
    g_small = (preload && strstr(preload, "vgpreload")) || (small && *small && strcmp(small, "0") != 0);
    g_max_big = g_small ? 256 * 1024 : 16 << 20;
    const char *wd = getenv("DEFLATE_WATCHDOG_S");
    g_watchdog_s = wd && atoi(wd) > 0 ? atoi(wd) : g_small ? 280 : 115;
    pthread_t wd_thread;
    pthread_create(&wd_thread, NULL, watchdog, NULL);
    pthread_detach(wd_thread);

    tests_begin("test_deflate");
    if (g_small) printf("  (small mode: messages up to %d bytes, under valgrind or DEFLATE_TEST_SMALL)\n", g_max_big);
    if (!start_python_peer()) {
        stop_peer(&g_py);
        printf("test_deflate: could not start ffi-tests/peers_deflate.py\n0 passed, 1 failed\n");
        return 1;
    }
    if (!start_node_server()) {
        stop_peer(&g_node);
        g_node.port = 0; /* every Node case fails (node_up) */
    }

    RUN_CASE(case_option_off_sends_no_offer);
    RUN_CASE(case_option_on_sends_exact_offer);
    RUN_CASE(case_accepted_plain_answer);
    RUN_CASE(case_accepted_server_no_context_takeover);
    RUN_CASE(case_accepted_client_no_context_takeover);
    RUN_CASE(case_accepted_server_max_window_bits_10);
    RUN_CASE(case_accepted_client_max_window_bits_9);
    RUN_CASE(case_accepted_client_max_window_bits_15);
    RUN_CASE(case_accepted_client_max_window_bits_8_sends_plain);
    RUN_CASE(case_accepted_quoted_value);
    RUN_CASE(case_accepted_everything_at_once);
    RUN_CASE(case_rejected_unknown_extension);
    RUN_CASE(case_rejected_unknown_parameter);
    RUN_CASE(case_rejected_duplicate_parameter);
    RUN_CASE(case_rejected_bad_window_bits);
    RUN_CASE(case_rejected_value_on_flag);
    RUN_CASE(case_rejected_listed_twice);
    RUN_CASE(case_rejected_extension_not_offered);
    /* Before the big echoes: the peak RSS must still be low to see what the bomb adds. */
    RUN_CASE(case_zip_bomb_stops_at_the_limit);
    RUN_CASE(case_no_limit_still_inflates);
    RUN_CASE(case_corrupt_compressed_data_1007);
    RUN_CASE(case_over_limit_then_corrupt_1009);
    RUN_CASE(case_invalid_text_over_limit_same_for_any_reads);
    RUN_CASE(case_rsv1_without_negotiation_1002);
    RUN_CASE(case_reset_after_close_handshake_is_clean);
    RUN_CASE(case_rsv1_on_continuation_frame_1002);
    RUN_CASE(case_rsv1_on_ping_1002);
    RUN_CASE(case_fragmented_compressed_message);
    RUN_CASE(case_bfinal_blocks);
    RUN_CASE(case_websockets_echo_matrix);
    RUN_CASE(case_websockets_echo_batch_in_flight);
    RUN_CASE(case_websockets_context_takeover_repeated);
    RUN_CASE(case_websockets_pingpong_from_callback);
    RUN_CASE(case_node_echo_matrix);
    RUN_CASE(case_node_echo_batch_in_flight);
    RUN_CASE(case_node_context_takeover_repeated);
    RUN_CASE(case_node_pingpong_from_callback);

    int rc = tests_end();
    stop_peer(&g_py);
    stop_peer(&g_node);
    free_urls();
    printf("%d passed, %d failed\n", g_cases_run - g_cases_failed, g_cases_failed);
    return rc;
}
