/* Host code calling back into libws at awkward moments (issue 11, items 6 and 9):
 *
 *   - ws_off_event on a task's listener while that task's close event is being delivered: from
 *     another listener's close callback, from another thread while another listener runs, and
 *     from another thread while the listener itself runs. It returns WS_OK, waits for the running
 *     call, and the listener is never called afterwards (so the host may free its user_data).
 *   - A logger that calls ws_* functions, during ws_init and during the first ws_connect (which
 *     starts the runtime): no deadlock. The calls run on a helper thread and are waited for with
 *     a bound; on a hang the test reports it and exits.
 */
#include "common.h"

/* ------------------------------------------------------------------------------------------ */
/* A second listener of a task, and what happened to it                                         */

typedef struct {
    int64_t handle;
    int closes;       /* close events it received */
    int entered;      /* inside its close callback */
    int returned;     /* its close callback finished */
    int hold_ms;      /* how long its close callback takes */
} second;

static void second_on_event(const ws_event *e, void *user_data) {
    second *s = user_data;
    if (e->kind != WS_EVENT_CLOSE) return;
    pthread_mutex_lock(&g_mu);
    s->closes++;
    s->entered = 1;
    int hold = s->hold_ms;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    if (hold) sleep_ms(hold); /* widens the window in which ws_off_event must wait for us */
    pthread_mutex_lock(&g_mu);
    s->returned = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static second *new_second(int64_t task_id, int hold_ms) {
    second *s = calloc(1, sizeof *s); /* never freed: a late call still writes valid memory */
    if (!s) abort();
    s->hold_ms = hold_ms;
    int64_t h = ws_on_event(task_id, second_on_event, s);
    CHECK_GT(h, 0);
    pthread_mutex_lock(&g_mu);
    s->handle = h;
    pthread_mutex_unlock(&g_mu);
    return s;
}

static second get_second(second *s) {
    pthread_mutex_lock(&g_mu);
    second copy = *s;
    pthread_mutex_unlock(&g_mu);
    return copy;
}

/* ------------------------------------------------------------------------------------------ */
/* From the first listener's close callback                                                     */

typedef struct {
    second *victim;
    int32_t off_rc;
} remover;

static void remove_victim_on_close(task_rec *rec, const ws_event *e) {
    if (e->kind != WS_EVENT_CLOSE) return;
    remover *r = rec->hook_data;
    int32_t rc = ws_off_event(get_second(r->victim).handle);
    pthread_mutex_lock(&g_mu);
    r->off_rc = rc;
    pthread_mutex_unlock(&g_mu);
}

static void case_off_event_from_another_close_callback(void) {
    remover *r = calloc(1, sizeof *r);
    r->off_rc = 1; /* not a ws code: "not called" */
    task_rec *rec = rec_new("first listener");
    rec->hook = remove_victim_on_close;
    rec->hook_data = r;
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    second *victim = new_second(id, 0);
    pthread_mutex_lock(&g_mu);
    r->victim = victim;
    pthread_mutex_unlock(&g_mu);
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    loop_barrier();
    pthread_mutex_lock(&g_mu);
    int32_t rc = r->off_rc;
    pthread_mutex_unlock(&g_mu);
    CHECK_EQ(rc, WS_OK);
    CHECK_EQ(get_second(victim).closes, 0); /* removed before its turn: never called */
    CHECK_EQ(ws_off_event(get_second(victim).handle), WS_ERR_UNKNOWN_LISTENER);
}

/* ------------------------------------------------------------------------------------------ */
/* From another thread, while the close event is being delivered                                */

typedef struct {
    second *victim;
    int first_in_close; /* the first listener is inside its close callback */
    int off_done;
    int32_t off_rc;
    int victim_returned_before_off; /* the victim's running call had finished when off returned */
} remote;

static bool first_in_close(void *arg) { return ((remote *)arg)->first_in_close != 0; }
static bool off_done(void *arg) { return ((remote *)arg)->off_done != 0; }
static bool victim_entered(void *arg) { return ((remote *)arg)->victim->entered != 0; }

/* The first listener's close callback: lets the other thread remove the victim, and waits
 * (bounded) until it did. */
static void hold_close_until_removed(task_rec *rec, const ws_event *e) {
    if (e->kind != WS_EVENT_CLOSE) return;
    remote *r = rec->hook_data;
    pthread_mutex_lock(&g_mu);
    r->first_in_close = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    wait_for(off_done, r);
}

static void *remove_when_first_in_close(void *arg) {
    remote *r = arg;
    if (!wait_for(first_in_close, r)) return NULL;
    int32_t rc = ws_off_event(get_second(r->victim).handle);
    pthread_mutex_lock(&g_mu);
    r->off_rc = rc;
    r->off_done = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* Connects rec's task, adds r->victim (its close call takes hold_ms), closes the task while
 * `remover` runs on another thread, and returns what the remover did (off_done 0: no task). */
static remote close_with_remover(remote *r, task_rec *rec, int hold_ms, void *(*remover)(void *)) {
    remote got = {0};
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return got;
    r->victim = new_second(id, hold_ms);
    pthread_t t;
    pthread_create(&t, NULL, remover, r);
    CLOSE_AND_WAIT(id, rec);
    pthread_join(t, NULL);
    CHECK_SEQUENCE(rec, id);
    loop_barrier();
    pthread_mutex_lock(&g_mu);
    got = *r;
    pthread_mutex_unlock(&g_mu);
    CHECK_EQ(got.off_done, 1);
    CHECK_EQ(got.off_rc, WS_OK);
    return got;
}

static void case_off_event_from_another_thread_during_close(void) {
    remote *r = calloc(1, sizeof *r);
    task_rec *rec = rec_new("first listener, slow close");
    rec->hook = hold_close_until_removed;
    rec->hook_data = r;
    close_with_remover(r, rec, 0, remove_when_first_in_close);
    if (r->victim) CHECK_EQ(get_second(r->victim).closes, 0);
}

/* The victim's own close callback is running when the other thread removes it: ws_off_event
 * returns only after that call returned, and WS_OK. */
static void *remove_when_victim_entered(void *arg) {
    remote *r = arg;
    if (!wait_for(victim_entered, r)) return NULL;
    int32_t rc = ws_off_event(get_second(r->victim).handle);
    int returned = get_second(r->victim).returned;
    pthread_mutex_lock(&g_mu);
    r->off_rc = rc;
    r->victim_returned_before_off = returned;
    r->off_done = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

static void case_off_event_waits_for_a_running_close_call(void) {
    remote *r = calloc(1, sizeof *r);
    remote got = close_with_remover(r, rec_new("first listener"), 300, remove_when_victim_entered);
    CHECK_EQ(got.victim_returned_before_off, 1);
    if (r->victim) CHECK_EQ(get_second(r->victim).closes, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* A logger that calls ws_* (item 9)                                                            */

static atomic_int g_log_lines, g_log_calls_bad;

static void calling_logger(int32_t level, const char *line, void *user_data) {
    (void)level;
    (void)line;
    (void)user_data;
    atomic_fetch_add(&g_log_lines, 1);
    /* Calls that take libws's own locks but start nothing. */
    if (ws_ready_state(INT64_MAX) != WS_ERR_UNKNOWN_TASK) atomic_fetch_add(&g_log_calls_bad, 1);
    if (ws_off_event(INT64_MAX) != WS_ERR_UNKNOWN_LISTENER) atomic_fetch_add(&g_log_calls_bad, 1);
    if (strcmp(ws_version(), "") == 0) atomic_fetch_add(&g_log_calls_bad, 1);
}

typedef struct {
    int which; /* 0: ws_init, 1: first ws_connect */
    int64_t rc;
    task_rec *rec;
    atomic_int done;
} bounded_call;

static void *run_call(void *arg) {
    bounded_call *b = arg;
    if (b->which == 0) {
        b->rc = ws_init(NULL);
    } else {
        ws_connect_options o = rec_options(ws_url("/echo"), b->rec, NULL);
        b->rc = ws_connect(&o);
    }
    atomic_store(&b->done, 1);
    return NULL;
}

/* Runs the call on a thread and waits at most WAIT_MS; a hang is reported and ends the program
 * (the stuck thread holds libws's locks, so nothing else could run). */
static int64_t call_bounded(int which, task_rec *rec) {
    static bounded_call b; /* static: the thread may outlive this frame if it hangs */
    memset(&b, 0, sizeof b);
    b.which = which;
    b.rec = rec;
    pthread_t t;
    pthread_create(&t, NULL, run_call, &b);
    for (int waited = 0; !atomic_load(&b.done) && waited < WAIT_MS; waited += 10) sleep_ms(10);
    if (!atomic_load(&b.done)) {
        CHECK(!"the call returns (no deadlock)");
        fprintf(stderr, "%s hangs with a logger that calls ws_*: deadlock\n", which ? "ws_connect" : "ws_init");
        printf("test_reentry: FAILED (deadlock)\n");
        fflush(NULL);
        _exit(1);
    }
    pthread_join(t, NULL);
    return b.rc;
}

static void case_logger_calling_ws_during_init_and_first_connect(void) {
    CHECK_EQ(ws_shutdown(), WS_OK);
    CHECK_EQ(ws_set_logger(calling_logger, NULL, WS_LOG_DEBUG), WS_OK);
    CHECK_EQ(call_bounded(0, NULL), WS_OK);
    CHECK_EQ(ws_shutdown(), WS_OK);
    task_rec *rec = rec_new("first connect with a calling logger");
    int64_t id = call_bounded(1, rec);
    CHECK_GT(id, 0);
    if (id > 0 && WAIT_OPEN(rec)) CLOSE_AND_WAIT(id, rec);
    CHECK_EQ(ws_shutdown(), WS_OK);
    CHECK_EQ(ws_set_logger(NULL, NULL, 0), WS_OK);
    CHECK_GT(atomic_load(&g_log_lines), 0);
    CHECK_EQ(atomic_load(&g_log_calls_bad), 0);
}

int main(void) {
    tests_begin("test_reentry");
    RUN_CASE(case_off_event_from_another_close_callback);
    RUN_CASE(case_off_event_from_another_thread_during_close);
    RUN_CASE(case_off_event_waits_for_a_running_close_call);
    RUN_CASE(case_logger_calling_ws_during_init_and_first_connect);
    return tests_end();
}
