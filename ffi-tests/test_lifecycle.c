/* The runtime's life: ws_init with a config (and its limits), ws_init while running, ws_shutdown
 * closing every task (1001, close events delivered before it returns), a fresh runtime after
 * ws_shutdown, and ws_init/ws_shutdown refused from a callback.
 */
#include "common.h"

static void case_shutdown_when_idle(void) {
    CHECK_EQ(ws_shutdown(), WS_OK);
    CHECK_EQ(ws_shutdown(), WS_OK);
}

static void case_config_defaults_and_bad_config(void) {
    ws_config c;
    CHECK_EQ(ws_config_init(&c), WS_OK);
    CHECK_EQ(c.struct_size, sizeof(ws_config));
    CHECK_EQ(c.max_connections_per_group, 5);
    CHECK_EQ(c.connect_timeout_ms, 60000);
    CHECK_EQ(c.close_timeout_ms, 5000);
    CHECK_EQ(c.max_message_size, 64ull * 1024 * 1024);
    CHECK_EQ(c.max_send_queue, 64ull * 1024 * 1024);
    c.struct_size = 0;
    CHECK_EQ(ws_init(&c), WS_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ws_shutdown(), WS_OK);
}

/* max_connections_per_group = 2: the 3rd connect of a group is refused; ws_init while running
 * is WS_ERR_ALREADY_RUNNING (also when the runtime was started implicitly). */
static void case_init_with_config_limits_group(void) {
    ws_config c;
    ws_config_init(&c);
    c.max_connections_per_group = 2;
    CHECK_EQ(ws_init(&c), WS_OK);
    CHECK_EQ(ws_init(&c), WS_ERR_ALREADY_RUNNING);
    CHECK_EQ(ws_init(NULL), WS_ERR_ALREADY_RUNNING);

    task_rec *rec[2];
    int64_t id[2];
    for (int i = 0; i < 2; i++) {
        rec[i] = rec_new("limited");
        id[i] = CONNECT(ws_url("/echo"), rec[i], 7);
        if (id[i] > 0) WAIT_OPEN(rec[i]);
    }
    result_box box = {0};
    ws_connect_options o = rec_options(ws_url("/echo"), NULL, &box);
    o.group = 7;
    int64_t third = ws_connect(&o);
    CHECK_RESULT(&box, third, WS_ERR_TOO_MANY_CONNECTIONS, "connectSocket:fail");
    CHECK_CONTAINS(box_get(&box).err_msg, "exceed max concurrent count (2)");

    CHECK_EQ(ws_shutdown(), WS_OK);
    for (int i = 0; i < 2; i++) {
        if (id[i] <= 0) continue;
        CHECK_SEQUENCE(rec[i], id[i]);
        CHECK_CLOSE(rec[i], 1001, true, NULL);
    }

    /* Started implicitly by a call: ws_init is still "already running". */
    CHECK_EQ(ws_ready_state(id[0]), WS_CLOSED);
    task_rec *r = rec_new("implicit start");
    int64_t implicit = CONNECT(ws_url("/echo"), r, 7);
    CHECK_EQ(ws_init(&c), WS_ERR_ALREADY_RUNNING);
    if (implicit > 0) WAIT_OPEN(r);
    CHECK_EQ(ws_shutdown(), WS_OK);
    if (implicit > 0) CHECK_SEQUENCE(r, implicit);
}

/* ws_shutdown with open tasks (and one CONNECTING): every task's close event has run when it
 * returns, 1001 for the open ones (the server answers the close) and 1006 for the connecting
 * one; the server saw 1001. Global listeners are removed; the next call starts a fresh runtime
 * with the default config; a second ws_shutdown closes its tasks too. */
typedef struct {
    int calls;
} counter;

static void count_event(const ws_event *e, void *user_data) {
    (void)e;
    pthread_mutex_lock(&g_mu);
    ((counter *)user_data)->calls++;
    pthread_mutex_unlock(&g_mu);
}

static int counter_get(counter *c) {
    pthread_mutex_lock(&g_mu);
    int n = c->calls;
    pthread_mutex_unlock(&g_mu);
    return n;
}

static void case_shutdown_closes_everything_and_restarts(void) {
    enum { N = 3 };
    static counter global;
    int64_t gh = ws_on_event(0, count_event, &global);
    CHECK_GT(gh, 0);

    const char *record = unique_id("shutdown");
    char path[160];
    snprintf(path, sizeof path, "/record?id=%s", record);
    task_rec *rec[N];
    int64_t id[N];
    for (int i = 0; i < N; i++) {
        rec[i] = rec_new("open at shutdown");
        id[i] = CONNECT(i == 0 ? ws_url(path) : ws_url("/echo"), rec[i], 8);
        if (id[i] > 0) WAIT_OPEN(rec[i]);
    }
    task_rec *connecting = rec_new("connecting at shutdown");
    int64_t cid = CONNECT(silent_url(), connecting, 8);

    CHECK_EQ(ws_shutdown(), WS_OK);
    /* No waiting: the close events must already have run. */
    for (int i = 0; i < N; i++) {
        if (id[i] <= 0) continue;
        CHECK_EQ(rec_get(rec[i]).closes, 1);
        CHECK_SEQUENCE(rec[i], id[i]);
        CHECK_EQ(rec_get(rec[i]).errors, 0);
        CHECK_CLOSE(rec[i], 1001, true, NULL);
        CHECK_EQ(ws_ready_state(id[i]), WS_CLOSED);
    }
    if (cid > 0) {
        CHECK_EQ(rec_get(connecting).closes, 1);
        CHECK_SEQUENCE(connecting, cid);
        CHECK_EQ(rec_get(connecting).opens, 0);
        CHECK_CLOSE(connecting, 1006, false, NULL);
    }
    int global_calls = counter_get(&global);
    CHECK_GT(global_calls, 0); /* it saw the events before shutdown */
    CHECK_EQ(ws_off_event(gh), WS_ERR_UNKNOWN_LISTENER); /* removed by ws_shutdown */

    /* A fresh runtime, default config (5 per group), ids still never reused. */
    task_rec *fresh[4];
    int64_t fid[4];
    for (int i = 0; i < 4; i++) {
        fresh[i] = rec_new("after restart");
        fid[i] = CONNECT(ws_url("/echo"), fresh[i], 8);
        if (fid[i] > 0) WAIT_OPEN(fresh[i]);
        CHECK_GT(fid[i], cid);
    }
    if (fid[0] > 0) {
        CHECK_EQ(ws_send(fid[0], (const uint8_t *)"again", 5, WS_TEXT, NULL, NULL), WS_OK);
        WAIT_MESSAGES(fresh[0], 1);
    }
    CHECK_EQ(counter_get(&global), global_calls); /* the old global listener is gone */

    char *report = fetch_report(record);
    CHECK_STREQ(report, "{\"code\":1001,\"messages\":0,\"reason\":\"\"}");
    free(report);

    CHECK_EQ(ws_shutdown(), WS_OK);
    for (int i = 0; i < 4; i++) {
        if (fid[i] <= 0) continue;
        CHECK_EQ(rec_get(fresh[i]).closes, 1);
        CHECK_SEQUENCE(fresh[i], fid[i]);
        CHECK_CLOSE(fresh[i], 1001, true, NULL);
    }
}

/* ws_init and ws_shutdown from a callback: WS_ERR_WRONG_THREAD, and nothing breaks. */
typedef struct {
    int32_t shutdown_rc, init_rc;
    int runs;
} from_callback;

static void call_lifecycle_on_open(task_rec *rec, const ws_event *e) {
    if (e->kind != WS_EVENT_OPEN) return;
    from_callback *f = rec->hook_data;
    int32_t s = ws_shutdown();
    int32_t i = ws_init(NULL);
    pthread_mutex_lock(&g_mu);
    f->shutdown_rc = s;
    f->init_rc = i;
    f->runs++;
    pthread_mutex_unlock(&g_mu);
}

static void case_init_and_shutdown_refused_in_callback(void) {
    static from_callback f;
    task_rec *rec = rec_new("lifecycle in callback");
    rec->hook = call_lifecycle_on_open;
    rec->hook_data = &f;
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    pthread_mutex_lock(&g_mu);
    from_callback got = f;
    pthread_mutex_unlock(&g_mu);
    CHECK_EQ(got.runs, 1);
    CHECK_EQ(got.shutdown_rc, WS_ERR_WRONG_THREAD);
    CHECK_EQ(got.init_rc, WS_ERR_WRONG_THREAD);
    /* The runtime still works. */
    CHECK_EQ(ws_send(id, (const uint8_t *)"still here", 10, WS_TEXT, NULL, NULL), WS_OK);
    WAIT_MESSAGES(rec, 1);
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(ws_shutdown(), WS_OK);
}

/* max_message_size = 1024: a bigger send is refused (WS_ERR_MESSAGE_TOO_BIG) and one at the limit
 * works; a bigger message from the server fails the connection (error event, then close). */
static void case_message_size_limit(void) {
    ws_config c;
    ws_config_init(&c);
    c.max_message_size = 1024;
    CHECK_EQ(ws_init(&c), WS_OK);

    task_rec *rec = rec_new("limited size");
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id > 0 && WAIT_OPEN(rec)) {
        static uint8_t big[1025];
        memset(big, 'x', sizeof big);
        result_box too_big = {0}, fits = {0};
        CHECK_RESULT(&too_big, ws_send(id, big, 1025, WS_BINARY, box_on_result, &too_big), WS_ERR_MESSAGE_TOO_BIG,
                     "sendSocketMessage:fail");
        CHECK_RESULT(&fits, ws_send(id, big, 1024, WS_BINARY, box_on_result, &fits), WS_OK, "sendSocketMessage:ok");
        if (WAIT_MESSAGES(rec, 1)) CHECK_EQ(rec_find(rec, WS_EVENT_MESSAGE, 0)->len, 1024);
        CLOSE_AND_WAIT(id, rec);
        CHECK_SEQUENCE(rec, id);
    }

    /* /headers answers with JSON of the request headers: a 2000-byte header makes it > 1024. */
    static char pad[2001];
    memset(pad, 'p', 2000);
    ws_header h[] = {{"X-Pad", pad}};
    task_rec *r2 = rec_new("server sends too much");
    result_box box = {0};
    ws_connect_options o = rec_options(ws_url("/headers"), r2, &box);
    o.headers = h;
    o.header_count = 1;
    int64_t id2 = ws_connect(&o);
    CHECK_RESULT(&box, id2 > 0 ? WS_OK : id2, WS_OK, "connectSocket:ok");
    if (id2 > 0 && WAIT_CLOSE(r2)) {
        CHECK_SEQUENCE(r2, id2);
        CHECK_EQ(rec_get(r2).opens, 1);
        CHECK_EQ(rec_get(r2).messages, 0);
        CHECK_ERROR(r2, WS_ERR_MESSAGE_TOO_BIG, "onSocketError:fail");
        rec_event *close = rec_find(r2, WS_EVENT_CLOSE, 0);
        CHECK(close && !close->was_clean);
    }
    CHECK_EQ(ws_shutdown(), WS_OK);
}

int main(void) {
    tests_begin("test_lifecycle");
    RUN_CASE(case_shutdown_when_idle);
    RUN_CASE(case_config_defaults_and_bad_config);
    RUN_CASE(case_init_with_config_limits_group);
    RUN_CASE(case_shutdown_closes_everything_and_restarts);
    RUN_CASE(case_init_and_shutdown_refused_in_callback);
    RUN_CASE(case_message_size_limit);
    return tests_end();
}
