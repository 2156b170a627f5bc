/* Calls racing with ws_shutdown (issue 11, items 5 and 7), 20 rounds each:
 *
 *   - ws_connect on one thread while ws_shutdown runs on another: a returned id (> 0) always gets
 *     "connectSocket:ok" and exactly one close event; a refused call (< 0) gets exactly one
 *     "connectSocket:fail" with the returned code and no event.
 *   - ws_send, ws_close and ws_connect made with a host lock held, while ws_shutdown runs: every
 *     result callback runs exactly once, never on the calling thread (a callback that takes the
 *     host's lock would deadlock there), and after ws_shutdown returns none is still due.
 *
 * Each callback checks its thread against the caller's and takes the host lock with a timeout, so
 * a bug fails a check instead of hanging.
 */
#include "common.h"

#define ROUNDS 20
#define MAX_CALLS 400

/* ------------------------------------------------------------------------------------------ */
/* One call and its result                                                                     */

typedef struct call {
    pthread_t caller;
    int64_t returned;
    int calls;       /* result callbacks (guarded by g_mu) */
    int32_t code;    /* the first result's code */
    bool ok_prefix;  /* the first result's errMsg ends in ":ok" */
    bool on_caller;  /* a result ran on the calling thread */
    bool is_send;    /* a queued send may still fail (closed before it was written) */
    bool is_close;   /* a queued close may find its task closed by the racing shutdown */
    task_rec *rec;   /* connect only */
} call;

static pthread_mutex_t g_host_mu = PTHREAD_MUTEX_INITIALIZER; /* the host's own lock */
static atomic_int g_on_caller_thread;
static atomic_int g_host_lock_timeouts;

static void on_call_result(const ws_result *r, void *user_data) {
    call *c = user_data;
    bool on_caller = pthread_equal(pthread_self(), c->caller);
    if (on_caller) {
        atomic_fetch_add(&g_on_caller_thread, 1); /* taking the host lock here would deadlock */
    } else {
        struct timespec until = deadline_after(WAIT_MS);
        if (pthread_mutex_timedlock(&g_host_mu, &until) == 0) pthread_mutex_unlock(&g_host_mu);
        else atomic_fetch_add(&g_host_lock_timeouts, 1);
    }
    bool ok = r->err_msg && strstr(r->err_msg, ":ok") != NULL;
    pthread_mutex_lock(&g_mu);
    if (c->calls++ == 0) {
        c->code = r->code;
        c->ok_prefix = ok;
    }
    c->on_caller |= on_caller;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static call *new_call(void) {
    call *c = calloc(1, sizeof *c); /* never freed: a late callback still writes valid memory */
    if (!c) abort();
    c->caller = pthread_self();
    return c;
}

static call *g_calls[MAX_CALLS];
static atomic_int g_ncalls;

static void keep(call *c) {
    int i = atomic_fetch_add(&g_ncalls, 1);
    if (i < MAX_CALLS) g_calls[i] = c;
}

/* A slow close callback: the libws thread spends longer in the round where shutdown ends. */
static void slow_close(task_rec *rec, const ws_event *e) {
    (void)rec;
    if (e->kind == WS_EVENT_CLOSE) sleep_ms(3);
}

static int64_t connect_call(call *c, const char *url) {
    c->rec = rec_new("racing connect");
    c->rec->hook = slow_close;
    ws_connect_options o;
    ws_connect_options_init(&o);
    o.url = url;
    o.timeout_ms = WAIT_MS;
    o.group = (uint64_t)(uintptr_t)c; /* its own group: never refused for the group limit */
    o.on_event = rec_on_event;
    o.event_user_data = c->rec;
    o.on_result = on_call_result;
    o.result_user_data = c;
    return ws_connect(&o);
}

/* After the last ws_shutdown: each kept call's result ran exactly once, with the returned code;
 * each connect that returned an id got "connectSocket:ok" and exactly one close event, and a
 * refused connect got no event. */
static void check_calls(int round) {
    int n = atomic_load(&g_ncalls);
    if (n > MAX_CALLS) n = MAX_CALLS;
    for (int i = 0; i < n; i++) {
        call *c = g_calls[i];
        pthread_mutex_lock(&g_mu);
        call s = *c;
        pthread_mutex_unlock(&g_mu);
        if (!check_report(s.calls == 1, __FILE__, __LINE__,
                          "round %d call %d (returned %lld): result called exactly once (got %d)", round, i,
                          (long long)s.returned, s.calls))
            continue;
        long long want = s.returned > 0 ? WS_OK : s.returned;
        if (s.is_send && want == WS_OK) continue;
        /* A close queued (WS_OK) while shutdown closes the same task may find it closed when the
         * loop runs it: "socketTaskId N is closed" (seen under memcheck), as ws_close documents. */
        if (s.is_close && want == WS_OK && s.code == WS_ERR_CLOSED && !s.ok_prefix) continue;
        check_report(s.code == want, __FILE__, __LINE__, "round %d call %d: result code %d, returned %lld", round,
                     i, s.code, (long long)s.returned);
        check_report(s.ok_prefix == (want == WS_OK), __FILE__, __LINE__,
                     "round %d call %d: errMsg ok/fail matches code %d", round, i, s.code);
        if (!s.rec) continue;
        task_rec r = rec_get(s.rec);
        if (s.returned > 0) {
            check_report(r.closes == 1, __FILE__, __LINE__,
                         "round %d connect %lld: exactly one close event once ws_shutdown returned (got %d)", round,
                         (long long)s.returned, r.closes);
            if (r.closes == 1) CHECK_SEQUENCE(s.rec, s.returned);
        } else {
            check_report(r.n == 0, __FILE__, __LINE__, "round %d refused connect (%lld): no event (got %zu)", round,
                         (long long)s.returned, r.n);
        }
    }
    atomic_store(&g_ncalls, 0);
}

static bool calls_at_least(void *arg) { return atomic_load(&g_ncalls) >= *(int *)arg; }

/* ------------------------------------------------------------------------------------------ */
/* Item 5: ws_connect against ws_shutdown                                                       */

static atomic_bool g_stop;

static void *connect_until_stopped(void *arg) {
    const char *url = arg;
    for (int i = 0; i < MAX_CALLS / 4 && !atomic_load(&g_stop); i++) {
        call *c = new_call();
        c->returned = connect_call(c, url);
        keep(c);
    }
    return NULL;
}

static void case_connect_racing_shutdown_gets_its_close_event(void) {
    for (int round = 0; round < ROUNDS; round++) {
        atomic_store(&g_stop, false);
        CHECK_EQ(ws_init(NULL), WS_OK);
        pthread_t t[2];
        for (int k = 0; k < 2; k++)
            pthread_create(&t[k], NULL, connect_until_stopped, k ? silent_url() : ws_url("/echo"));
        int some = 2 + round % 5;
        wait_for_ms(calls_at_least, &some, WAIT_MS);
        CHECK_EQ(ws_shutdown(), WS_OK);
        atomic_store(&g_stop, true);
        for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
        CHECK_EQ(ws_shutdown(), WS_OK); /* connects after the first one started a fresh runtime */
        check_calls(round);
    }
    CHECK_EQ(atomic_load(&g_on_caller_thread), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Item 7: calls with the host's lock held against ws_shutdown                                  */

#define OPEN_TASKS 3
static int64_t g_open[OPEN_TASKS];

static void *call_under_host_lock(void *arg) {
    int which = (int)(intptr_t)arg;
    for (int i = 0; i < MAX_CALLS / 4 && !atomic_load(&g_stop); i++) {
        call *c = new_call();
        int64_t id = g_open[(i + which) % OPEN_TASKS];
        pthread_mutex_lock(&g_host_mu);
        switch (which) {
        case 0: c->is_send = true; c->returned = ws_send(id, (const uint8_t *)"x", 1, WS_TEXT, on_call_result, c); break;
        case 1: c->is_close = true; c->returned = ws_close(id, 1000, "bye", on_call_result, c); break;
        default: c->returned = connect_call(c, silent_url()); break;
        }
        pthread_mutex_unlock(&g_host_mu);
        keep(c);
        sleep_ms(1);
    }
    return NULL;
}

static void case_results_never_run_on_the_calling_thread(void) {
    for (int round = 0; round < ROUNDS; round++) {
        atomic_store(&g_stop, false);
        CHECK_EQ(ws_init(NULL), WS_OK);
        task_rec *recs[OPEN_TASKS];
        for (int i = 0; i < OPEN_TASKS; i++) {
            recs[i] = rec_new("open before shutdown");
            g_open[i] = CONNECT(ws_url("/echo"), recs[i], 1);
            if (g_open[i] > 0) WAIT_OPEN(recs[i]);
        }
        pthread_t t[3];
        for (int k = 0; k < 3; k++) pthread_create(&t[k], NULL, call_under_host_lock, (void *)(intptr_t)k);
        int some = 3 + round % 7;
        wait_for_ms(calls_at_least, &some, WAIT_MS);
        CHECK_EQ(ws_shutdown(), WS_OK);
        atomic_store(&g_stop, true);
        for (int k = 0; k < 3; k++) pthread_join(t[k], NULL);
        CHECK_EQ(ws_shutdown(), WS_OK);
        check_calls(round);
        for (int i = 0; i < OPEN_TASKS; i++)
            if (g_open[i] > 0) CHECK_SEQUENCE(recs[i], g_open[i]);
    }
    CHECK_EQ(atomic_load(&g_on_caller_thread), 0);
    CHECK_EQ(atomic_load(&g_host_lock_timeouts), 0);
}

int main(void) {
    tests_begin("test_shutdown_races");
    RUN_CASE(case_connect_racing_shutdown_gets_its_close_event);
    RUN_CASE(case_results_never_run_on_the_calling_thread);
    return tests_end();
}
