/* Callbacks: ws_* calls from inside callbacks (close the own task, connect another, remove a
 * listener), listeners added with ws_on_event per task and globally (task_id 0) and the order in
 * which they are called, and ws_off_event from another thread waiting out a running call.
 */
#include "common.h"

/* ------------------------------------------------------------------------------------------ */
/* Close the own task and connect a new one from inside the open callback.                     */

typedef struct {
    result_box close_box;
    int32_t close_rc;
    int64_t new_id;
    task_rec *new_rec;
} from_open;

static void close_self_and_connect(task_rec *rec, const ws_event *e) {
    if (e->kind != WS_EVENT_OPEN) return;
    from_open *f = rec->hook_data;
    int32_t rc = ws_close(e->task_id, 1000, "from callback", box_on_result, &f->close_box);
    ws_connect_options o = rec_options(ws_url("/echo"), f->new_rec, NULL);
    int64_t id = ws_connect(&o);
    pthread_mutex_lock(&g_mu);
    f->close_rc = rc;
    f->new_id = id;
    pthread_mutex_unlock(&g_mu);
}

static void case_close_self_and_connect_from_callback(void) {
    static from_open f; /* outlives the task even if a check fails early */
    memset(&f, 0, sizeof f);
    f.new_rec = rec_new("connected from callback");
    task_rec *rec = rec_new("closes itself");
    rec->hook = close_self_and_connect;
    rec->hook_data = &f;
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).opens, 1);
    CHECK_CLOSE(rec, 1000, true, "from callback");
    CHECK_RESULT(&f.close_box, f.close_rc, WS_OK, "closeSocket:ok");

    pthread_mutex_lock(&g_mu);
    int64_t new_id = f.new_id;
    pthread_mutex_unlock(&g_mu);
    if (!CHECK_GT(new_id, 0)) return;
    CHECK(new_id != id);
    if (WAIT_OPEN(f.new_rec)) CLOSE_AND_WAIT(new_id, f.new_rec);
    CHECK_SEQUENCE(f.new_rec, new_id);
}

/* ------------------------------------------------------------------------------------------ */
/* Listener order: the connect-time listener, then ws_on_event ones (in order added), then the */
/* global ones.                                                                                */

#define MAX_LOG 256
typedef struct {
    char tag;
    uint32_t kind;
    int64_t task_id;
} log_entry;
static log_entry g_log[MAX_LOG];
static int g_log_n;

static void log_event(const ws_event *e, void *user_data) {
    pthread_mutex_lock(&g_mu);
    if (g_log_n < MAX_LOG) g_log[g_log_n++] = (log_entry){*(const char *)user_data, e->kind, e->task_id};
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* The tags that saw events of task_id, in order, as a string like "AG AG ABG". */
static void log_for_task(int64_t task_id, char *out, size_t size) {
    size_t n = 0;
    uint32_t last_kind = 0;
    out[0] = 0;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_log_n && n + 3 < size; i++) {
        if (g_log[i].task_id != task_id) continue;
        if (n > 0 && g_log[i].kind != last_kind) out[n++] = ' ';
        last_kind = g_log[i].kind;
        out[n++] = g_log[i].tag;
    }
    out[n] = 0;
    pthread_mutex_unlock(&g_mu);
}

/* Whether listener `tag` saw an event of `kind` for `task_id`. */
typedef struct {
    int64_t task_id;
    uint32_t kind;
    char tag;
} log_query;

static bool log_has(void *arg) {
    log_query *q = arg;
    for (int i = 0; i < g_log_n; i++)
        if (g_log[i].task_id == q->task_id && g_log[i].kind == q->kind && g_log[i].tag == q->tag) return true;
    return false;
}

static void case_listener_order_and_global_listeners(void) {
    static const char A = 'A', B = 'B', C = 'C', G = 'G', H = 'H';
    pthread_mutex_lock(&g_mu);
    g_log_n = 0;
    pthread_mutex_unlock(&g_mu);

    int64_t g1 = ws_on_event(0, log_event, (void *)&G);
    int64_t g2 = ws_on_event(0, log_event, (void *)&H);
    CHECK_GT(g1, 0);
    CHECK_GT(g2, 0);

    /* Task 1: A at connect time; B and C added once it is open (so they miss only the open). */
    task_rec *rec = rec_new("listened");
    result_box box = {0};
    ws_connect_options o = rec_options(ws_url("/echo"), NULL, &box);
    o.on_event = log_event;
    o.event_user_data = (void *)&A;
    int64_t id = ws_connect(&o);
    CHECK_RESULT(&box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok");
    if (id <= 0) return;
    /* Wait for the open (seen by A), then add rec (to check contents), B and C. */
    log_query open_of_1 = {id, WS_EVENT_OPEN, 'A'};
    CHECK(wait_for(log_has, &open_of_1));
    int64_t hr = ws_on_event(id, rec_on_event, rec);
    int64_t hb = ws_on_event(id, log_event, (void *)&B);
    int64_t hc = ws_on_event(id, log_event, (void *)&C);
    CHECK(hr > 0 && hb > 0 && hc > 0);
    CHECK(hb != hc && hb != g1 && hb != g2 && hb != hr); /* handles are distinct */

    /* Task 2 has no listener of its own: only the global ones see it (the server closes it). */
    result_box box2 = {0};
    ws_connect_options o2 = rec_options(ws_url("/close?code=4003&reason=x"), NULL, &box2);
    int64_t id2 = ws_connect(&o2);
    CHECK_RESULT(&box2, id2 > 0 ? WS_OK : id2, WS_OK, "connectSocket:ok");

    CHECK_EQ(ws_send(id, (const uint8_t *)"m", 1, WS_TEXT, NULL, NULL), WS_OK);
    WAIT_MESSAGES(rec, 1);
    CLOSE_AND_WAIT(id, rec);
    /* H is called last for each event: once it saw both closes, the log is complete. */
    log_query close_of_1 = {id, WS_EVENT_CLOSE, 'H'}, close_of_2 = {id2, WS_EVENT_CLOSE, 'H'};
    CHECK(wait_for(log_has, &close_of_1));
    CHECK(wait_for(log_has, &close_of_2));

    char seen[128];
    log_for_task(id, seen, sizeof seen);
    /* open: A G H (B and C came later), message: A B C G H, close: A B C G H. Task listeners come
     * before global ones, each in the order added (rec, added before B, logs nothing here). */
    CHECK_STREQ(seen, "AGH ABCGH ABCGH");
    log_for_task(id2, seen, sizeof seen);
    CHECK_STREQ(seen, "GH GH");

    /* The listener added with ws_on_event saw the message and the close with full contents. */
    rec_event *m = rec_find(rec, WS_EVENT_MESSAGE, 0);
    CHECK(m && m->len == 1 && m->data[0] == 'm' && m->msg_kind == WS_TEXT);
    CHECK_CLOSE(rec, 1000, true, "done");

    /* Global listeners stay until removed; task ones went with their task. */
    CHECK_EQ(ws_off_event(g1), WS_OK);
    CHECK_EQ(ws_off_event(g2), WS_OK);
    CHECK_EQ(ws_off_event(hb), WS_ERR_UNKNOWN_LISTENER);
}

/* ------------------------------------------------------------------------------------------ */
/* ws_off_event from inside the listener itself.                                               */

typedef struct {
    int64_t handle; /* its own handle, set before any event can reach it */
    int calls;
    int32_t off_rc;
} self_remover;

static void remove_self_on_message(const ws_event *e, void *user_data) {
    self_remover *s = user_data;
    pthread_mutex_lock(&g_mu);
    s->calls++;
    int64_t handle = s->handle;
    pthread_mutex_unlock(&g_mu);
    if (e->kind != WS_EVENT_MESSAGE) return;
    int32_t rc = ws_off_event(handle); /* must return at once (no deadlock) */
    pthread_mutex_lock(&g_mu);
    s->off_rc = rc;
    pthread_mutex_unlock(&g_mu);
}

static void case_off_event_from_inside_callback(void) {
    static self_remover s;
    memset(&s, 0, sizeof s);
    s.off_rc = 1; /* not a ws code: "not called" */
    task_rec *rec = rec_new("main listener");
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    int64_t h = ws_on_event(id, remove_self_on_message, &s);
    pthread_mutex_lock(&g_mu);
    s.handle = h;
    pthread_mutex_unlock(&g_mu);
    CHECK_GT(h, 0);
    for (int i = 0; i < 3; i++) CHECK_EQ(ws_send(id, (const uint8_t *)"abc", 3, WS_BINARY, NULL, NULL), WS_OK);
    WAIT_MESSAGES(rec, 3);
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    self_remover got;
    pthread_mutex_lock(&g_mu);
    got = s;
    pthread_mutex_unlock(&g_mu);
    CHECK_EQ(got.off_rc, WS_OK);
    CHECK_EQ(got.calls, 1); /* the first message only: not the 2 others, not the close */
    CHECK_EQ(ws_off_event(h), WS_ERR_UNKNOWN_LISTENER);
}

/* ------------------------------------------------------------------------------------------ */
/* ws_off_event from another thread waits for a call of that listener in progress.            */

typedef struct {
    int in_call, calls;
} slow_listener;

static void slow_event(const ws_event *e, void *user_data) {
    (void)e;
    slow_listener *s = user_data;
    pthread_mutex_lock(&g_mu);
    s->in_call = 1;
    s->calls++;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    sleep_ms(300); /* widens the window in which ws_off_event must wait for us */
    pthread_mutex_lock(&g_mu);
    s->in_call = 0;
    pthread_mutex_unlock(&g_mu);
}

static bool slow_in_call(void *arg) { return ((slow_listener *)arg)->in_call != 0; }

static void case_off_event_waits_for_running_call(void) {
    static slow_listener s;
    memset(&s, 0, sizeof s);
    int64_t h = ws_on_event(0, slow_event, &s);
    if (!CHECK_GT(h, 0)) return;
    task_rec *rec = rec_new("slow");
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0) return;
    CHECK(wait_for(slow_in_call, &s)); /* the global listener is inside the open event now */
    CHECK_EQ(ws_off_event(h), WS_OK);
    pthread_mutex_lock(&g_mu);
    int in_call = s.in_call, calls = s.calls;
    pthread_mutex_unlock(&g_mu);
    CHECK_EQ(in_call, 0); /* ws_off_event returned only after the running call did */
    WAIT_OPEN(rec);
    CHECK_EQ(ws_send(id, (const uint8_t *)"after", 5, WS_TEXT, NULL, NULL), WS_OK);
    WAIT_MESSAGES(rec, 1);
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    pthread_mutex_lock(&g_mu);
    CHECK_EQ(s.calls, calls); /* never called again */
    pthread_mutex_unlock(&g_mu);
}

/* ------------------------------------------------------------------------------------------ */
/* A listener added from inside the open callback gets the rest of the events.                 */

static void add_listener_on_open(task_rec *rec, const ws_event *e) {
    if (e->kind != WS_EVENT_OPEN) return;
    task_rec *late = rec->hook_data;
    int64_t h = ws_on_event(e->task_id, rec_on_event, late);
    check_report(h > 0, __FILE__, __LINE__, "ws_on_event from the open callback returns a handle (got %lld)",
                 (long long)h);
}

static void case_on_event_from_open_callback(void) {
    task_rec *late = rec_new("added in open");
    task_rec *rec = rec_new("adder");
    rec->hook = add_listener_on_open;
    rec->hook_data = late;
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    CHECK_EQ(ws_send(id, (const uint8_t *)"hi", 2, WS_TEXT, NULL, NULL), WS_OK);
    WAIT_MESSAGES(rec, 1);
    CLOSE_AND_WAIT(id, rec);
    CHECK(wait_for(rec_has_close, late));
    task_rec s = rec_get(late);
    CHECK_EQ(s.opens, 0);
    CHECK_EQ(s.messages, 1);
    CHECK_EQ(s.closes, 1);
    CHECK_EQ(s.after_close, 0);
}

int main(void) {
    tests_begin("test_callbacks");
    RUN_CASE(case_close_self_and_connect_from_callback);
    RUN_CASE(case_listener_order_and_global_listeners);
    RUN_CASE(case_off_event_from_inside_callback);
    RUN_CASE(case_off_event_waits_for_running_call);
    RUN_CASE(case_on_event_from_open_callback);
    return tests_end();
}
