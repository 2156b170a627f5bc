/* Every bad input: each is refused with its WS_ERR_* code, both as the return value and through
 * the result callback (called exactly once with the same code and a "<api>:fail ..." errMsg), and
 * a refused call changes nothing (no slot taken, nothing sent, the socket stays as it was).
 */
#include "common.h"

static void on_event_ignore(const ws_event *e, void *user_data) {
    (void)e;
    (void)user_data;
}

/* ------------------------------------------------------------------------------------------ */

/* Connects with options o (its on_result replaced by a tracked box) and expects the refusal. */
#define EXPECT_CONNECT_FAILS(o, code, prefix) expect_connect_fails_at((o), (code), (prefix), __FILE__, __LINE__)
static void expect_connect_fails_at(ws_connect_options o, int32_t code, const char *prefix, const char *file, int line) {
    task_rec *rec = rec_new("refused connect");
    result_box *box = new_box();
    o.on_result = box_on_result;
    o.result_user_data = box;
    o.on_event = rec_on_event;
    o.event_user_data = rec;
    int64_t id = ws_connect(&o);
    if (!check_result(box, id, code, prefix, file, line))
        fprintf(stderr, "  (url \"%s\")\n", str_or_null(o.url));
    check_report(box_get(box).task_id <= 0, file, line, "a refused connect's result has no task id");
    loop_barrier();
    check_report(rec_get(rec).n == 0, file, line, "a refused connect delivers no event");
}

static void case_null_and_unsized_options(void) {
    CHECK_EQ(ws_connect(NULL), WS_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ws_connect_options_init(NULL), WS_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ws_config_init(NULL), WS_ERR_INVALID_ARGUMENT);

    ws_connect_options o;
    CHECK_EQ(ws_connect_options_init(&o), WS_OK);
    CHECK_EQ(o.struct_size, sizeof(ws_connect_options));
    CHECK(o.url == NULL && o.header_count == 0 && o.timeout_ms == 0 && o.group == 0 && !o.tcp_no_delay);

    /* struct_size 0: refused, and (as documented) the only case with no callback. */
    result_box box = {0};
    memset(&o, 0, sizeof o);
    o.url = ws_url("/echo");
    o.on_result = box_on_result;
    o.result_user_data = &box;
    CHECK_EQ(ws_connect(&o), WS_ERR_INVALID_ARGUMENT);
    loop_barrier();
    CHECK_EQ(box_get(&box).calls, 0);
}

/* Bad URLs: WS_ERR_INVALID_URL, "connectSocket:fail invalid url...". None takes a slot: afterwards
 * the group still has room for 5 sockets. */
static void case_invalid_urls(void) {
    const uint64_t group = 600;
    char http[128];
    snprintf(http, sizeof http, "http://%s/echo", env_or_die("WS_BASE") + strlen("ws://"));
    const char *urls[] = {NULL, "", "ws://", "ws://host:99999/", "foo", http, "ws://ho st/", "ftp://x/", "ws:///path",
                          /* a colon in a host outside brackets: once taken as the host "a:b", or "::" */
                          "ws://a:b:80/", "ws://::1/"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        ws_connect_options o = rec_options(urls[i], NULL, NULL);
        o.group = group;
        EXPECT_CONNECT_FAILS(o, WS_ERR_INVALID_URL, "connectSocket:fail invalid url");
    }
    CHECK_BOXES_CALLED_ONCE();

    /* The group is untouched: five connects (to the silent peer) still fit. */
    task_rec *rec[5];
    int64_t id[5];
    for (int i = 0; i < 5; i++) {
        rec[i] = rec_new("slot check");
        id[i] = CONNECT(silent_url(), rec[i], group);
    }
    for (int i = 0; i < 5; i++)
        if (id[i] > 0) CLOSE_AND_WAIT(id[i], rec[i]);
}

/* Headers the handshake owns, and malformed ones: WS_ERR_INVALID_HEADER. */
static void case_forbidden_and_malformed_headers(void) {
    const char *forbidden[] = {"Referer", "Host", "Sec-WebSocket-Key", "Upgrade", "Connection",
                               "sec-websocket-protocol", "Bad Name", ""};
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
        ws_header h[] = {{"X-Ok", "fine"}, {forbidden[i], "value"}};
        ws_connect_options o = rec_options(ws_url("/echo"), NULL, NULL);
        o.headers = h;
        o.header_count = 2;
        EXPECT_CONNECT_FAILS(o, WS_ERR_INVALID_HEADER, "connectSocket:fail");
    }
    ws_header injected[] = {{"X-Token", "abc\r\nX-Injected: 1"}};
    ws_connect_options o = rec_options(ws_url("/echo"), NULL, NULL);
    o.headers = injected;
    o.header_count = 1;
    EXPECT_CONNECT_FAILS(o, WS_ERR_INVALID_HEADER, "connectSocket:fail");
    CHECK_BOXES_CALLED_ONCE();
}

/* NULL where a pointer is required, and bad protocol names: WS_ERR_INVALID_ARGUMENT. */
static void case_bad_pointers_and_protocols(void) {
    ws_connect_options o = rec_options(ws_url("/echo"), NULL, NULL);
    o.header_count = 1; /* headers == NULL */
    EXPECT_CONNECT_FAILS(o, WS_ERR_INVALID_ARGUMENT, "connectSocket:fail");

    ws_header null_value[] = {{"X-Token", NULL}};
    o = rec_options(ws_url("/echo"), NULL, NULL);
    o.headers = null_value;
    o.header_count = 1;
    EXPECT_CONNECT_FAILS(o, WS_ERR_INVALID_ARGUMENT, "connectSocket:fail");

    const char *const bad_protocols[][2] = {{"", NULL}, {"a,b", NULL}, {"chat", "chat"}, {"with space", NULL}};
    for (size_t i = 0; i < sizeof bad_protocols / sizeof bad_protocols[0]; i++) {
        o = rec_options(ws_url("/echo"), NULL, NULL);
        o.protocols = bad_protocols[i];
        o.protocol_count = bad_protocols[i][1] ? 2 : 1;
        EXPECT_CONNECT_FAILS(o, WS_ERR_INVALID_ARGUMENT, "connectSocket:fail");
    }
    o = rec_options(ws_url("/echo"), NULL, NULL);
    o.protocol_count = 1; /* protocols == NULL */
    EXPECT_CONNECT_FAILS(o, WS_ERR_INVALID_ARGUMENT, "connectSocket:fail");
    CHECK_BOXES_CALLED_ONCE();
}

/* ------------------------------------------------------------------------------------------ */

#define EXPECT_SEND(id, data, len, kind, code, prefix)                                               \
    do {                                                                                             \
        result_box *b_ = new_box();                                                                  \
        int32_t rc_ = ws_send((id), (const uint8_t *)(data), (len), (kind), box_on_result, b_);     \
        CHECK_RESULT(b_, rc_, (code), (prefix));                                                     \
    } while (0)

#define EXPECT_CLOSE(id, code_arg, reason, code, prefix)                                             \
    do {                                                                                             \
        result_box *b_ = new_box();                                                                  \
        int32_t rc_ = ws_close((id), (code_arg), (reason), box_on_result, b_);                       \
        CHECK_RESULT(b_, rc_, (code), (prefix));                                                     \
    } while (0)

/* Ids never handed out: 0, negative, huge. */
static void case_unknown_task_ids(void) {
    const int64_t ids[] = {0, -5, (int64_t)1 << 62};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        EXPECT_SEND(ids[i], "x", 1, WS_TEXT, WS_ERR_UNKNOWN_TASK, "sendSocketMessage:fail");
        EXPECT_CLOSE(ids[i], 1000, "bye", WS_ERR_UNKNOWN_TASK, "closeSocket:fail");
        CHECK_EQ(ws_ready_state(ids[i]), WS_ERR_UNKNOWN_TASK);
        if (ids[i] != 0) /* 0 is not unknown for ws_on_event: it means "every task" */
            CHECK_EQ(ws_on_event(ids[i], on_event_ignore, NULL), WS_ERR_UNKNOWN_TASK);
    }
    CHECK_BOXES_CALLED_ONCE();
}

/* A task that closed: WS_ERR_CLOSED for every call, readyState CLOSED, its listeners gone. */
static void case_stale_task_id(void) {
    task_rec *rec = rec_new("stale");
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    int64_t handle = ws_on_event(id, on_event_ignore, NULL);
    CHECK_GT(handle, 0);
    CLOSE_AND_WAIT(id, rec);

    EXPECT_SEND(id, "x", 1, WS_TEXT, WS_ERR_CLOSED, "sendSocketMessage:fail");
    EXPECT_SEND(id, NULL, 0, WS_BINARY, WS_ERR_CLOSED, "sendSocketMessage:fail");
    EXPECT_CLOSE(id, 1000, NULL, WS_ERR_CLOSED, "closeSocket:fail");
    CHECK_EQ(ws_ready_state(id), WS_CLOSED);
    CHECK_EQ(ws_on_event(id, on_event_ignore, NULL), WS_ERR_CLOSED);
    CHECK_EQ(ws_off_event(handle), WS_ERR_UNKNOWN_LISTENER); /* its task closed */
    CHECK_BOXES_CALLED_ONCE();
    CHECK_SEQUENCE(rec, id);
}

/* Refused close and send arguments on an OPEN socket: nothing is sent (the server records
 * neither a message nor a close), the socket stays OPEN, and a valid close with a 123-byte
 * reason then works. */
static void case_refused_close_and_send_send_nothing(void) {
    const char *record = unique_id("refused-args");
    char path[160];
    snprintf(path, sizeof path, "/record?id=%s", record);
    task_rec *rec = rec_new("record");
    int64_t id = CONNECT(ws_url(path), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;

    const int32_t bad_codes[] = {999, 1001, 1005, 1006, 1015, 2999, 5000, -1};
    for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++)
        EXPECT_CLOSE(id, bad_codes[i], "bad", WS_ERR_INVALID_CLOSE_CODE, "closeSocket:fail");

    char reason124[125], reason123[124];
    memset(reason124, 'a', 124);
    reason124[124] = 0;
    memset(reason123, 'a', 123);
    reason123[123] = 0;
    EXPECT_CLOSE(id, 1000, reason124, WS_ERR_REASON_TOO_LONG, "closeSocket:fail");
    EXPECT_CLOSE(id, 1000, "\xFF\xFE", WS_ERR_INVALID_UTF8, "closeSocket:fail");

    const char *bad_utf8[] = {"\xFF", "\xC0\xAF", "\xED\xA0\x80", "ok\xE4\xB8", "\x80"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++)
        EXPECT_SEND(id, bad_utf8[i], strlen(bad_utf8[i]), WS_TEXT, WS_ERR_INVALID_UTF8, "sendSocketMessage:fail");
    EXPECT_SEND(id, NULL, 5, WS_TEXT, WS_ERR_INVALID_ARGUMENT, "sendSocketMessage:fail");
    EXPECT_SEND(id, NULL, 5, WS_BINARY, WS_ERR_INVALID_ARGUMENT, "sendSocketMessage:fail");
    EXPECT_SEND(id, "x", 1, 0, WS_ERR_INVALID_ARGUMENT, "sendSocketMessage:fail");
    EXPECT_SEND(id, "x", 1, 3, WS_ERR_INVALID_ARGUMENT, "sendSocketMessage:fail");
    /* Controls: the same bytes as binary are fine (the UTF-8 check is for text only), and so is
     * valid multi-byte text. These two are the only messages the server may see. */
    EXPECT_SEND(id, "\xFF", 1, WS_BINARY, WS_OK, "sendSocketMessage:ok");
    EXPECT_SEND(id, "\xE4\xB8\xAD", 3, WS_TEXT, WS_OK, "sendSocketMessage:ok");

    CHECK_BOXES_CALLED_ONCE();
    CHECK_EQ(ws_ready_state(id), WS_OPEN);
    CHECK_EQ(rec_get(rec).closes, 0);

    EXPECT_CLOSE(id, 4000, reason123, WS_OK, "closeSocket:ok");
    WAIT_CLOSE(rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 4000, true, reason123);
    CHECK_BOXES_CALLED_ONCE();

    /* The server got the 2 valid messages and the one valid close, nothing else. */
    char expected[300];
    snprintf(expected, sizeof expected, "{\"code\":4000,\"messages\":2,\"reason\":\"%s\"}", reason123);
    char *report = fetch_report(record);
    CHECK_STREQ(report, expected);
    free(report);
}

/* While CONNECTING (the silent peer never answers) a send is refused with WS_ERR_NOT_OPEN. */
static void case_send_before_open(void) {
    task_rec *rec = rec_new("connecting");
    int64_t id = CONNECT(silent_url(), rec, 1);
    if (id <= 0) return;
    CHECK_EQ(ws_ready_state(id), WS_CONNECTING);
    EXPECT_SEND(id, "early", 5, WS_TEXT, WS_ERR_NOT_OPEN, "sendSocketMessage:fail socket is not OPEN");
    CHECK_BOXES_CALLED_ONCE();
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
}

/* "An OPEN task is CLOSING as soon as [ws_close] returns (sends are refused from then on)": a send
 * right after it is refused on the spot (NOT_OPEN, or CLOSED if the server already answered);
 * once the task is CLOSED a send fails with WS_ERR_CLOSED. */
static void case_send_after_close(void) {
    task_rec *rec = rec_new("closing");
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    CHECK_EQ(ws_close(id, 1000, NULL, NULL, NULL), WS_OK);
    int32_t state = ws_ready_state(id);
    if (!CHECK(state == WS_CLOSING || state == WS_CLOSED)) fprintf(stderr, "  readyState %d\n", state);
    result_box *b = new_box();
    int32_t rc = ws_send(id, (const uint8_t *)"late", 4, WS_TEXT, box_on_result, b);
    if (!CHECK(rc == WS_ERR_NOT_OPEN || rc == WS_ERR_CLOSED)) fprintf(stderr, "  ws_send returned %d\n", rc);
    CHECK_RESULT(b, rc, rc < 0 ? rc : WS_ERR_NOT_OPEN, "sendSocketMessage:fail");
    WAIT_CLOSE(rec);
    EXPECT_SEND(id, "later", 5, WS_TEXT, WS_ERR_CLOSED, "sendSocketMessage:fail");
    CHECK_BOXES_CALLED_ONCE();
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).messages, 0); /* "late" was never sent, so never echoed */
}

/* ------------------------------------------------------------------------------------------ */

static void case_listener_handles(void) {
    CHECK_EQ(ws_off_event(0), WS_ERR_UNKNOWN_LISTENER);
    CHECK_EQ(ws_off_event(-1), WS_ERR_UNKNOWN_LISTENER);
    CHECK_EQ(ws_off_event((int64_t)1 << 62), WS_ERR_UNKNOWN_LISTENER);
    CHECK_EQ(ws_on_event(0, NULL, NULL), WS_ERR_INVALID_ARGUMENT);
    int64_t h = ws_on_event(0, on_event_ignore, NULL);
    if (CHECK_GT(h, 0)) {
        CHECK_EQ(ws_off_event(h), WS_OK);
        CHECK_EQ(ws_off_event(h), WS_ERR_UNKNOWN_LISTENER); /* already removed */
    }
}

/* Every code has a static, non-empty message; unknown codes get "unknown error code". */
static void case_strerror_and_version(void) {
    for (int32_t code = WS_OK; code >= WS_ERR_PROXY; code--) {
        const char *s = ws_strerror(code);
        if (!CHECK(s != NULL && s[0] != 0)) fprintf(stderr, "  code %d\n", code);
        if (s && code != WS_OK) CHECK(strcmp(s, "unknown error code") != 0);
        for (int32_t other = code + 1; s && other <= WS_OK; other++)
            if (!CHECK(ws_strerror(other) != s && strcmp(ws_strerror(other), s) != 0))
                fprintf(stderr, "  codes %d and %d share \"%s\"\n", code, other, s);
    }
    CHECK_STREQ(ws_strerror(1), "unknown error code");
    CHECK_STREQ(ws_strerror(WS_ERR_PROXY - 1), "unknown error code");
    CHECK_STREQ(ws_strerror(12345), "unknown error code");
    CHECK_STREQ(ws_strerror(WS_ERR_TOO_MANY_CONNECTIONS), "exceed max concurrent count");
    CHECK(ws_version() != NULL && ws_version()[0] != 0);
}

int main(void) {
    tests_begin("test_errors");
    RUN_CASE(case_null_and_unsized_options);
    RUN_CASE(case_invalid_urls);
    RUN_CASE(case_forbidden_and_malformed_headers);
    RUN_CASE(case_bad_pointers_and_protocols);
    RUN_CASE(case_unknown_task_ids);
    RUN_CASE(case_stale_task_id);
    RUN_CASE(case_refused_close_and_send_send_nothing);
    RUN_CASE(case_send_before_open);
    RUN_CASE(case_send_after_close);
    RUN_CASE(case_listener_handles);
    RUN_CASE(case_strerror_and_version);
    return tests_end();
}
