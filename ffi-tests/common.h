/* Shared helpers for the libws C integration tests (header-only; include it FIRST in each test).
 *
 *   - CHECK macros: print file:line, the case and the failed expression (with values), count
 *     failures, and return whether the check passed so a test can stop early.
 *   - RUN_CASE / tests_begin / tests_end: run named cases, print one line per case and a final
 *     summary line, and give the exit status.
 *   - task_rec: a thread-safe recorder of one task's events (copied, since libws pointers die with
 *     the callback), which also notes every ordering rule the header promises and sees broken.
 *   - result_box: records the calls of one result callback (it must be called exactly once).
 *   - wait_for: bounded waits (WAIT_MS) on a predicate, so a libws bug fails a check instead of
 *     hanging the suite.
 *
 * All recorder state is guarded by one mutex (g_mu) and one condition variable (g_cv). Rule: never
 * call a ws_* function while holding g_mu (libws calls back on its own thread, but a callback
 * waiting for g_mu would then hold up the libws thread).
 */
#ifndef FFI_TESTS_COMMON_H
#define FFI_TESTS_COMMON_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime, strdup, kill, posix_spawn under -std=c11 */
#endif

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "libws.h"

/* Generous bound on every wait: long enough for a slow CI box, short enough that a hang fails. */
#define WAIT_MS 10000

/* ------------------------------------------------------------------------------------------ */
/* Checks                                                                                      */

static atomic_int g_failed_checks;
static _Atomic(const char *) g_case = "setup";
static const char *g_program = "test";
static int g_cases_run, g_cases_failed;

static inline bool check_report(bool ok, const char *file, int line, const char *fmt, ...) {
    if (ok) return true;
    atomic_fetch_add(&g_failed_checks, 1);
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%d: [%s] CHECK FAILED: %s\n", file, line, atomic_load(&g_case), text);
    fflush(stderr);
    return false;
}

static inline const char *str_or_null(const char *s) { return s ? s : "(null)"; }

/* Every macro evaluates each argument exactly once (they often wrap the ws_* call under test). */
#define CHECK(cond) check_report((cond), __FILE__, __LINE__, "%s", #cond)

/* Integer comparisons that print both sides. */
#define CHECK_EQ(a, b) check_eq((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_GT(a, b) check_gt((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
/* String checks; a NULL string always fails. */
#define CHECK_STREQ(s, expected) check_str((s), (expected), 0, #s, __FILE__, __LINE__)
#define CHECK_PREFIX(s, prefix) check_str((s), (prefix), 1, #s, __FILE__, __LINE__)
#define CHECK_CONTAINS(s, sub) check_str((s), (sub), 2, #s, __FILE__, __LINE__)

static inline bool check_eq(long long a, long long b, const char *ea, const char *eb, const char *file, int line) {
    return check_report(a == b, file, line, "%s == %s (got %lld, expected %lld)", ea, eb, a, b);
}

static inline bool check_gt(long long a, long long b, const char *ea, const char *eb, const char *file, int line) {
    return check_report(a > b, file, line, "%s > %s (got %lld, limit %lld)", ea, eb, a, b);
}

/* how: 0 equal, 1 starts with, 2 contains. */
static inline bool check_str(const char *s, const char *want, int how, const char *es, const char *file, int line) {
    static const char *const verbs[] = {"equals", "starts with", "contains"};
    bool ok = s != NULL && (how == 0   ? strcmp(s, want) == 0
                            : how == 1 ? strncmp(s, want, strlen(want)) == 0
                                       : strstr(s, want) != NULL);
    return check_report(ok, file, line, "%s %s \"%s\" (got \"%s\")", es, verbs[how], want, str_or_null(s));
}

/* ------------------------------------------------------------------------------------------ */
/* Cases and the program's summary line                                                        */

static inline void tests_begin(const char *program) {
    g_program = program;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("== %s (libws %s)\n", program, ws_version());
}

/* Runs one case; a case fails if any CHECK failed while it ran (callbacks included). */
#define RUN_CASE(fn) run_case(#fn, fn)
static inline void run_case(const char *name, void (*fn)(void)) {
    int before = atomic_load(&g_failed_checks);
    atomic_store(&g_case, name);
    fn();
    int failed = atomic_load(&g_failed_checks) - before;
    g_cases_run++;
    if (failed) g_cases_failed++;
    printf("  %s %s%s\n", failed ? "FAIL" : "ok  ", name, failed ? " (see CHECK FAILED above)" : "");
    atomic_store(&g_case, "between cases");
}

/* Stops the runtime (every test leaves it clean), prints the summary line, returns the exit code. */
static inline int tests_end(void) {
    atomic_store(&g_case, "final ws_shutdown");
    CHECK_EQ(ws_shutdown(), WS_OK);
    int checks_failed = atomic_load(&g_failed_checks);
    printf("%s: %d cases, %d passed, %d failed (%d failed checks)\n", g_program, g_cases_run,
           g_cases_run - g_cases_failed, g_cases_failed, checks_failed);
    return checks_failed ? 1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Waiting                                                                                      */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

static inline struct timespec deadline_after(int ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t); /* the default clock of pthread_cond_timedwait */
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Waits until pred(arg) holds (evaluated with g_mu held) or ms pass. Returns the last value. */
static inline bool wait_for_ms(bool (*pred)(void *), void *arg, int ms) {
    struct timespec until = deadline_after(ms);
    pthread_mutex_lock(&g_mu);
    bool ok = pred(arg);
    while (!ok) {
        int rc = pthread_cond_timedwait(&g_cv, &g_mu, &until);
        ok = pred(arg);
        if (rc == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&g_mu);
    return ok;
}

static inline bool wait_for(bool (*pred)(void *), void *arg) { return wait_for_ms(pred, arg, WAIT_MS); }

static inline void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) == -1 && errno == EINTR) {}
}

/* ------------------------------------------------------------------------------------------ */
/* Result callbacks                                                                             */

typedef struct result_box {
    int calls; /* must end up exactly 1 */
    int64_t task_id;
    int32_t code;
    char *err_msg;
} result_box;

static inline void box_on_result(const ws_result *r, void *user_data) {
    result_box *b = user_data;
    char *copy = strdup(r->err_msg ? r->err_msg : "(null err_msg)");
    pthread_mutex_lock(&g_mu);
    if (b->calls++ == 0) {
        b->task_id = r->task_id;
        b->code = r->code;
        b->err_msg = copy;
        copy = NULL;
    }
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    free(copy);
}

static inline bool box_called(void *arg) { return ((result_box *)arg)->calls > 0; }

/* Snapshot of a box taken under the lock. */
static inline result_box box_get(result_box *b) {
    pthread_mutex_lock(&g_mu);
    result_box copy = *b;
    pthread_mutex_unlock(&g_mu);
    return copy;
}

/* Waits until every command queued so far has been handled by the libws thread: commands run in
 * order, and a call with an unknown task id reports its failure through the same queue. After
 * it, every result callback a queued command produces synchronously (connect and close results,
 * failures of calls) has run. Send results come later, when the bytes are written. */
static inline void loop_barrier(void) {
    result_box b = {0};
    int32_t rc = ws_close(INT64_MAX, 1000, NULL, box_on_result, &b);
    check_report(rc == WS_ERR_UNKNOWN_TASK, __FILE__, __LINE__, "barrier ws_close(INT64_MAX) == UNKNOWN_TASK (got %d)", rc);
    check_report(wait_for(box_called, &b), __FILE__, __LINE__, "barrier result callback within %d ms", WAIT_MS);
    free(box_get(&b).err_msg);
}

/* Boxes made by new_box are remembered, so a case can check at its end (after loop_barrier) that
 * each of their callbacks ran exactly once: a second call would come from the same command. */
#define MAX_TRACKED_BOXES 512
static result_box *g_boxes[MAX_TRACKED_BOXES];
static int g_box_count;

static inline result_box *new_box(void) {
    result_box *b = calloc(1, sizeof *b);
    if (!b || g_box_count == MAX_TRACKED_BOXES) abort();
    g_boxes[g_box_count++] = b;
    return b;
}

#define CHECK_BOXES_CALLED_ONCE() check_boxes_called_once_at(__FILE__, __LINE__)
static inline void check_boxes_called_once_at(const char *file, int line) {
    loop_barrier();
    for (int i = 0; i < g_box_count; i++) {
        int calls = box_get(g_boxes[i]).calls;
        check_report(calls == 1, file, line, "result callback #%d (err_msg \"%s\") called once (got %d)", i,
                     str_or_null(box_get(g_boxes[i]).err_msg), calls);
    }
    g_box_count = 0; /* the boxes themselves are leaked, like recorders */
}

/* Checks a call's result: the callback ran (exactly once, so call loop_barrier or wait for the
 * task's close first when that matters), with the code the call returned, that code, and an
 * err_msg starting with prefix. */
#define CHECK_RESULT(box, returned, expected_code, prefix) \
    check_result((box), (returned), (expected_code), (prefix), __FILE__, __LINE__)
static inline bool check_result(result_box *box, long long returned, int32_t expected, const char *prefix,
                         const char *file, int line) {
    bool called = wait_for(box_called, box);
    result_box b = box_get(box);
    bool ok = check_report(called, file, line, "result callback called (expected code %d)", expected);
    ok &= check_report(b.calls == 1, file, line, "result callback called exactly once (got %d)", b.calls);
    ok &= check_report(returned == expected, file, line, "return value %lld, expected %d", returned, expected);
    if (called) {
        ok &= check_report(b.code == expected, file, line, "result code %d, expected %d (err_msg \"%s\")",
                           b.code, expected, str_or_null(b.err_msg));
        ok &= check_report(b.err_msg && strncmp(b.err_msg, prefix, strlen(prefix)) == 0, file, line,
                           "err_msg \"%s\" starts with \"%s\"", str_or_null(b.err_msg), prefix);
    }
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* Event recorder                                                                               */

typedef struct rec_event {
    uint32_t kind;
    int64_t task_id;
    /* open */
    char *protocol;
    size_t header_count;
    char **header_names, **header_values;
    /* message */
    uint8_t *data;
    size_t len;
    uint32_t msg_kind;
    /* error */
    int32_t err_code;
    char *err_msg;
    /* close */
    uint16_t close_code;
    char *reason;
    size_t reason_len;
    bool was_clean;
} rec_event;

typedef struct task_rec task_rec;
/* Runs inside the event callback, before the event is recorded and without g_mu held, so it may
 * call ws_* functions (close its own task, connect another one...). */
typedef void (*rec_hook)(task_rec *rec, const ws_event *event);

struct task_rec {
    const char *name;
    int64_t id; /* task_id of the first event */
    rec_event **ev; /* each event allocated on its own, so pointers to it stay valid */
    size_t n, cap;
    int opens, messages, errors, closes;
    int after_close;  /* events delivered after the close event: must stay 0 */
    int order_errors; /* open after another event, message before open, a second error... */
    int wrong_id;     /* events whose task_id differs from the first event's */
    rec_hook hook;
    void *hook_data;
};

/* Recorders are heap-allocated and never freed: a buggy late callback then still writes to valid
 * memory and is reported (after_close) instead of corrupting the stack. */
static inline task_rec *rec_new(const char *name) {
    task_rec *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->name = name;
    return r;
}

static inline char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static inline void rec_on_event(const ws_event *e, void *user_data) {
    task_rec *r = user_data;
    pthread_mutex_lock(&g_mu);
    rec_hook hook = r->hook; /* a test may install it while the task runs */
    pthread_mutex_unlock(&g_mu);
    if (hook) hook(r, e);

    rec_event *cp = calloc(1, sizeof *cp);
    if (!cp) abort();
    rec_event c = *cp;
    c.kind = e->kind;
    c.task_id = e->task_id;
    switch (e->kind) {
    case WS_EVENT_OPEN:
        c.protocol = e->open.protocol ? strdup(e->open.protocol) : NULL; /* NULL kept: a bug to report */
        c.header_count = e->open.header_count;
        c.header_names = calloc(c.header_count + 1, sizeof(char *));
        c.header_values = calloc(c.header_count + 1, sizeof(char *));
        for (size_t i = 0; i < c.header_count; i++) {
            c.header_names[i] = dup_or_empty(e->open.headers[i].name);
            c.header_values[i] = dup_or_empty(e->open.headers[i].value);
        }
        break;
    case WS_EVENT_MESSAGE:
        c.len = e->message.len;
        c.msg_kind = e->message.kind;
        c.data = malloc(c.len ? c.len : 1);
        if (!c.data) abort();
        if (c.len) memcpy(c.data, e->message.data, c.len);
        break;
    case WS_EVENT_ERROR:
        c.err_code = e->error.code;
        c.err_msg = e->error.err_msg ? strdup(e->error.err_msg) : NULL;
        break;
    case WS_EVENT_CLOSE:
        c.close_code = e->close.code;
        c.reason = e->close.reason ? strdup(e->close.reason) : NULL;
        c.reason_len = e->close.reason_len;
        c.was_clean = e->close.was_clean;
        break;
    default:
        break;
    }

    pthread_mutex_lock(&g_mu);
    if (r->n == 0 && r->id == 0) r->id = e->task_id;
    if (e->task_id != r->id) r->wrong_id++;
    if (r->closes > 0) r->after_close++;
    switch (e->kind) {
    case WS_EVENT_OPEN:
        if (r->opens || r->messages || r->errors) r->order_errors++;
        r->opens++;
        break;
    case WS_EVENT_MESSAGE:
        if (!r->opens || r->errors) r->order_errors++;
        r->messages++;
        break;
    case WS_EVENT_ERROR:
        if (r->errors) r->order_errors++;
        r->errors++;
        break;
    case WS_EVENT_CLOSE:
        r->closes++;
        break;
    default:
        r->order_errors++; /* an unknown kind */
        break;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->ev = realloc(r->ev, r->cap * sizeof *r->ev);
        if (!r->ev) abort();
    }
    *cp = c;
    r->ev[r->n++] = cp;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static inline bool rec_has_open_or_close(void *arg) {
    task_rec *r = arg;
    return r->opens > 0 || r->closes > 0;
}
static inline bool rec_has_close(void *arg) { return ((task_rec *)arg)->closes > 0; }

typedef struct {
    task_rec *rec;
    int count;
} rec_count_arg;
static inline bool rec_has_messages(void *arg) {
    rec_count_arg *a = arg;
    return a->rec->messages >= a->count || a->rec->closes > 0;
}

/* Waits for the open event; false (and a failed check) if the task errored, closed or hung. */
#define WAIT_OPEN(rec) wait_open_at((rec), __FILE__, __LINE__)
static inline bool wait_open_at(task_rec *r, const char *file, int line) {
    wait_for(rec_has_open_or_close, r);
    pthread_mutex_lock(&g_mu);
    bool ok = r->opens == 1;
    const char *why = r->errors ? r->ev[r->n - (r->closes ? 2 : 1)]->err_msg : (r->closes ? "closed" : "no event");
    pthread_mutex_unlock(&g_mu);
    return check_report(ok, file, line, "task %s opens within %d ms (%s)", r->name, WAIT_MS, str_or_null(why));
}

#define WAIT_CLOSE(rec) wait_close_at((rec), __FILE__, __LINE__)
static inline bool wait_close_at(task_rec *r, const char *file, int line) {
    return check_report(wait_for(rec_has_close, r), file, line, "task %s gets its close event within %d ms",
                        r->name, WAIT_MS);
}

#define WAIT_MESSAGES(rec, count) wait_messages_at((rec), (count), __FILE__, __LINE__)
static inline bool wait_messages_at(task_rec *r, int count, const char *file, int line) {
    rec_count_arg a = {r, count};
    wait_for(rec_has_messages, &a);
    pthread_mutex_lock(&g_mu);
    int got = r->messages;
    pthread_mutex_unlock(&g_mu);
    return check_report(got >= count, file, line, "task %s receives %d messages within %d ms (got %d)", r->name,
                        count, WAIT_MS, got);
}

/* The index-th recorded event of a kind (or NULL). Recorded events are never changed or freed,
 * so the pointer stays valid to read after the lock is released. */
static inline rec_event *rec_find(task_rec *r, uint32_t kind, int index) {
    rec_event *found = NULL;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < r->n && !found; i++)
        if (r->ev[i]->kind == kind && index-- == 0) found = r->ev[i];
    pthread_mutex_unlock(&g_mu);
    return found;
}

/* Snapshot of the counters of a recorder (do not follow its ev pointer). */
static inline task_rec rec_get(task_rec *r) {
    pthread_mutex_lock(&g_mu);
    task_rec copy = *r;
    pthread_mutex_unlock(&g_mu);
    return copy;
}

/* The rules every task must follow (header: "open or error, messages, then exactly one close,
 * and nothing after the close; an error event is always followed by the close event"). Call
 * once the close event arrived. */
#define CHECK_SEQUENCE(rec, id) check_sequence_at((rec), (id), __FILE__, __LINE__)
static inline void check_sequence_at(task_rec *r, int64_t id, const char *file, int line) {
    pthread_mutex_lock(&g_mu);
    task_rec s = *r;
    uint32_t last = s.n > 0 ? r->ev[s.n - 1]->kind : 0;
    uint32_t before_last = s.n > 1 ? r->ev[s.n - 2]->kind : 0;
    pthread_mutex_unlock(&g_mu);
    check_report(s.closes == 1, file, line, "task %s: exactly one close event (got %d)", r->name, s.closes);
    check_report(s.after_close == 0, file, line, "task %s: no event after close (got %d)", r->name, s.after_close);
    check_report(s.order_errors == 0, file, line, "task %s: events in order open/error, messages, close", r->name);
    check_report(s.wrong_id == 0, file, line, "task %s: every event has the same task_id", r->name);
    check_report(s.n > 0 && s.id == id, file, line, "task %s: events carry task_id %lld (got %lld)", r->name,
                 (long long)id, (long long)s.id);
    check_report(last == WS_EVENT_CLOSE, file, line, "task %s: the last event is close",
                 r->name);
    if (s.errors == 1)
        check_report(before_last == WS_EVENT_ERROR, file, line,
                     "task %s: the error event is followed directly by the close event", r->name);
}

/* Checks the close event: code, clean flag and (if reason != NULL) the reason. */
#define CHECK_CLOSE(rec, code, clean, reason) check_close_at((rec), (code), (clean), (reason), __FILE__, __LINE__)
static inline void check_close_at(task_rec *r, int code, bool clean, const char *reason, const char *file, int line) {
    rec_event *c = rec_find(r, WS_EVENT_CLOSE, 0);
    if (!check_report(c != NULL, file, line, "task %s has a close event", r->name)) return;
    check_report(c->close_code == code, file, line, "task %s: close code %u, expected %d", r->name, c->close_code,
                 code);
    check_report(c->was_clean == clean, file, line, "task %s: was_clean %d, expected %d", r->name, c->was_clean,
                 clean);
    if (reason) {
        check_report(c->reason && strcmp(c->reason, reason) == 0, file, line,
                     "task %s: close reason \"%s\", expected \"%s\"", r->name, str_or_null(c->reason), reason);
        check_report(c->reason_len == strlen(reason), file, line, "task %s: reason_len %zu, expected %zu",
                     r->name, c->reason_len, strlen(reason));
    }
}

/* Checks the task failed with one error event of `code` whose err_msg starts with prefix. */
#define CHECK_ERROR(rec, code, prefix) check_error_at((rec), (code), (prefix), __FILE__, __LINE__)
static inline void check_error_at(task_rec *r, int32_t code, const char *prefix, const char *file, int line) {
    task_rec s = rec_get(r);
    check_report(s.errors == 1, file, line, "task %s: exactly one error event (got %d)", r->name, s.errors);
    rec_event *e = rec_find(r, WS_EVENT_ERROR, 0);
    if (!e) return;
    check_report(e->err_code == code, file, line, "task %s: error code %d (%s), expected %d (%s); err_msg \"%s\"",
                 r->name, e->err_code, ws_strerror(e->err_code), code, ws_strerror(code), str_or_null(e->err_msg));
    check_report(e->err_msg && strncmp(e->err_msg, prefix, strlen(prefix)) == 0, file, line,
                 "task %s: err_msg \"%s\" starts with \"%s\"", r->name, str_or_null(e->err_msg), prefix);
}

/* ------------------------------------------------------------------------------------------ */
/* Servers and connecting                                                                       */

/* run.sh passes the loopback servers in the environment. */
static inline const char *env_or_die(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set (run the tests through ffi-tests/run.sh)\n", name);
        exit(2);
    }
    return v;
}

/* "ws://127.0.0.1:<port><path>" of the WebSocket test server (WS_BASE). Never freed. */
static inline char *ws_url(const char *path) {
    const char *base = env_or_die("WS_BASE");
    size_t n = strlen(base) + strlen(path) + 1;
    char *url = malloc(n);
    if (!url) abort();
    snprintf(url, n, "%s%s", base, path);
    return url;
}

/* The URL of the silent peer: accepts TCP, never answers the handshake. */
static inline char *silent_url(void) {
    static char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%s/", env_or_die("SILENT_PORT"));
    return url;
}

/* Options for a connect to url with rec as the first listener and box as the result callback. */
static inline ws_connect_options rec_options(const char *url, task_rec *rec, result_box *box) {
    ws_connect_options o;
    ws_connect_options_init(&o);
    o.url = url;
    o.timeout_ms = WAIT_MS;
    if (rec) {
        o.on_event = rec_on_event;
        o.event_user_data = rec;
    }
    if (box) {
        o.on_result = box_on_result;
        o.result_user_data = box;
    }
    return o;
}

/* Connects to url in group and checks the call succeeded ("connectSocket:ok"). */
#define CONNECT(url, rec, group) connect_at((url), (rec), (group), __FILE__, __LINE__)
static inline int64_t connect_at(const char *url, task_rec *rec, uint64_t group, const char *file, int line) {
    result_box *box = calloc(1, sizeof *box); /* leaked on purpose, like recorders */
    ws_connect_options o = rec_options(url, rec, box);
    o.group = group;
    int64_t id = ws_connect(&o);
    check_report(id > 0, file, line, "ws_connect(%s) returns an id (got %lld: %s)", url, (long long)id,
                 id < 0 ? ws_strerror((int32_t)id) : "");
    if (check_result(box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok", file, line))
        check_report(box_get(box).task_id == id, file, line, "connect result task_id %lld == returned id %lld",
                     (long long)box_get(box).task_id, (long long)id);
    return id;
}

/* Closes an open task with 1000 and waits for its close event. */
#define CLOSE_AND_WAIT(id, rec) close_and_wait_at((id), (rec), __FILE__, __LINE__)
static inline void close_and_wait_at(int64_t id, task_rec *rec, const char *file, int line) {
    int32_t rc = ws_close(id, 1000, "done", NULL, NULL);
    check_report(rc == WS_OK, file, line, "ws_close(%lld) == WS_OK (got %d)", (long long)id, rc);
    wait_close_at(rec, file, line);
}

/* A text message: connects to /report?id=<id> and returns the JSON the server recorded. */
static inline char *fetch_report(const char *record_id) {
    char path[256];
    snprintf(path, sizeof path, "/report?id=%s", record_id);
    task_rec *r = rec_new("report");
    int64_t id = CONNECT(ws_url(path), r, 999999);
    char *json = NULL;
    if (id > 0 && WAIT_MESSAGES(r, 1)) {
        rec_event *m = rec_find(r, WS_EVENT_MESSAGE, 0);
        json = calloc(1, m->len + 1);
        memcpy(json, m->data, m->len);
    }
    if (id > 0) CLOSE_AND_WAIT(id, r);
    return json ? json : strdup("(no report)");
}

/* A record id unique across test programs sharing the server. */
static inline const char *unique_id(const char *what) {
    static atomic_int counter;
    char *s = malloc(96);
    if (!s) abort();
    snprintf(s, 96, "%s-%ld-%d", what, (long)getpid(), atomic_fetch_add(&counter, 1));
    return s;
}

/* Case-insensitive lookup of a response header in an open event. */
static inline const char *open_header(rec_event *open, const char *name) {
    for (size_t i = 0; open && i < open->header_count; i++)
        if (strcasecmp(open->header_names[i], name) == 0) return open->header_values[i];
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Peers' JSON reports and runtime restarts                                                      */

/* Integer field of a flat JSON object; `missing` when absent or null. */
static inline long long json_int(const char *json, const char *key, long long missing) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p) return missing;
    p += strlen(pat);
    char *end;
    long long v = strtoll(p, &end, 10);
    return end == p ? missing : v;
}

/* String field (without escapes) of a flat JSON object, copied into buf; "" when absent. */
static inline const char *json_str(const char *json, const char *key, char *buf, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    buf[0] = '\0';
    const char *p = strstr(json, pat);
    if (!p) return buf;
    p += strlen(pat);
    const char *q = strchr(p, '"');
    size_t n = q ? (size_t)(q - p) : 0;
    if (n >= cap) n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* Restarts the runtime with cfg (NULL: back to the defaults on the next call). */
static inline bool runtime_with(const ws_config *cfg) {
    bool ok = CHECK_EQ(ws_shutdown(), WS_OK);
    if (cfg) ok &= CHECK_EQ(ws_init(cfg), WS_OK);
    return ok;
}

#endif /* FFI_TESTS_COMMON_H */
