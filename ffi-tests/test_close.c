/* Closing: by the server (with a code and reason, or with none: 1005), by the client (the server
 * sees the code and reason), the second close of a task, and ws_close_group.
 */
#include "common.h"

static void expect_server_close(const char *path, int code, const char *reason) {
    task_rec *rec = rec_new(path);
    int64_t id = CONNECT(ws_url(path), rec, 1);
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    task_rec s = rec_get(rec);
    CHECK_EQ(s.opens, 1);
    CHECK_EQ(s.errors, 0);
    CHECK_CLOSE(rec, code, true, reason);
    CHECK_EQ(ws_ready_state(id), WS_CLOSED);
}

static void case_server_closes_with_code_and_reason(void) {
    expect_server_close("/close?code=4001&reason=bye%20now", 4001, "bye now");
}

/* A multi-byte reason: reason_len counts bytes ("adiós" is 6). */
static void case_server_close_reason_is_utf8(void) {
    expect_server_close("/close?code=1000&reason=adi%C3%B3s", 1000, "adi\xC3\xB3s");
}

/* An empty close frame: no status code, so 1005 (and still a clean close). */
static void case_server_closes_without_code_is_1005(void) {
    expect_server_close("/close-empty", 1005, "");
}

/* The client closes with 4000 and a reason: the result is "closeSocket:ok", the close event echoes
 * the code, and the server received exactly that code and reason (after the 2 messages). */
static void case_client_close_seen_by_server(void) {
    const char *record = unique_id("client-close");
    char path[160];
    snprintf(path, sizeof path, "/record?id=%s", record);
    task_rec *rec = rec_new("record");
    int64_t id = CONNECT(ws_url(path), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    CHECK_EQ(ws_send(id, (const uint8_t *)"one", 3, WS_TEXT, NULL, NULL), WS_OK);
    CHECK_EQ(ws_send(id, (const uint8_t *)"two", 3, WS_BINARY, NULL, NULL), WS_OK);

    result_box box = {0};
    int32_t rc = ws_close(id, 4000, "client bye", box_on_result, &box);
    /* CLOSING as soon as ws_close returns (or already CLOSED if the server was that quick). */
    int32_t state = ws_ready_state(id);
    CHECK(state == WS_CLOSING || state == WS_CLOSED);
    CHECK_RESULT(&box, rc, WS_OK, "closeSocket:ok");
    CHECK_STREQ(box_get(&box).err_msg, "closeSocket:ok");
    CHECK_EQ(box_get(&box).task_id, id);

    WAIT_CLOSE(rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 4000, true, "client bye");
    CHECK_EQ(rec_get(rec).errors, 0);
    CHECK_EQ(box_get(&box).calls, 1);

    char *report = fetch_report(record);
    CHECK_STREQ(report, "{\"code\":4000,\"messages\":2,\"reason\":\"client bye\"}");
    free(report);
}

/* Code 0 means 1000 and a NULL reason means none. */
static void case_client_close_defaults(void) {
    const char *record = unique_id("default-close");
    char path[160];
    snprintf(path, sizeof path, "/record?id=%s", record);
    task_rec *rec = rec_new("default");
    int64_t id = CONNECT(ws_url(path), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    result_box box = {0};
    CHECK_RESULT(&box, ws_close(id, 0, NULL, box_on_result, &box), WS_OK, "closeSocket:ok");
    WAIT_CLOSE(rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 1000, true, "");
    char *report = fetch_report(record);
    CHECK_STREQ(report, "{\"code\":1000,\"messages\":0,\"reason\":\"\"}");
    free(report);
}

/* A second close while CLOSING changes nothing: the server gets the first code, one close event. */
static void case_second_close_is_ignored(void) {
    const char *record = unique_id("twice");
    char path[160];
    snprintf(path, sizeof path, "/record?id=%s", record);
    task_rec *rec = rec_new("twice");
    int64_t id = CONNECT(ws_url(path), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    result_box first = {0}, second = {0};
    CHECK_RESULT(&first, ws_close(id, 4000, "first", box_on_result, &first), WS_OK, "closeSocket:ok");
    int32_t rc = ws_close(id, 4001, "second", box_on_result, &second);
    WAIT_CLOSE(rec);
    CHECK(wait_for(box_called, &second));
    result_box b = box_get(&second);
    CHECK_EQ(b.calls, 1);
    if (rc < 0) CHECK_EQ(b.code, rc); /* a refused call reports the code it returned */
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 4000, true, "first");
    char *report = fetch_report(record);
    CHECK_STREQ(report, "{\"code\":4000,\"messages\":0,\"reason\":\"first\"}");
    free(report);
}

/* ws_close_group closes every task of the group (and only those), each with its own close event;
 * a bad code closes nothing. */
static void case_close_group(void) {
    enum { N = 3 };
    const uint64_t group = 4242, other_group = 4243;
    task_rec *rec[N];
    int64_t id[N];
    for (int i = 0; i < N; i++) {
        rec[i] = rec_new("group member");
        id[i] = CONNECT(ws_url("/echo"), rec[i], group);
        if (id[i] > 0) WAIT_OPEN(rec[i]);
    }
    task_rec *other = rec_new("other group");
    int64_t other_id = CONNECT(ws_url("/echo"), other, other_group);
    if (other_id > 0) WAIT_OPEN(other);

    result_box bad = {0};
    CHECK_RESULT(&bad, ws_close_group(group, 999, "bad", box_on_result, &bad), WS_ERR_INVALID_CLOSE_CODE,
                 "closeSocket:fail");
    CHECK_EQ(box_get(&bad).task_id, 0);
    loop_barrier();
    for (int i = 0; i < N; i++) CHECK_EQ(ws_ready_state(id[i]), WS_OPEN);

    result_box box = {0};
    CHECK_RESULT(&box, ws_close_group(group, 4002, "group bye", box_on_result, &box), WS_OK, "closeSocket:ok");
    CHECK_EQ(box_get(&box).task_id, 0);
    for (int i = 0; i < N; i++) {
        WAIT_CLOSE(rec[i]);
        CHECK_SEQUENCE(rec[i], id[i]);
        CHECK_CLOSE(rec[i], 4002, true, "group bye");
    }
    loop_barrier();
    CHECK_EQ(ws_ready_state(other_id), WS_OPEN);
    CHECK_EQ(rec_get(other).closes, 0);
    CLOSE_AND_WAIT(other_id, other);
    CHECK_SEQUENCE(other, other_id);
}

/* The mini-program exits: ws_close_group takes 1001 (going away) and the server receives it, while
 * ws_close still refuses 1001 for a single task (a task is closed by its page, not by leaving). */
static void case_close_group_going_away(void) {
    const uint64_t group = 4244;
    const char *record = unique_id("going-away");
    char path[160];
    snprintf(path, sizeof path, "/record?id=%s", record);
    task_rec *rec = rec_new("exiting");
    int64_t id = CONNECT(ws_url(path), rec, group);
    if (id <= 0 || !WAIT_OPEN(rec)) return;

    result_box single = {0};
    CHECK_RESULT(&single, ws_close(id, 1001, "single", box_on_result, &single), WS_ERR_INVALID_CLOSE_CODE,
                 "closeSocket:fail");
    loop_barrier();
    CHECK_EQ(ws_ready_state(id), WS_OPEN);

    result_box box = {0};
    CHECK_RESULT(&box, ws_close_group(group, 1001, "exit", box_on_result, &box), WS_OK, "closeSocket:ok");
    WAIT_CLOSE(rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 1001, true, "exit");
    char *report = fetch_report(record);
    CHECK_STREQ(report, "{\"code\":1001,\"messages\":0,\"reason\":\"exit\"}");
    free(report);
}

int main(void) {
    tests_begin("test_close");
    RUN_CASE(case_server_closes_with_code_and_reason);
    RUN_CASE(case_server_close_reason_is_utf8);
    RUN_CASE(case_server_closes_without_code_is_1005);
    RUN_CASE(case_client_close_seen_by_server);
    RUN_CASE(case_client_close_defaults);
    RUN_CASE(case_second_close_is_ignored);
    RUN_CASE(case_close_group);
    RUN_CASE(case_close_group_going_away);
    return tests_end();
}
