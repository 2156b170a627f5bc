/* Dead and misbehaving peers (issue 4, item 3): heartbeat against a silent peer and a healthy one,
 * the bounded close handshake (also during ws_shutdown), the bounded send queue against a peer
 * that stops reading (nothing accepted is lost), the bounded incoming message size (1009), RST in
 * the middle of a frame, FIN without a close frame, bad handshake answers, and protocol
 * violations (masked server frame, reserved opcodes: 1002).
 *
 * Self-contained: it starts its own peers, ffi-tests/peers_faults.py ("READY <raw> <ws>"), through
 * peer_process.h ($PYTHON, default .venv/bin/python, from the repo root).
 * Cases that need a runtime setting stop the runtime, ws_init with it, and stop it again at the
 * end, so the next case gets the defaults.
 */
#include "common.h"

#include "peer_process.h"

static peer_process g_peers;
static int g_raw_port, g_ws_port;

static bool start_peers(void) {
    if (!peer_start(&g_peers, "peers_faults.py")) return false;
    g_raw_port = g_peers.ports[0];
    g_ws_port = g_peers.ports[1];
    return CHECK_GT(g_raw_port, 0) && CHECK_GT(g_ws_port, 0);
}

static void stop_peers(void) {
    peer_stop(&g_peers);
}

/* URLs stay valid until the end of the program (freed by free_urls). */
static char *g_urls[256];
static int g_nurls;

static char *keep_url(char *url) {
    if (g_nurls == (int)(sizeof g_urls / sizeof g_urls[0])) abort();
    return g_urls[g_nurls++] = url;
}

static void free_urls(void) {
    while (g_nurls > 0) free(g_urls[--g_nurls]);
}

/* "ws://127.0.0.1:<raw port><path>" with %s in the path replaced by id. */
static char *raw_url(const char *fmt, const char *id) {
    char path[256];
    snprintf(path, sizeof path, fmt, id);
    char *url = malloc(320);
    if (!url) abort();
    snprintf(url, 320, "ws://127.0.0.1:%d%s", g_raw_port, path);
    return keep_url(url);
}

static char *echo_url(void) {
    char *url = malloc(64);
    if (!url) abort();
    snprintf(url, 64, "ws://127.0.0.1:%d/echo", g_ws_port);
    return keep_url(url);
}

/* The peer's JSON record of connection `id` (malloc'd; "(no report)" when it could not be read). */
static char *peer_report(const char *id) {
    task_rec *r = rec_new("report");
    int64_t tid = CONNECT(raw_url("/report?id=%s", id), r, 999999);
    char *json = NULL;
    if (tid > 0 && WAIT_MESSAGES(r, 1)) {
        rec_event *m = rec_find(r, WS_EVENT_MESSAGE, 0);
        json = calloc(1, m->len + 1);
        if (!json) abort();
        memcpy(json, m->data, m->len);
    }
    if (tid > 0) WAIT_CLOSE(r); /* the peer closes after the report */
    return json ? json : strdup("(no report)");
}

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}


/* Connects with a heartbeat; like CONNECT, checks "connectSocket:ok". */
static int64_t connect_hb(const char *url, task_rec *rec, uint32_t ping_ms, uint32_t pong_ms) {
    result_box *box = new_box();
    ws_connect_options o = rec_options(url, rec, box);
    o.group = 42;
    o.ping_interval_ms = ping_ms;
    o.pong_timeout_ms = pong_ms;
    int64_t id = ws_connect(&o);
    CHECK_RESULT(box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok");
    return id;
}

static bool is_dropped(const char *end) { return strcmp(end, "eof") == 0 || strcmp(end, "reset") == 0; }

/* ------------------------------------------------------------------------------------------ */
/* Heartbeat                                                                                    */

/* A peer that completes the handshake and then never sends anything (no pong): ping after
 * 200 ms of silence, no answer within 300 ms: error WS_ERR_TIMEOUT "heartbeat", close 1006. */
static void case_heartbeat_silent_peer_fails(void) {
    const char *rid = unique_id("hb-silent");
    task_rec *rec = rec_new("silent");
    long long t0 = now_ms(); /* before the connect, so before libws's open: a safe lower bound */
    int64_t id = connect_hb(raw_url("/silent?id=%s", rid), rec, 200, 300);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    if (!WAIT_CLOSE(rec)) return;
    long long took = now_ms() - t0;
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).messages, 0);
    CHECK_ERROR(rec, WS_ERR_TIMEOUT, "onSocketError:fail");
    rec_event *e = rec_find(rec, WS_EVENT_ERROR, 0);
    if (e) CHECK_CONTAINS(e->err_msg, "heartbeat");
    CHECK_CLOSE(rec, 1006, false, NULL);
    CHECK_EQ(ws_ready_state(id), WS_CLOSED);
    /* Not a speed check: the connection may not be declared dead before the ping interval plus
     * the pong timeout (500 ms) have passed. */
    check_report(took >= 500, __FILE__, __LINE__, "heartbeat failure after >= 500 ms of silence (took %lld ms)", took);
    char *json = peer_report(rid);
    CHECK_GT(json_int(json, "pings", -1), 0); /* the peer saw the ping that went unanswered */
    char end[32];
    check_report(is_dropped(json_str(json, "end", end, sizeof end)), __FILE__, __LINE__,
                 "libws dropped the TCP connection (peer record %s)", json);
    free(json);
}

/* A normal websockets server answers pings: with a 100 ms interval the socket stays OPEN for
 * 1.5 s of otherwise silent connection and still echoes. */
static void case_heartbeat_answered_stays_open(void) {
    task_rec *rec = rec_new("answered");
    int64_t id = connect_hb(echo_url(), rec, 100, 0);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    for (int i = 0; i < 15; i++) {
        sleep_ms(100);
        task_rec s = rec_get(rec);
        if (!CHECK_EQ(ws_ready_state(id), WS_OPEN) || !CHECK_EQ(s.errors + s.closes, 0)) break;
    }
    CHECK_EQ(ws_send(id, (const uint8_t *)"still here", 10, WS_TEXT, NULL, NULL), WS_OK);
    if (WAIT_MESSAGES(rec, 1)) {
        rec_event *m = rec_find(rec, WS_EVENT_MESSAGE, 0);
        CHECK(m && m->len == 10 && memcmp(m->data, "still here", 10) == 0);
    }
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).errors, 0);
    CHECK_CLOSE(rec, 1000, true, NULL);
}

/* The same against the raw peer that answers pings, which also counts them: the heartbeat keeps
 * pinging after the first pong (not a one-shot), and the connection stays open. */
static void case_heartbeat_pings_are_sent_and_answered(void) {
    const char *rid = unique_id("hb-pong");
    task_rec *rec = rec_new("pong");
    int64_t id = connect_hb(raw_url("/pong?id=%s", rid), rec, 100, 300);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    sleep_ms(1500);
    CHECK_EQ(ws_ready_state(id), WS_OPEN);
    CHECK_EQ(ws_send(id, (const uint8_t *)"echo me", 7, WS_TEXT, NULL, NULL), WS_OK);
    WAIT_MESSAGES(rec, 1);
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).errors, 0);
    CHECK_CLOSE(rec, 1000, true, NULL);
    char *json = peer_report(rid);
    check_report(json_int(json, "pings", -1) >= 2, __FILE__, __LINE__,
                 "the peer answered at least 2 pings in 1.5 s of silence (record %s)", json);
    CHECK_EQ(json_int(json, "close_code", -1), 1000);
    free(json);
}

/* True when the libws thread still runs commands: a failing ws_close reports back within ms. */
static bool loop_alive(int ms) {
    result_box *b = calloc(1, sizeof *b); /* leaked if the loop is stuck (it may still call it) */
    if (!b) abort();
    ws_close(INT64_MAX, 1000, NULL, box_on_result, b);
    bool alive = wait_for_ms(box_called, b, ms);
    if (alive) {
        free(box_get(b).err_msg);
        free(b);
    }
    return alive;
}

/* A heartbeat task that is CLOSING when its ping check comes due: the close handshake must
 * still end (error, close 1006 after close_timeout_ms 1000 since the peer never answers), and
 * the libws thread must go on serving everything else. */
static void case_heartbeat_due_while_closing(void) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.close_timeout_ms = 1000;
    if (!runtime_with(&cfg)) return;
    const char *rid = unique_id("hb-closing");
    task_rec *rec = rec_new("heartbeat while closing");
    int64_t id = connect_hb(raw_url("/silent?id=%s", rid), rec, 200, 300);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    CHECK_EQ(ws_close(id, 1000, "bye", NULL, NULL), WS_OK); /* CLOSING before the first ping is due */
    bool closed = WAIT_CLOSE(rec);
    if (!check_report(loop_alive(3000), __FILE__, __LINE__,
                      "the libws thread still answers a command 200 ms after a heartbeat check came due "
                      "on a CLOSING task")) {
        /* The runtime cannot be stopped any more (ws_shutdown would wait for that thread forever). */
        printf("  FAIL case_heartbeat_due_while_closing (the libws thread is stuck: stopping here)\n");
        printf("test_peer_faults: %d cases, %d passed, %d failed\n%d passed, %d failed\n", g_cases_run + 1,
               g_cases_run - g_cases_failed, g_cases_failed + 1, g_cases_run - g_cases_failed, g_cases_failed + 1);
        fflush(stdout);
        stop_peers();
        _exit(1);
    }
    if (closed) {
        CHECK_SEQUENCE(rec, id);
        CHECK_EQ(rec_get(rec).errors, 1);
        CHECK_ERROR(rec, WS_ERR_TIMEOUT, "onSocketError:fail");
        CHECK_CLOSE(rec, 1006, false, NULL);
    }
    runtime_with(NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Bounded close handshake                                                                      */

/* The peer never answers our close frame: close_timeout_ms 500, then error WS_ERR_TIMEOUT and
 * close 1006; the peer did receive our close frame. */
static void case_close_handshake_bounded(void) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.close_timeout_ms = 500;
    if (!runtime_with(&cfg)) return;
    const char *rid = unique_id("close-timeout");
    task_rec *rec = rec_new("unanswered close");
    int64_t id = CONNECT(raw_url("/silent?id=%s", rid), rec, 1);
    if (id > 0 && WAIT_OPEN(rec)) {
        result_box *box = new_box();
        long long t0 = now_ms();
        int32_t rc = ws_close(id, 1000, "bye", box_on_result, box);
        CHECK_EQ(ws_ready_state(id), WS_CLOSING); /* as soon as ws_close returns */
        CHECK_RESULT(box, rc, WS_OK, "closeSocket:ok");
        loop_barrier(); /* the close command is fully handled: still CLOSING until the timeout */
        if (rec_get(rec).closes == 0) CHECK_EQ(ws_ready_state(id), WS_CLOSING);
        if (WAIT_CLOSE(rec)) {
            long long took = now_ms() - t0;
            CHECK_SEQUENCE(rec, id);
            CHECK_ERROR(rec, WS_ERR_TIMEOUT, "onSocketError:fail");
            CHECK_CLOSE(rec, 1006, false, NULL);
            check_report(took >= 500, __FILE__, __LINE__, "the close waited for close_timeout_ms 500 (took %lld)", took);
            char *json = peer_report(rid);
            CHECK_EQ(json_int(json, "close_code", -1), 1000);
            char end[32];
            check_report(is_dropped(json_str(json, "end", end, sizeof end)), __FILE__, __LINE__,
                         "the connection was dropped after the timeout (record %s)", json);
            free(json);
        }
    }
    CHECK_BOXES_CALLED_ONCE();
    runtime_with(NULL);
}

/* The readyState a close result callback sees. */
typedef struct {
    result_box box;
    int state_in_callback;
} close_probe;

static void probe_on_result(const ws_result *r, void *user_data) {
    close_probe *p = user_data;
    int state = ws_ready_state(r->task_id);
    pthread_mutex_lock(&g_mu);
    p->state_in_callback = state;
    pthread_mutex_unlock(&g_mu);
    box_on_result(r, &p->box);
}

/* An OPEN task is CLOSING as soon as ws_close returns, and "closeSocket:ok" means the close
 * handshake started: a host that reads readyState in that callback (SocketTask.close's success)
 * must see CLOSING, not OPEN. */
static void case_ready_state_closing_in_close_result(void) {
    const char *rid = unique_id("closing-state");
    task_rec *rec = rec_new("closing state");
    int64_t id = CONNECT(raw_url("/pong?id=%s", rid), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    close_probe p = {.state_in_callback = -100};
    int32_t rc = ws_close(id, 1000, "bye", probe_on_result, &p);
    int after_return = ws_ready_state(id);
    check_report(after_return == WS_CLOSING || after_return == WS_CLOSED, __FILE__, __LINE__,
                 "CLOSING (or already CLOSED) once ws_close returned, got %d", after_return);
    CHECK_RESULT(&p.box, rc, WS_OK, "closeSocket:ok");
    pthread_mutex_lock(&g_mu);
    int seen = p.state_in_callback;
    pthread_mutex_unlock(&g_mu);
    check_report(seen == WS_CLOSING, __FILE__, __LINE__,
                 "ws_ready_state in the closeSocket:ok callback is CLOSING (%d), got %d", WS_CLOSING, seen);
    WAIT_CLOSE(rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 1000, true, NULL);
    free(p.box.err_msg);
}

typedef struct {
    atomic_bool done;
    int32_t rc;
} shutdown_arg;

static void *shutdown_thread(void *arg) {
    shutdown_arg *a = arg;
    a->rc = ws_shutdown();
    atomic_store(&a->done, true);
    return NULL;
}

/* ws_shutdown sends 1001 to a peer that never answers: it still returns, bounded by
 * close_timeout_ms, after the task's error and close 1006 events. */
static void case_shutdown_bounded_by_close_timeout(void) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.close_timeout_ms = 500;
    if (!runtime_with(&cfg)) return;
    const char *rid = unique_id("shutdown-timeout");
    task_rec *rec = rec_new("shutdown");
    int64_t id = CONNECT(raw_url("/silent?id=%s", rid), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    shutdown_arg a = {.rc = 12345};
    pthread_t t;
    if (!CHECK_EQ(pthread_create(&t, NULL, shutdown_thread, &a), 0)) return;
    long long until = now_ms() + WAIT_MS;
    while (!atomic_load(&a.done) && now_ms() < until) sleep_ms(20);
    if (!check_report(atomic_load(&a.done), __FILE__, __LINE__, "ws_shutdown returned within %d ms", WAIT_MS)) {
        fprintf(stderr, "ws_shutdown hangs: giving up\n");
        stop_peers();
        _exit(1);
    }
    pthread_join(t, NULL);
    CHECK_EQ(a.rc, WS_OK);
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).errors, 1); /* the cut handshake is reported */
    CHECK_CLOSE(rec, 1006, false, NULL);
    char *json = peer_report(rid);
    CHECK_EQ(json_int(json, "close_code", -1), 1001);
    free(json);
    runtime_with(NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Bounded send queue                                                                           */

static uint32_t crc_table[256];
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}
/* zlib.crc32(data, crc) */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    while (n--) crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

enum { Q_MSG = 256 * 1024, Q_LIMIT = 1024 * 1024, Q_MAX_SENDS = 400 };

static void fill_message(uint8_t *buf, uint32_t seq) {
    buf[0] = (uint8_t)(seq >> 24), buf[1] = (uint8_t)(seq >> 16), buf[2] = (uint8_t)(seq >> 8), buf[3] = (uint8_t)seq;
    for (size_t i = 4; i < Q_MSG; i++) buf[i] = (uint8_t)(seq * 31u + i * 7u + (i >> 9));
}

/* max_send_queue 1 MiB; the peer stops reading after the handshake; 256 KiB messages until one
 * fails with WS_ERR_QUEUE_FULL "send queue full". Then the peer reads again: every message whose
 * result was ok or still pending must arrive, exactly those, in order (count, crc32, seqs). */
static void case_send_queue_bounded_nothing_lost(void) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.max_send_queue = Q_LIMIT;
    if (!runtime_with(&cfg)) return;
    const char *rid = unique_id("stall");
    task_rec *rec = rec_new("stalled peer");
    int64_t id = CONNECT(raw_url("/stall?id=%s", rid), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) {
        runtime_with(NULL);
        return;
    }
    uint8_t *buf = malloc(Q_MSG);
    result_box *boxes = calloc(Q_MAX_SENDS, sizeof *boxes);
    if (!buf || !boxes) abort();
    int sent = 0, full_at = -1;
    for (; sent < Q_MAX_SENDS; sent++) {
        fill_message(buf, (uint32_t)sent);
        int32_t rc = ws_send(id, buf, Q_MSG, WS_BINARY, box_on_result, &boxes[sent]);
        if (!CHECK_EQ(rc, WS_OK)) { sent++; break; } /* the bound is checked on the libws thread */
        wait_for_ms(box_called, &boxes[sent], 300);
        result_box b = box_get(&boxes[sent]);
        if (b.calls && b.code == WS_ERR_QUEUE_FULL) {
            full_at = sent;
            CHECK_PREFIX(b.err_msg, "sendSocketMessage:fail");
            CHECK_CONTAINS(b.err_msg, "send queue full");
            sent++;
            break;
        }
        if (b.calls && !CHECK_EQ(b.code, WS_OK)) { sent++; break; }
    }
    check_report(full_at >= 0, __FILE__, __LINE__, "a send failed with WS_ERR_QUEUE_FULL within %d sends of 256 KiB",
                 Q_MAX_SENDS);
    if (full_at >= 0) {
        /* Still full while the peer does not read: a second try fails the same way. */
        fill_message(buf, (uint32_t)sent);
        CHECK_EQ(ws_send(id, buf, Q_MSG, WS_BINARY, box_on_result, &boxes[sent]), WS_OK);
        if (CHECK(wait_for(box_called, &boxes[sent]))) {
            result_box b = box_get(&boxes[sent]);
            CHECK_EQ(b.code, WS_ERR_QUEUE_FULL);
            CHECK_CONTAINS(b.err_msg, "send queue full");
        }
        sent++;
    }
    int pending_at_full = 0;
    for (int i = 0; i < sent; i++) pending_at_full += box_get(&boxes[i]).calls == 0;
    check_report(pending_at_full >= 1, __FILE__, __LINE__, "some messages were queued (pending) when the queue was full (got %d)",
                 pending_at_full);

    /* Let the peer read; every pending send must then succeed. */
    task_rec *rel = rec_new("release");
    int64_t rel_id = CONNECT(raw_url("/release?id=%s", rid), rel, 2);
    if (rel_id > 0) WAIT_CLOSE(rel);
    for (int i = 0; i < sent; i++) {
        if (!wait_for(box_called, &boxes[i])) {
            check_report(false, __FILE__, __LINE__, "send #%d got its result after the peer read again", i);
            break;
        }
    }
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 1000, true, NULL);

    /* What the peer must have: exactly the ok messages, in order. */
    uint32_t crc = 0;
    int ok_count = 0, other = 0;
    size_t cap = (size_t)sent * 12 + 1, len = 0;
    char *seqs = calloc(1, cap);
    if (!seqs) abort();
    for (int i = 0; i < sent; i++) {
        result_box b = box_get(&boxes[i]);
        if (b.calls != 1) check_report(false, __FILE__, __LINE__, "send #%d result called once (got %d)", i, b.calls);
        if (b.code == WS_OK) {
            fill_message(buf, (uint32_t)i);
            crc = crc32_update(crc, buf, Q_MSG);
            len += (size_t)snprintf(seqs + len, cap - len, "%s%d", ok_count ? "," : "", i);
            ok_count++;
        } else if (b.code != WS_ERR_QUEUE_FULL) {
            other++;
            check_report(false, __FILE__, __LINE__, "send #%d: ok or queue full, got %d \"%s\"", i, b.code,
                         str_or_null(b.err_msg));
        } else if (i < full_at) {
            check_report(false, __FILE__, __LINE__, "send #%d failed QUEUE_FULL before #%d", i, full_at);
        }
    }
    if (full_at >= 0) CHECK_EQ(ok_count, full_at); /* everything before the full one: ok */
    char *json = peer_report(rid);
    CHECK_EQ(json_int(json, "count", -1), ok_count);
    CHECK_EQ(json_int(json, "crc", -1), (long long)crc);
    char *got = malloc(cap + 64);
    if (!got) abort();
    json_str(json, "seqs", got, cap + 64);
    check_report(strcmp(got, seqs) == 0, __FILE__, __LINE__, "the peer got exactly the ok messages in order:\n  want %s\n  got  %s",
                 seqs, got);
    CHECK_EQ(json_int(json, "close_code", -1), 1000);
    printf("    (%d messages of 256 KiB ok, %d pending when the queue was full, queue full at #%d)\n", ok_count,
           pending_at_full, full_at);
    free(got);
    free(json);
    free(seqs);
    for (int i = 0; i < sent; i++) free(boxes[i].err_msg);
    free(boxes);
    free(buf);
    (void)other;
    runtime_with(NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Bounded message size                                                                         */

/* max_message_size 64 KiB: a 100 KiB message from the server fails the connection with
 * WS_ERR_MESSAGE_TOO_BIG and close 1009, which the peer receives; exactly 64 KiB passes both
 * ways; a 64 KiB + 1 send fails with WS_ERR_MESSAGE_TOO_BIG. */
static void case_message_size_bounded(void) {
    enum { LIMIT = 64 * 1024 };
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.max_message_size = LIMIT;
    if (!runtime_with(&cfg)) return;

    const char *rid = unique_id("big");
    task_rec *rec = rec_new("too big");
    int64_t id = CONNECT(raw_url("/big?id=%s&size=102400", rid), rec, 1);
    if (id > 0 && WAIT_CLOSE(rec)) {
        CHECK_SEQUENCE(rec, id);
        CHECK_EQ(rec_get(rec).opens, 1);
        CHECK_EQ(rec_get(rec).messages, 0);
        CHECK_ERROR(rec, WS_ERR_MESSAGE_TOO_BIG, "onSocketError:fail");
        CHECK_CLOSE(rec, 1009, false, NULL);
        char *json = peer_report(rid);
        check_report(json_int(json, "close_code", -1) == 1009, __FILE__, __LINE__,
                     "the peer received a close frame with 1009 (record %s)", json);
        free(json);
    }

    /* Exactly the limit is fine: the raw peer sends 64 KiB... */
    const char *rid2 = unique_id("limit");
    task_rec *at = rec_new("at the limit");
    int64_t id2 = CONNECT(raw_url("/big?id=%s&size=65536", rid2), at, 1);
    if (id2 > 0 && WAIT_MESSAGES(at, 1)) {
        rec_event *m = rec_find(at, WS_EVENT_MESSAGE, 0);
        CHECK_EQ(m->len, LIMIT);
        CHECK_EQ(m->msg_kind, WS_BINARY);
        CLOSE_AND_WAIT(id2, at);
        CHECK_SEQUENCE(at, id2);
        CHECK_EQ(rec_get(at).errors, 0);
    }

    /* ... and the echo server takes and returns 64 KiB; 64 KiB + 1 is refused before sending. */
    uint8_t *data = malloc(LIMIT + 1);
    if (!data) abort();
    for (size_t i = 0; i <= LIMIT; i++) data[i] = (uint8_t)(i * 13);
    task_rec *echo = rec_new("echo");
    int64_t id3 = CONNECT(echo_url(), echo, 1);
    if (id3 > 0 && WAIT_OPEN(echo)) {
        result_box *too_big = new_box();
        CHECK_RESULT(too_big, ws_send(id3, data, LIMIT + 1, WS_BINARY, box_on_result, too_big), WS_ERR_MESSAGE_TOO_BIG,
                     "sendSocketMessage:fail");
        result_box *fits = new_box();
        CHECK_RESULT(fits, ws_send(id3, data, LIMIT, WS_BINARY, box_on_result, fits), WS_OK, "sendSocketMessage:ok");
        if (WAIT_MESSAGES(echo, 1)) {
            rec_event *m = rec_find(echo, WS_EVENT_MESSAGE, 0);
            CHECK(m->len == LIMIT && memcmp(m->data, data, LIMIT) == 0);
        }
        CHECK_EQ(ws_ready_state(id3), WS_OPEN); /* a refused send does not hurt the socket */
        CLOSE_AND_WAIT(id3, echo);
        CHECK_SEQUENCE(echo, id3);
        CHECK_EQ(rec_get(echo).messages, 1);
        CHECK_CLOSE(echo, 1000, true, NULL);
    }
    free(data);
    CHECK_BOXES_CALLED_ONCE();
    runtime_with(NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Broken connections and bad handshakes                                                         */

/* Half a frame, then RST: error WS_ERR_IO, close 1006, no message. */
static void case_rst_mid_frame(void) {
    task_rec *rec = rec_new("rst");
    int64_t id = CONNECT(raw_url("/rst?id=%s", unique_id("rst")), rec, 1);
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).opens, 1);
    CHECK_EQ(rec_get(rec).messages, 0);
    CHECK_ERROR(rec, WS_ERR_IO, "onSocketError:fail");
    CHECK_CLOSE(rec, 1006, false, NULL);
    result_box box = {0};
    CHECK_RESULT(&box, ws_send(id, (const uint8_t *)"x", 1, WS_TEXT, box_on_result, &box), WS_ERR_CLOSED,
                 "sendSocketMessage:fail");
    free(box.err_msg);
}

/* A message, then FIN without a close frame: the message is delivered, then error WS_ERR_IO and
 * close 1006, not clean. */
static void case_fin_without_close_frame(void) {
    task_rec *rec = rec_new("fin");
    int64_t id = CONNECT(raw_url("/fin?id=%s", unique_id("fin")), rec, 1);
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).opens, 1);
    if (CHECK_EQ(rec_get(rec).messages, 1)) {
        rec_event *m = rec_find(rec, WS_EVENT_MESSAGE, 0);
        CHECK(m->len == 3 && memcmp(m->data, "bye", 3) == 0);
    }
    CHECK_ERROR(rec, WS_ERR_IO, "onSocketError:fail");
    CHECK_CLOSE(rec, 1006, false, NULL);
}

static void expect_handshake_failure(const char *path_fmt, const char *detail) {
    task_rec *rec = rec_new(path_fmt);
    int64_t id = CONNECT(raw_url(path_fmt, unique_id("hs")), rec, 1);
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).opens, 0);
    CHECK_ERROR(rec, WS_ERR_HANDSHAKE, "connectSocket:fail");
    rec_event *e = rec_find(rec, WS_EVENT_ERROR, 0);
    if (e && detail) CHECK_CONTAINS(e->err_msg, detail);
    CHECK_CLOSE(rec, 1006, false, NULL);
}

static void case_bad_accept_key(void) { expect_handshake_failure("/bad-accept?id=%s", NULL); }
static void case_http_200_instead_of_101(void) { expect_handshake_failure("/http200?id=%s", "200"); }

/* A protocol violation by the server: close 1002 sent to the peer, error WS_ERR_PROTOCOL, close
 * event 1002, and the offending frame is not delivered. */
static void expect_protocol_failure(const char *path_fmt) {
    const char *rid = unique_id("proto");
    task_rec *rec = rec_new(path_fmt);
    int64_t id = CONNECT(raw_url(path_fmt, rid), rec, 1);
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).opens, 1);
    CHECK_EQ(rec_get(rec).messages, 0);
    CHECK_ERROR(rec, WS_ERR_PROTOCOL, "onSocketError:fail");
    CHECK_CLOSE(rec, 1002, false, NULL);
    char *json = peer_report(rid);
    check_report(json_int(json, "close_code", -1) == 1002, __FILE__, __LINE__,
                 "%s: the peer received a close frame with 1002 (record %s)", path_fmt, json);
    free(json);
}

static void case_masked_server_frame(void) { expect_protocol_failure("/masked?id=%s"); }
static void case_reserved_data_opcode(void) { expect_protocol_failure("/reserved?id=%s&op=3"); }
static void case_reserved_control_opcode(void) { expect_protocol_failure("/reserved?id=%s&op=11"); }

/* A libws hang (a stuck libws thread makes the final ws_shutdown wait forever) fails the
 * program instead of hanging it: $PEER_FAULTS_WATCHDOG_S seconds (default 300) in all. */
static void *watchdog(void *arg) {
    sleep_ms((int)(intptr_t)arg * 1000);
    printf("test_peer_faults: watchdog: still running after %d s (a hang in libws?)\n0 passed, 1 failed\n",
           (int)(intptr_t)arg);
    fflush(stdout);
    stop_peers();
    _exit(1);
}

int main(void) {
    crc_init();
    const char *wd = getenv("PEER_FAULTS_WATCHDOG_S");
    pthread_t wd_thread;
    pthread_create(&wd_thread, NULL, watchdog, (void *)(intptr_t)(wd && atoi(wd) > 0 ? atoi(wd) : 300));
    pthread_detach(wd_thread);
    tests_begin("test_peer_faults");
    if (!start_peers()) {
        stop_peers();
        printf("test_peer_faults: could not start ffi-tests/peers_faults.py\n0 passed, 1 failed\n");
        return 1;
    }
    RUN_CASE(case_heartbeat_silent_peer_fails);
    RUN_CASE(case_heartbeat_answered_stays_open);
    RUN_CASE(case_heartbeat_pings_are_sent_and_answered);
    RUN_CASE(case_close_handshake_bounded);
    RUN_CASE(case_ready_state_closing_in_close_result);
    RUN_CASE(case_shutdown_bounded_by_close_timeout);
    RUN_CASE(case_send_queue_bounded_nothing_lost);
    RUN_CASE(case_message_size_bounded);
    RUN_CASE(case_rst_mid_frame);
    RUN_CASE(case_fin_without_close_frame);
    RUN_CASE(case_bad_accept_key);
    RUN_CASE(case_http_200_instead_of_101);
    RUN_CASE(case_masked_server_frame);
    RUN_CASE(case_reserved_data_opcode);
    RUN_CASE(case_reserved_control_opcode);
    RUN_CASE(case_heartbeat_due_while_closing); /* last: when it fails, the runtime is stuck */
    int rc = tests_end();
    stop_peers();
    free_urls();
    printf("%d passed, %d failed\n", g_cases_run - g_cases_failed, g_cases_failed);
    return rc;
}
