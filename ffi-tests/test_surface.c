/* The C surface (issue 11, "from a review of the C surface"):
 *
 *   - ws_close_group leaves every OPEN task of the group CLOSING when it returns, as ws_close does
 *     one task: ws_ready_state is no longer WS_OPEN and ws_send is refused at once; inside a
 *     callback (the libws thread cannot have handled the close yet) exactly WS_CLOSING and
 *     WS_ERR_NOT_OPEN.
 *   - struct_size: ws_init and ws_connect take only the size of a released version of their
 *     struct (today's); 0, 3, 12 (half of the url pointer), sizeof - 1 (ends inside the last
 *     field), sizeof + 8 (a newer header) and UINT32_MAX are refused with
 *     WS_ERR_INVALID_ARGUMENT, nothing read past the size and nothing started. ws_connect reports
 *     it through on_result too when the size covers on_result and result_user_data.
 *   - ws_config_size, ws_connect_options_size and ws_dispatcher_options_size give sizeof of each
 *     struct (FFIs without sizeof allocate that much), and a buffer of that size filled by the init
 *     function is accepted.
 *   - interop, against ffi-tests/peers_surface.py (started here): a URL's non-ASCII path and query
 *     (and other bytes a request-target cannot hold) reach the server percent-encoded, escapes
 *     already there untouched; a 101 with 100 headers opens; an "HTTP/1.0 101" is refused with
 *     WS_ERR_HANDSHAKE naming HTTP/1.0.
 */
#include "common.h"

#include <stddef.h>

#include "peer_process.h"

static peer_process g_peer;

enum { GROUP_SIZE = 3 };

typedef struct group {
    uint64_t id;
    task_rec *rec[GROUP_SIZE];
    int64_t task[GROUP_SIZE];
} group;

static uint64_t g_next_group = 7100;

/* GROUP_SIZE tasks of a new group, each open on the echo server. */
static bool open_group(group *g) {
    g->id = g_next_group++;
    bool ok = true;
    for (int i = 0; i < GROUP_SIZE; i++) {
        g->rec[i] = rec_new("group member");
        g->task[i] = CONNECT(ws_url("/echo"), g->rec[i], g->id);
        ok &= g->task[i] > 0 && WAIT_OPEN(g->rec[i]);
    }
    return ok;
}

/* After the group's close: each task gets the close frame's code and reason, in order. */
static void check_group_closed(group *g, int code, const char *reason) {
    for (int i = 0; i < GROUP_SIZE; i++) {
        if (!WAIT_CLOSE(g->rec[i])) continue;
        CHECK_SEQUENCE(g->rec[i], g->task[i]);
        CHECK_CLOSE(g->rec[i], code, true, reason);
    }
}

/* From the caller's thread the close handshake may even have finished (a slow caller, valgrind)
 * by the time it looks: CLOSING or CLOSED, never OPEN, and the send refused synchronously. */
static void case_close_group_is_closing_on_return(void) {
    group g;
    if (!open_group(&g)) return;
    result_box *closed = new_box();
    int32_t rc = ws_close_group(g.id, 4100, "group", box_on_result, closed);
    int32_t state[GROUP_SIZE], sent[GROUP_SIZE];
    result_box *send_box[GROUP_SIZE];
    for (int i = 0; i < GROUP_SIZE; i++) {
        state[i] = ws_ready_state(g.task[i]);
        send_box[i] = new_box();
        sent[i] = ws_send(g.task[i], (const uint8_t *)"late", 4, WS_TEXT, box_on_result, send_box[i]);
    }
    CHECK_RESULT(closed, rc, WS_OK, "closeSocket:ok");
    for (int i = 0; i < GROUP_SIZE; i++) {
        if (state[i] == WS_CLOSED) {
            CHECK_RESULT(send_box[i], sent[i], WS_ERR_CLOSED, "sendSocketMessage:fail socketTaskId");
            continue;
        }
        CHECK_EQ(state[i], WS_CLOSING);
        CHECK_RESULT(send_box[i], sent[i], WS_ERR_NOT_OPEN, "sendSocketMessage:fail socket is not OPEN");
    }
    check_group_closed(&g, 4100, "group");
    CHECK_BOXES_CALLED_ONCE();
}

/* The same from a result callback: the libws thread is busy running it, so nothing but
 * ws_close_group itself can have made the tasks CLOSING. */
typedef struct in_callback {
    group *g;
    int32_t rc, state[GROUP_SIZE], sent[GROUP_SIZE];
    bool done;
} in_callback;

static void close_group_in_callback(const ws_result *r, void *user_data) {
    (void)r;
    in_callback *c = user_data;
    int32_t rc = ws_close_group(c->g->id, 4101, "from a callback", NULL, NULL);
    int32_t state[GROUP_SIZE], sent[GROUP_SIZE];
    for (int i = 0; i < GROUP_SIZE; i++) {
        state[i] = ws_ready_state(c->g->task[i]);
        sent[i] = ws_send(c->g->task[i], (const uint8_t *)"late", 4, WS_TEXT, NULL, NULL);
    }
    pthread_mutex_lock(&g_mu);
    c->rc = rc;
    memcpy(c->state, state, sizeof state);
    memcpy(c->sent, sent, sizeof sent);
    c->done = true;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static bool in_callback_done(void *arg) { return ((in_callback *)arg)->done; }

static void case_close_group_in_a_callback_is_closing_on_return(void) {
    group g;
    if (!open_group(&g)) return;
    in_callback c = {.g = &g};
    /* Any result callback will do: this one reports an unknown task. */
    CHECK_EQ(ws_close(INT64_MAX, 1000, NULL, close_group_in_callback, &c), WS_ERR_UNKNOWN_TASK);
    if (!CHECK(wait_for(in_callback_done, &c))) return;
    CHECK_EQ(c.rc, WS_OK);
    for (int i = 0; i < GROUP_SIZE; i++) {
        CHECK_EQ(c.state[i], WS_CLOSING);
        CHECK_EQ(c.sent[i], WS_ERR_NOT_OPEN);
    }
    check_group_closed(&g, 4101, "from a callback");
}

/* The struct sits at the start of a bigger zeroed buffer, so a size past sizeof stays readable
 * (the host vouches for struct_size bytes). */
#define SLACK 64
typedef union {
    ws_config c;
    ws_connect_options o;
    unsigned char bytes[sizeof(ws_connect_options) + sizeof(ws_config) + SLACK];
} sized_buffer;

static void case_config_struct_size_must_be_a_released_one(void) {
    const uint32_t bad[] = {3, 4, 12, sizeof(ws_config) - 1, sizeof(ws_config) - 8, sizeof(ws_config) + 1,
                            sizeof(ws_config) + 8, UINT32_MAX};
    runtime_with(NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sized_buffer b;
        memset(&b, 0, sizeof b);
        ws_config_init(&b.c);
        b.c.max_connections_per_group = 1;
        b.c.struct_size = bad[i];
        int32_t rc = ws_init(&b.c);
        if (!check_report(rc == WS_ERR_INVALID_ARGUMENT, __FILE__, __LINE__,
                          "ws_init with struct_size %u == WS_ERR_INVALID_ARGUMENT (got %d)", bad[i], rc))
            ws_shutdown(); /* it started a runtime: stop it for the next size */
    }
    /* Nothing was started: the right size still initialises (not WS_ERR_ALREADY_RUNNING). */
    ws_config c;
    ws_config_init(&c);
    CHECK_EQ(ws_init(&c), WS_OK);
    runtime_with(NULL);
}

/* A connect with struct_size `size`: refused with WS_ERR_INVALID_ARGUMENT, no task, no event;
 * the result callback runs (once, naming struct_size) exactly when the size covers it. */
static void check_connect_refused(uint32_t size) {
    sized_buffer b;
    memset(&b, 0, sizeof b);
    bool covered = size >= offsetof(ws_connect_options, result_user_data) + sizeof(void *);
    task_rec *rec = rec_new("bad struct_size");
    /* Tracked (CHECK_BOXES_CALLED_ONCE) only when a call is due; leaked like recorders. */
    result_box *box = covered ? new_box() : calloc(1, sizeof *box);
    if (!box) abort();
    b.o = rec_options(ws_url("/echo"), rec, box);
    b.o.struct_size = size;
    int64_t id = ws_connect(&b.o);
    loop_barrier();
    if (covered) {
        if (CHECK_RESULT(box, id, WS_ERR_INVALID_ARGUMENT, "connectSocket:fail ws_connect_options.struct_size is "))
            check_report(box_get(box).task_id == 0, __FILE__, __LINE__, "size %u: no task id", size);
    } else {
        check_report(id == WS_ERR_INVALID_ARGUMENT, __FILE__, __LINE__,
                     "ws_connect with struct_size %u == WS_ERR_INVALID_ARGUMENT (got %lld)", size, (long long)id);
        check_report(box_get(box).calls == 0, __FILE__, __LINE__,
                     "size %u does not cover on_result: no callback (got %d)", size, box_get(box).calls);
    }
    check_report(rec_get(rec).n == 0, __FILE__, __LINE__, "size %u: no event", size);
    if (id > 0) ws_close(id, 1000, NULL, NULL, NULL);
}

static void case_connect_struct_size_must_be_a_released_one(void) {
    /* 12 last: before the fix it read half of the url pointer and crashed. */
    const uint32_t bad[] = {0,
                            3,
                            4,
                            sizeof(ws_connect_options) - 1,
                            /* offsetof(dispatcher) and offsetof(addresses) are the sizes of the
                             * earlier layouts: released */
                            sizeof(ws_connect_options) - 8,
                            offsetof(ws_connect_options, dispatcher) - 8,
                            sizeof(ws_connect_options) + 1,
                            sizeof(ws_connect_options) + 8,
                            UINT32_MAX,
                            12};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) check_connect_refused(bad[i]);
    CHECK_BOXES_CALLED_ONCE();
    /* The released size connects. */
    task_rec *rec = rec_new("good struct_size");
    int64_t id = CONNECT(ws_url("/echo"), rec, 7199);
    if (id > 0 && WAIT_OPEN(rec)) CLOSE_AND_WAIT(id, rec);
}

/* "ws://127.0.0.1:<peers_surface.py port><path>", in buf. */
static const char *peer_url(char *buf, size_t cap, const char *path) {
    snprintf(buf, cap, "ws://127.0.0.1:%d%s", g_peer.ports[0], path);
    return buf;
}

/* The request-target the peer saw when libws connected to `path`: the peer sends it back as its
 * only message, then closes 1000. */
static void check_target(const char *path, const char *expected) {
    char url[512];
    task_rec *rec = rec_new(path);
    int64_t id = CONNECT(peer_url(url, sizeof url, path), rec, 7200);
    if (id <= 0 || !WAIT_OPEN(rec) || !WAIT_MESSAGES(rec, 1)) return;
    rec_event *m = rec_find(rec, WS_EVENT_MESSAGE, 0);
    char got[512] = "";
    snprintf(got, sizeof got, "%.*s", (int)m->len, (const char *)m->data);
    check_report(strcmp(got, expected) == 0, __FILE__, __LINE__, "url path %s: the server saw \"%s\", expected \"%s\"",
                 path, got, expected);
    if (WAIT_CLOSE(rec)) CHECK_CLOSE(rec, 1000, true, NULL);
}

static void case_url_is_percent_encoded_in_the_request_line(void) {
    /* 路径 and 值 in UTF-8. */
    check_target("/\xe8\xb7\xaf\xe5\xbe\x84?q=\xe5\x80\xbc", "/%E8%B7%AF%E5%BE%84?q=%E5%80%BC");
    /* Escapes already there stay as they are; a % that starts none is escaped itself. */
    check_target("/a%20b/%e8%b7%af\xe8\xb7\xaf?x=%41\xe5\x80\xbc&p=50%", "/a%20b/%e8%b7%af%E8%B7%AF?x=%41%E5%80%BC&p=50%25");
    /* Bytes RFC 3986 allows in no request-target. */
    check_target("/{a}|b\\c^`?d=\"<e>\"", "/%7Ba%7D%7Cb%5Cc%5E%60?d=%22%3Ce%3E%22");
    /* What a request-target may hold as it is. */
    check_target("/p;a=1,b/c:d@e!$&'()*+~-._?q=/?:@x[]", "/p;a=1,b/c:d@e!$&'()*+~-._?q=/?:@x%5B%5D");
}

/* A real server (Python websockets, $WS_BASE/headers reports the path it got) sees the same. */
static void case_real_server_sees_the_url_percent_encoded(void) {
    task_rec *rec = rec_new("websockets /headers");
    int64_t id = CONNECT(ws_url("/headers?q=\xe5\x80\xbc&r=%41"), rec, 7203);
    if (id <= 0 || !WAIT_OPEN(rec) || !WAIT_MESSAGES(rec, 1)) return;
    rec_event *m = rec_find(rec, WS_EVENT_MESSAGE, 0);
    char json[4096] = "", path[256];
    snprintf(json, sizeof json, "%.*s", (int)m->len, (const char *)m->data);
    CHECK_STREQ(json_str(json, "path", path, sizeof path), "/headers?q=%E5%80%BC&r=%41");
    CLOSE_AND_WAIT(id, rec);
}

static void case_response_with_100_headers_opens(void) {
    char url[128];
    task_rec *rec = rec_new("100 headers");
    int64_t id = CONNECT(peer_url(url, sizeof url, "/many-headers?n=100"), rec, 7201);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    rec_event *open = rec_find(rec, WS_EVENT_OPEN, 0);
    CHECK_EQ(open->header_count, 103); /* Upgrade, Connection, Sec-WebSocket-Accept and 100 more */
    CHECK_STREQ(open_header(open, "X-Filler-99"), "99");
    CHECK_EQ(ws_send(id, (const uint8_t *)"still works", 11, WS_TEXT, NULL, NULL), WS_OK);
    if (WAIT_MESSAGES(rec, 1)) {
        rec_event *m = rec_find(rec, WS_EVENT_MESSAGE, 0);
        CHECK(m->len == 11 && memcmp(m->data, "still works", 11) == 0);
    }
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 1000, true, NULL);
}

static void case_http10_101_is_refused(void) {
    char url[128];
    task_rec *rec = rec_new("HTTP/1.0 101");
    int64_t id = CONNECT(peer_url(url, sizeof url, "/http10"), rec, 7202);
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_ERROR(rec, WS_ERR_HANDSHAKE, "connectSocket:fail handshake failed: ");
    rec_event *e = rec_find(rec, WS_EVENT_ERROR, 0);
    if (e) CHECK_CONTAINS(e->err_msg, "HTTP/1.0");
    CHECK_CLOSE(rec, 1006, false, NULL);
}

/* koffi/JNA/ctypes hosts have no sizeof: the size functions are the header's sizes, and a block of
 * exactly that many bytes (no C struct type involved) filled by the init function is accepted. */
static void case_struct_sizes_for_ffi_hosts(void) {
    CHECK_EQ(ws_config_size(), sizeof(ws_config));
    CHECK_EQ(ws_connect_options_size(), sizeof(ws_connect_options));
    CHECK_EQ(ws_dispatcher_options_size(), sizeof(ws_dispatcher_options));
    void *config = calloc(1, ws_config_size());
    CHECK_EQ(ws_config_init(config), WS_OK);
    runtime_with(config);
    runtime_with(NULL);
    free(config);
    void *options = calloc(1, ws_connect_options_size());
    CHECK_EQ(ws_connect_options_init(options), WS_OK);
    CHECK_EQ(*(uint32_t *)options, ws_connect_options_size());
    free(options);
    void *dispatcher_options = calloc(1, ws_dispatcher_options_size());
    CHECK_EQ(ws_dispatcher_options_init(dispatcher_options), WS_OK);
    ws_dispatcher *d = NULL;
    CHECK_EQ(ws_dispatcher_new(dispatcher_options, &d), WS_OK);
    CHECK_EQ(ws_dispatcher_free(d), WS_OK);
    free(dispatcher_options);
}

/* The response head limit is 64 KiB exactly: 65536 bytes open, 65537 fail. (Before, a head over
 * the limit opened when the read that completed it started at or below 65536 bytes.) */
static void case_head_limit_is_exact(void) {
    char url[128];
    task_rec *rec = rec_new("65536-byte head");
    int64_t id = CONNECT(peer_url(url, sizeof url, "/head-size?bytes=65536"), rec, 7204);
    if (id > 0 && WAIT_OPEN(rec)) {
        const char *pad = open_header(rec_find(rec, WS_EVENT_OPEN, 0), "X-Pad");
        CHECK(pad && strlen(pad) == 65536 - 138); /* the rest of the head is 138 bytes */
        CLOSE_AND_WAIT(id, rec);
        CHECK_CLOSE(rec, 1000, true, NULL);
    }
    rec = rec_new("65537-byte head");
    id = CONNECT(peer_url(url, sizeof url, "/head-size?bytes=65537"), rec, 7204);
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_ERROR(rec, WS_ERR_HANDSHAKE, "connectSocket:fail handshake failed: response head larger than 65536 bytes");
    CHECK_CLOSE(rec, 1006, false, NULL);
}

int main(void) {
    tests_begin("test_surface");
    if (peer_start(&g_peer, "peers_surface.py")) {
        RUN_CASE(case_url_is_percent_encoded_in_the_request_line);
        RUN_CASE(case_real_server_sees_the_url_percent_encoded);
        RUN_CASE(case_response_with_100_headers_opens);
        RUN_CASE(case_http10_101_is_refused);
        RUN_CASE(case_head_limit_is_exact);
    }
    RUN_CASE(case_struct_sizes_for_ffi_hosts);
    RUN_CASE(case_config_struct_size_must_be_a_released_one);
    RUN_CASE(case_connect_struct_size_must_be_a_released_one);
    RUN_CASE(case_close_group_is_closing_on_return);
    RUN_CASE(case_close_group_in_a_callback_is_closing_on_return);
    int status = tests_end();
    peer_stop(&g_peer);
    return status;
}
