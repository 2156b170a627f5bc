/* The opening handshake: extra request headers and offered subprotocols reach the server; the
 * open event reports the chosen protocol and the response headers; a server that picks a
 * protocol the client did not offer, or refuses the upgrade, fails the connect (error event, then
 * close 1006).
 */
#include "common.h"

/* The server's /headers message: compact JSON with sorted keys and lower-case header names. */
static char *server_view(task_rec *rec) {
    if (!WAIT_MESSAGES(rec, 1)) return strdup("");
    rec_event *m = rec_find(rec, WS_EVENT_MESSAGE, 0);
    CHECK_EQ(m->msg_kind, WS_TEXT);
    char *json = calloc(1, m->len + 1);
    memcpy(json, m->data, m->len);
    return json;
}

static void case_headers_and_protocol_reach_server(void) {
    ws_header headers[] = {{"X-Token", "abc"}, {"X-Second", "two words"}};
    const char *protocols[] = {"foo", "superchat", "chat"};
    task_rec *rec = rec_new("headers");
    result_box box = {0};
    ws_connect_options o = rec_options(ws_url("/headers"), rec, &box);
    o.headers = headers;
    o.header_count = 2;
    o.protocols = protocols;
    o.protocol_count = 3;
    int64_t id = ws_connect(&o);
    CHECK_RESULT(&box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok");
    if (id <= 0 || !WAIT_OPEN(rec)) return;

    /* The server picks the first offered protocol it supports ("superchat"; "foo" is unknown). */
    rec_event *open = rec_find(rec, WS_EVENT_OPEN, 0);
    CHECK_STREQ(open->protocol, "superchat");
    CHECK_STREQ(open_header(open, "Sec-WebSocket-Protocol"), "superchat");
    CHECK_STREQ(open_header(open, "X-Test-Server"), "libws-ffi-tests");
    CHECK(open_header(open, "Sec-WebSocket-Accept") != NULL);

    char *json = server_view(rec);
    CHECK_CONTAINS(json, "\"x-token\":\"abc\"");
    CHECK_CONTAINS(json, "\"x-second\":\"two words\"");
    CHECK_CONTAINS(json, "\"sec-websocket-protocol\":\"foo, superchat, chat\"");
    CHECK_CONTAINS(json, "\"protocol\":\"superchat\"");
    CHECK_CONTAINS(json, "\"path\":\"/headers\"");
    /* Host carries the port (not the default 80), and there is exactly one (no ", " join). */
    char host[96];
    snprintf(host, sizeof host, "\"host\":\"%s\"", env_or_die("WS_BASE") + strlen("ws://"));
    CHECK_CONTAINS(json, host);
    free(json);

    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 1000, true, "done");
}

/* Offered protocols the server does not support: the handshake succeeds with no protocol. */
static void case_no_common_protocol_opens_without_one(void) {
    const char *protocols[] = {"foo"};
    task_rec *rec = rec_new("nocommon");
    result_box box = {0};
    ws_connect_options o = rec_options(ws_url("/headers"), rec, &box);
    o.protocols = protocols;
    o.protocol_count = 1;
    int64_t id = ws_connect(&o);
    CHECK_RESULT(&box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok");
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    rec_event *open = rec_find(rec, WS_EVENT_OPEN, 0);
    CHECK_STREQ(open->protocol, "");
    CHECK(open_header(open, "Sec-WebSocket-Protocol") == NULL);
    char *json = server_view(rec);
    CHECK_CONTAINS(json, "\"protocol\":null");
    CHECK_CONTAINS(json, "\"sec-websocket-protocol\":\"foo\"");
    free(json);
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
}

/* Connects (which must be accepted: "connectSocket:ok") and expects the handshake to fail:
 * an error event with WS_ERR_HANDSHAKE and "connectSocket:fail ...", then close 1006, no open. */
static void expect_handshake_failure(const char *path, const char *const *protocols, size_t protocol_count,
                                     const char *detail) {
    task_rec *rec = rec_new(path);
    result_box box = {0};
    ws_connect_options o = rec_options(ws_url(path), rec, &box);
    o.protocols = protocols;
    o.protocol_count = protocol_count;
    int64_t id = ws_connect(&o);
    CHECK_RESULT(&box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok");
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).opens, 0);
    CHECK_ERROR(rec, WS_ERR_HANDSHAKE, "connectSocket:fail");
    rec_event *e = rec_find(rec, WS_EVENT_ERROR, 0);
    if (e && detail) CHECK_CONTAINS(e->err_msg, detail);
    CHECK_CLOSE(rec, 1006, false, "");
    CHECK_EQ(ws_ready_state(id), WS_CLOSED);
}

/* The server answers "Sec-WebSocket-Protocol: chat" though the client offered none. */
static void case_server_protocol_when_none_offered_fails(void) {
    expect_handshake_failure("/force-protocol?p=chat", NULL, 0, NULL);
}

/* The server answers "chat" though the client offered only "foo". */
static void case_server_protocol_not_offered_fails(void) {
    const char *protocols[] = {"foo"};
    expect_handshake_failure("/force-protocol?p=chat", protocols, 1, NULL);
}

/* The server refuses the upgrade with HTTP 403. */
static void case_http_403_fails_handshake(void) {
    expect_handshake_failure("/reject", NULL, 0, "403");
}

/* tcp_no_delay is accepted and the socket works as usual. */
static void case_tcp_no_delay_connects(void) {
    task_rec *rec = rec_new("nodelay");
    result_box box = {0};
    ws_connect_options o = rec_options(ws_url("/echo"), rec, &box);
    o.tcp_no_delay = true;
    int64_t id = ws_connect(&o);
    CHECK_RESULT(&box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok");
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    CHECK_EQ(ws_send(id, (const uint8_t *)"x", 1, WS_TEXT, NULL, NULL), WS_OK);
    WAIT_MESSAGES(rec, 1);
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
}

int main(void) {
    tests_begin("test_handshake");
    RUN_CASE(case_headers_and_protocol_reach_server);
    RUN_CASE(case_no_common_protocol_opens_without_one);
    RUN_CASE(case_server_protocol_when_none_offered_fails);
    RUN_CASE(case_server_protocol_not_offered_fails);
    RUN_CASE(case_http_403_fails_handshake);
    RUN_CASE(case_tcp_no_delay_connects);
    return tests_end();
}
