/* Stress test of the libws C API (issue 4, item 4).
 *
 *   stress [--seconds N] [--threads N] [--no-heartbeat] [--plant-race]
 *
 * N threads (default 8) call ws_connect / ws_send / ws_close / ws_close_group / ws_on_event /
 * ws_off_event / ws_ready_state in random order on many sockets (ws_init raises the per-group
 * limit to 64) for N seconds (default 5), including bad ids, invalid close codes and reasons,
 * invalid message kinds, invalid UTF-8 and absurd lengths. A quarter of the sockets run a
 * heartbeat (ping every 20-200 ms; --no-heartbeat turns that off). Event callbacks also call back
 * into libws (send on open, close on a message). Every second the main thread checks that the
 * libws thread still answers a command (within 10 s; if not, the run fails at once, since
 * ws_shutdown could not return either). Then ws_shutdown, which delivers everything, and:
 *
 *   - every call made with a result callback got exactly one callback, and a call that returned a
 *     negative code reported that same code to its callback;
 *   - every task that got an id saw its events in order (open or error, messages, one close,
 *     nothing after it; an error right before the close), all with its own task_id;
 *   - a listener removed with ws_off_event (from a worker thread) is never called after it returned;
 *   - ws_ready_state only ever returned a state or WS_ERR_UNKNOWN_TASK (for ids never issued);
 *   - the server (ffi-tests/stress_server.py, started here unless $STRESS_URL names one) counted
 *     messages and a crc32 sum per connection (/stress/<n>): for every task closed cleanly, server
 *     count == sends whose result was ok and the sums match; for the others, server count <= ok
 *     + failed-after-queued ("message not sent ...", "... before the message was sent").
 *
 * Prints the counts, one line per check, and "N passed, N failed"; exits non-zero on any failure.
 * A watchdog turns a hang into a failure.
 *
 * All state shared between threads is guarded by pthread mutexes (no bare atomics), so that
 * helgrind/DRD can check the C side; --plant-race adds one deliberate unsynchronised counter,
 * which valgrind.sh uses to prove a race in this file is still reported.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libws.h"

extern char **environ;

enum {
    MAX_SLOTS = 20000,
    GROUPS = 4,
    PER_GROUP = 64,
    MAX_THREADS = 64,
    NLOCKS = 32,
    CHUNK = 4096,
    MAX_OUTSTANDING = 1500, /* result callbacks owed before a worker waits: keeps the queue bounded */
};

static int g_seconds = 5, g_threads = 8;
static bool g_plant_race, g_no_heartbeat;
static volatile long g_planted; /* --plant-race only: written without a lock from every thread */
static char g_base[128];

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                                */

static uint64_t rnd(uint64_t *s) { /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}
static int pick(uint64_t *s, int n) { return (int)(rnd(s) % (uint64_t)n); }

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_us(long us) {
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&t, &t) == -1 && errno == EINTR) {}
}

static uint32_t crc_table[256];
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}
static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    while (n--) crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static pthread_mutex_t g_locks[NLOCKS];
static pthread_mutex_t *lock_for(const void *p) { return &g_locks[((uintptr_t)p >> 6) % NLOCKS]; }

/* ------------------------------------------------------------------------------------------ */
/* Records                                                                                      */

enum call_kind { CALL_CONNECT, CALL_SEND, CALL_CLOSE, CALL_GROUP };

/* One call made with a result callback. Guarded by lock_for(rec). */
typedef struct call_rec {
    int kind;
    int slot; /* task slot of a send/connect, -1 otherwise */
    uint32_t crc; /* sends: crc32 of the message */
    int32_t ret;  /* the return value (for connect: 1 when an id came back) */
    bool returned;
    int calls;
    int32_t code;
    bool maybe_sent; /* failed send that may have reached the server ("message not sent ...") */
} call_rec;

/* Records live in chunks owned by one thread (or the libws thread), freed at the end. */
typedef struct arena {
    call_rec *chunks[4096];
    int nchunks, used;
} arena;

static call_rec *arena_new(arena *a) {
    if (a->nchunks == 0 || a->used == CHUNK) {
        if (a->nchunks == 4096) return NULL;
        a->chunks[a->nchunks] = calloc(CHUNK, sizeof(call_rec));
        if (!a->chunks[a->nchunks]) abort();
        a->nchunks++;
        a->used = 0;
    }
    return &a->chunks[a->nchunks - 1][a->used++];
}

/* One task slot: an id handed out by ws_connect and the events it saw. Guarded by its mutex. */
typedef struct slot {
    pthread_mutex_t mu;
    int n; /* the server path /stress/<n> */
    int64_t id;
    int64_t event_task_id;
    int events, opens, messages, errors, closes, after_close, order_errors, wrong_id;
    uint32_t last_before_close;
    uint16_t close_code;
    bool was_clean;
} slot;

static slot g_slots[MAX_SLOTS];
static pthread_mutex_t g_slots_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_nslots; /* guarded by g_slots_mu */

/* Extra listener added with ws_on_event. Guarded by lock_for(listener). */
typedef struct xlistener {
    int64_t handle;
    bool off;            /* ws_off_event returned WS_OK */
    int calls_after_off; /* must stay 0 */
    int calls;
} xlistener;

typedef struct worker {
    pthread_t thread;
    uint64_t seed;
    arena calls;
    xlistener *listeners[8192];
    int nlisteners;
    /* counts of what this worker did (only this thread writes them, main reads after join) */
    long ops[16];
    long bad_ready_state;
} worker;

static worker g_workers[MAX_THREADS];
static arena g_cb_arena; /* sends made from event callbacks (libws thread only) */

/* Global counters (g_count_mu). */
static pthread_mutex_t g_count_mu = PTHREAD_MUTEX_INITIALIZER;
static long g_with_cb, g_callbacks, g_mismatched_code, g_cb_sends, g_cb_closes;
static bool g_stop;

static long outstanding(void) {
    pthread_mutex_lock(&g_count_mu);
    long n = g_with_cb - g_callbacks;
    pthread_mutex_unlock(&g_count_mu);
    return n;
}

static bool stopping(void) {
    pthread_mutex_lock(&g_count_mu);
    bool s = g_stop;
    pthread_mutex_unlock(&g_count_mu);
    return s;
}

static void count_call_with_cb(void) {
    pthread_mutex_lock(&g_count_mu);
    g_with_cb++;
    pthread_mutex_unlock(&g_count_mu);
}

static bool refused_code(int32_t code) {
    switch (code) {
    case WS_ERR_NOT_OPEN:
    case WS_ERR_QUEUE_FULL:
    case WS_ERR_UNKNOWN_TASK:
    case WS_ERR_INVALID_ARGUMENT:
    case WS_ERR_INVALID_UTF8:
    case WS_ERR_MESSAGE_TOO_BIG:
    case WS_ERR_SHUTTING_DOWN:
    case WS_ERR_CLOSED:
        return true;
    default:
        return false;
    }
}

static void on_result(const ws_result *r, void *user_data) {
    call_rec *c = user_data;
    bool maybe = r->code != WS_OK && r->err_msg &&
                 (strstr(r->err_msg, "message not sent") || strstr(r->err_msg, "before the message was sent") ||
                  !refused_code(r->code));
    pthread_mutex_lock(lock_for(c));
    c->calls++;
    c->code = r->code;
    c->maybe_sent = maybe;
    if (c->returned && c->ret < 0 && r->code != c->ret) {
        pthread_mutex_lock(&g_count_mu);
        g_mismatched_code++;
        pthread_mutex_unlock(&g_count_mu);
    }
    pthread_mutex_unlock(lock_for(c));
    pthread_mutex_lock(&g_count_mu);
    g_callbacks++;
    pthread_mutex_unlock(&g_count_mu);
    if (g_plant_race) g_planted++;
}

/* Notes what a call returned; checks it against a callback that already ran. */
static void note_return(call_rec *c, int32_t ret) {
    pthread_mutex_lock(lock_for(c));
    c->ret = ret;
    c->returned = true;
    bool mismatch = c->calls > 0 && ret < 0 && c->code != ret;
    pthread_mutex_unlock(lock_for(c));
    if (mismatch) {
        pthread_mutex_lock(&g_count_mu);
        g_mismatched_code++;
        pthread_mutex_unlock(&g_count_mu);
    }
}

static call_rec *new_call(arena *a, int kind, int slot_index, uint32_t crc) {
    call_rec *c = arena_new(a);
    if (!c) return NULL;
    pthread_mutex_lock(lock_for(c));
    c->kind = kind;
    c->slot = slot_index;
    c->crc = crc;
    pthread_mutex_unlock(lock_for(c));
    count_call_with_cb();
    return c;
}

/* A random message: text (ASCII) or binary, mostly small. Returns its length. */
static size_t make_message(uint64_t *s, uint8_t *buf, uint32_t *kind) {
    int r = pick(s, 100);
    size_t len = r < 5 ? 0 : r < 70 ? (size_t)pick(s, 256) : r < 95 ? (size_t)pick(s, 4096) : (size_t)pick(s, 65536);
    *kind = pick(s, 2) ? WS_TEXT : WS_BINARY;
    for (size_t i = 0; i < len; i++) buf[i] = *kind == WS_TEXT ? (uint8_t)(' ' + pick(s, 95)) : (uint8_t)rnd(s);
    return len;
}

static void send_on(arena *a, uint64_t *s, int slot_index, int64_t id, uint8_t *buf) {
    uint32_t kind;
    size_t len = make_message(s, buf, &kind);
    call_rec *c = new_call(a, CALL_SEND, slot_index, crc32_of(buf, len));
    if (!c) return;
    note_return(c, ws_send(id, len ? buf : NULL, len, kind, on_result, c));
}

/* ------------------------------------------------------------------------------------------ */
/* Event callbacks                                                                              */

static uint64_t g_cb_seed = 0x9E3779B97F4A7C15ull; /* libws thread only */
static uint8_t g_cb_buf[65536];                    /* libws thread only */

static void on_event(const ws_event *e, void *user_data) {
    slot *sl = user_data;
    int index = (int)(sl - g_slots);
    pthread_mutex_lock(&sl->mu);
    if (sl->events++ == 0) sl->event_task_id = e->task_id;
    if (e->task_id != sl->event_task_id) sl->wrong_id++;
    if (sl->closes) sl->after_close++;
    switch (e->kind) {
    case WS_EVENT_OPEN:
        if (sl->opens || sl->messages || sl->errors) sl->order_errors++;
        sl->opens++;
        break;
    case WS_EVENT_MESSAGE:
        if (!sl->opens || sl->errors) sl->order_errors++;
        sl->messages++;
        break;
    case WS_EVENT_ERROR:
        if (sl->errors) sl->order_errors++;
        sl->errors++;
        break;
    case WS_EVENT_CLOSE:
        sl->closes++;
        sl->close_code = e->close.code;
        sl->was_clean = e->close.was_clean;
        break;
    default:
        sl->order_errors++;
    }
    if (e->kind != WS_EVENT_CLOSE) sl->last_before_close = e->kind;
    pthread_mutex_unlock(&sl->mu);

    /* Call back into libws from the libws thread now and then. */
    int r = pick(&g_cb_seed, 100);
    if (e->kind == WS_EVENT_OPEN && r < 30) {
        pthread_mutex_lock(&g_count_mu);
        g_cb_sends++;
        pthread_mutex_unlock(&g_count_mu);
        send_on(&g_cb_arena, &g_cb_seed, index, e->task_id, g_cb_buf);
    } else if (e->kind == WS_EVENT_MESSAGE && r < 2) {
        pthread_mutex_lock(&g_count_mu);
        g_cb_closes++;
        pthread_mutex_unlock(&g_count_mu);
        call_rec *c = new_call(&g_cb_arena, CALL_CLOSE, index, 0);
        if (c) note_return(c, ws_close(e->task_id, 3000 + r, "from a callback", on_result, c));
    }
}

static void on_extra_event(const ws_event *e, void *user_data) {
    (void)e;
    xlistener *x = user_data;
    pthread_mutex_lock(lock_for(x));
    x->calls++;
    if (x->off) x->calls_after_off++;
    pthread_mutex_unlock(lock_for(x));
}

/* ------------------------------------------------------------------------------------------ */
/* Workers                                                                                      */

enum op { OP_CONNECT, OP_BAD_CONNECT, OP_SEND, OP_BAD_SEND, OP_CLOSE, OP_GROUP, OP_ON, OP_OFF, OP_STATE, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"connect", "bad connect", "send", "bad send", "close",
                                               "close group", "on_event", "off_event", "ready_state"};

/* A random issued slot's id (0 if none yet): mostly one of the newest 256 (likely still live),
 * sometimes any (likely a stale, CLOSED id). */
static int64_t random_slot(uint64_t *s, int *index) {
    pthread_mutex_lock(&g_slots_mu);
    int n = g_nslots;
    pthread_mutex_unlock(&g_slots_mu);
    if (n == 0) return 0;
    *index = n > 256 && pick(s, 10) ? n - 1 - pick(s, 256) : pick(s, n);
    pthread_mutex_lock(&g_slots[*index].mu);
    int64_t id = g_slots[*index].id;
    pthread_mutex_unlock(&g_slots[*index].mu);
    return id;
}

static int64_t bad_id(uint64_t *s) {
    static const int64_t ids[] = {0, -1, -7, INT64_MAX, INT64_MIN, 1LL << 40};
    return ids[pick(s, 6)];
}

static void do_connect(worker *w) {
    pthread_mutex_lock(&g_slots_mu);
    int index = g_nslots < MAX_SLOTS ? g_nslots++ : -1;
    pthread_mutex_unlock(&g_slots_mu);
    if (index < 0) return;
    slot *sl = &g_slots[index];
    char url[192];
    pthread_mutex_lock(&sl->mu);
    sl->n = index;
    pthread_mutex_unlock(&sl->mu);
    snprintf(url, sizeof url, "%s/stress/%d", g_base, index);
    call_rec *c = new_call(&w->calls, CALL_CONNECT, index, 0);
    if (!c) return;
    ws_connect_options o;
    ws_connect_options_init(&o);
    o.url = url;
    o.group = 100 + (uint64_t)pick(&w->seed, GROUPS);
    o.timeout_ms = 10000;
    o.on_event = on_event;
    o.event_user_data = sl;
    o.on_result = on_result;
    o.result_user_data = c;
    o.tcp_no_delay = pick(&w->seed, 2);
    if (!g_no_heartbeat && pick(&w->seed, 4) == 0) { /* a heartbeat on a quarter of the sockets */
        o.ping_interval_ms = 20 + (uint32_t)pick(&w->seed, 180);
        o.pong_timeout_ms = (uint32_t)pick(&w->seed, 2) ? 0 : 1000;
    }
    int64_t id = ws_connect(&o);
    pthread_mutex_lock(&sl->mu);
    sl->id = id > 0 ? id : 0;
    pthread_mutex_unlock(&sl->mu);
    /* a refused connect never delivers events: the slot stays id 0 and is ignored later */
    note_return(c, id > 0 ? WS_OK : (int32_t)id);
}

static void do_bad_connect(worker *w) {
    static const char *const urls[] = {"", "http://127.0.0.1/", "ws://", "ws://[::1", "not a url"};
    ws_header forbidden = {"Sec-WebSocket-Key", "x"};
    ws_connect_options o;
    ws_connect_options_init(&o);
    int r = pick(&w->seed, 6);
    char url[192];
    snprintf(url, sizeof url, "%s/stress/-1", g_base);
    o.url = r < 5 ? urls[r] : url;
    if (r == 5) { /* a good URL with a header the handshake owns */
        o.headers = &forbidden;
        o.header_count = 1;
    }
    call_rec *c = new_call(&w->calls, CALL_CONNECT, -1, 0);
    if (!c) return;
    o.on_result = on_result;
    o.result_user_data = c;
    int64_t id = ws_connect(&o);
    if (id > 0) { /* would be a bug: these must all be refused */
        pthread_mutex_lock(&g_count_mu);
        g_mismatched_code++;
        pthread_mutex_unlock(&g_count_mu);
    }
    note_return(c, id > 0 ? WS_OK : (int32_t)id);
}

static void do_bad_send(worker *w, uint8_t *buf) {
    int index = -1;
    int64_t id = random_slot(&w->seed, &index);
    call_rec *c = new_call(&w->calls, CALL_SEND, -1, 0); /* none of these may reach the server */
    if (!c) return;
    int32_t rc;
    switch (pick(&w->seed, 5)) {
    case 0: rc = ws_send(bad_id(&w->seed), buf, 4, WS_BINARY, on_result, c); break;
    case 1: rc = ws_send(id, buf, 4, 7 /* no such kind */, on_result, c); break;
    case 2: rc = ws_send(id, (const uint8_t *)"\xc3\x28", 2, WS_TEXT, on_result, c); break;
    case 3: rc = ws_send(id, buf, SIZE_MAX / 2, WS_BINARY, on_result, c); break; /* size checked first */
    default: rc = ws_send(id, NULL, 10, WS_BINARY, on_result, c); break;
    }
    note_return(c, rc);
    if (rc == WS_OK) { /* a bad send must be refused synchronously */
        pthread_mutex_lock(&g_count_mu);
        g_mismatched_code++;
        pthread_mutex_unlock(&g_count_mu);
    }
}

static void do_close(worker *w) {
    int index = -1;
    int64_t id = pick(&w->seed, 10) ? random_slot(&w->seed, &index) : bad_id(&w->seed);
    /* Mostly let connections open before closing them (aborts are tested, but not only aborts). */
    if (id > 0 && ws_ready_state(id) == WS_CONNECTING && pick(&w->seed, 10)) return;
    static const int32_t codes[] = {1000, 0, 3000, 4999, 4000, 999, 1001, 1005, 2999, 5000, -1};
    int32_t code = codes[pick(&w->seed, 11)];
    char long_reason[130];
    memset(long_reason, 'r', sizeof long_reason - 1);
    long_reason[sizeof long_reason - 1] = '\0';
    const char *reasons[] = {NULL, "", "bye", long_reason, "\xff\xfe"};
    const char *reason = reasons[pick(&w->seed, 5)];
    if (pick(&w->seed, 3) == 0) {
        ws_close(id, code, reason, NULL, NULL); /* no callback: nothing to count */
        return;
    }
    call_rec *c = new_call(&w->calls, CALL_CLOSE, index, 0);
    if (c) note_return(c, ws_close(id, code, reason, on_result, c));
}

static void do_group(worker *w) {
    call_rec *c = new_call(&w->calls, CALL_GROUP, -1, 0);
    if (!c) return;
    int32_t code = pick(&w->seed, 4) ? 1000 : 42; /* 42: refused, nothing closed */
    note_return(c, ws_close_group(100 + (uint64_t)pick(&w->seed, GROUPS), code, "group", on_result, c));
}

static void do_on(worker *w) {
    if (w->nlisteners == (int)(sizeof w->listeners / sizeof w->listeners[0])) return;
    xlistener *x = calloc(1, sizeof *x);
    if (!x) abort();
    int index = -1;
    int64_t task = pick(&w->seed, 1000) == 0 ? 0 /* global */ : random_slot(&w->seed, &index);
    if (task == 0 && index >= 0) { /* a refused connect's slot: not the global 0 */
        free(x);
        return;
    }
    if (pick(&w->seed, 20) == 0) task = bad_id(&w->seed);
    pthread_mutex_lock(lock_for(x)); /* publishes the zeroed listener before libws may call it */
    x->handle = 0;
    pthread_mutex_unlock(lock_for(x));
    int64_t h = ws_on_event(task, on_extra_event, x);
    pthread_mutex_lock(lock_for(x));
    x->handle = h;
    pthread_mutex_unlock(lock_for(x));
    w->listeners[w->nlisteners++] = x; /* kept (and freed) even if refused */
    if (h <= 0 && h != WS_ERR_CLOSED && h != WS_ERR_UNKNOWN_TASK) {
        pthread_mutex_lock(&g_count_mu);
        g_mismatched_code++;
        pthread_mutex_unlock(&g_count_mu);
    }
}

static void do_off(worker *w) {
    if (w->nlisteners == 0 || pick(&w->seed, 8) == 0) {
        static const int64_t bogus[] = {0, -1, INT64_MAX, 1LL << 50};
        int32_t rc = ws_off_event(bogus[pick(&w->seed, 4)]);
        if (rc != WS_ERR_UNKNOWN_LISTENER) {
            pthread_mutex_lock(&g_count_mu);
            g_mismatched_code++;
            pthread_mutex_unlock(&g_count_mu);
        }
        return;
    }
    xlistener *x = w->listeners[pick(&w->seed, w->nlisteners)];
    pthread_mutex_lock(lock_for(x));
    int64_t h = x->handle;
    bool already = x->off;
    pthread_mutex_unlock(lock_for(x));
    if (h <= 0) return;
    int32_t rc = ws_off_event(h);
    if (rc == WS_OK) {
        pthread_mutex_lock(lock_for(x));
        x->off = true;
        pthread_mutex_unlock(lock_for(x));
    }
    /* OK once; afterwards (or once its task closed) WS_ERR_UNKNOWN_LISTENER */
    if ((rc != WS_OK && rc != WS_ERR_UNKNOWN_LISTENER) || (already && rc == WS_OK)) {
        pthread_mutex_lock(&g_count_mu);
        g_mismatched_code++;
        pthread_mutex_unlock(&g_count_mu);
    }
}

static void do_state(worker *w) {
    int index = -1;
    bool bad = pick(&w->seed, 5) == 0;
    int64_t id = bad ? bad_id(&w->seed) : random_slot(&w->seed, &index);
    int32_t st = ws_ready_state(id);
    /* bad_id() and 0 (no slot yet, or a refused connect) were never issued */
    bool ok = bad || id == 0 ? st == WS_ERR_UNKNOWN_TASK : st >= WS_CONNECTING && st <= WS_CLOSED;
    if (!ok) w->bad_ready_state++;
}

static void *work(void *arg) {
    worker *w = arg;
    uint8_t *buf = malloc(65536);
    if (!buf) abort();
    while (!stopping()) {
        if (outstanding() > MAX_OUTSTANDING) {
            sleep_us(1000);
            continue;
        }
        int r = pick(&w->seed, 10000);
        int op = r < 100 ? OP_CONNECT : r < 150 ? OP_BAD_CONNECT : r < 6400 ? OP_SEND : r < 6900 ? OP_BAD_SEND
               : r < 7050 ? OP_CLOSE : r < 7051 ? OP_GROUP : r < 8000 ? OP_ON : r < 8800 ? OP_OFF : OP_STATE;
        w->ops[op]++;
        switch (op) {
        case OP_CONNECT: do_connect(w); break;
        case OP_BAD_CONNECT: do_bad_connect(w); break;
        case OP_SEND: {
            int index = -1;
            int64_t id = random_slot(&w->seed, &index);
            if (id > 0) send_on(&w->calls, &w->seed, index, id, buf);
            break;
        }
        case OP_BAD_SEND: do_bad_send(w, buf); break;
        case OP_CLOSE: do_close(w); break;
        case OP_GROUP: do_group(w); break;
        case OP_ON: do_on(w); break;
        case OP_OFF: do_off(w); break;
        default: do_state(w); break;
        }
        if (g_plant_race) g_planted++;
        sleep_us(pick(&w->seed, 100)); /* a pace the loopback server can follow on a small machine */
    }
    free(buf);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The server and its stats                                                                      */

static pid_t g_server_pid;
static int g_server_stdin = -1;

static bool start_server(void) {
    const char *url = getenv("STRESS_URL");
    if (url && *url) {
        snprintf(g_base, sizeof g_base, "%s", url);
        return true;
    }
    const char *python = getenv("PYTHON");
    if (!python || !*python) python = access(".venv/bin/python", X_OK) == 0 ? ".venv/bin/python" : "python3";
    const char *script = getenv("STRESS_SERVER_PY");
    if (!script || !*script) script = "ffi-tests/stress_server.py";
    int out[2], in[2];
    if (pipe(out) != 0 || pipe(in) != 0) return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    posix_spawn_file_actions_addclose(&fa, in[0]);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    char *argv[] = {(char *)python, (char *)script, "0", NULL};
    int rc = posix_spawnp(&g_server_pid, python, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(in[0]);
    if (rc != 0) {
        close(out[0]);
        close(in[1]);
        g_server_pid = 0;
        return false;
    }
    g_server_stdin = in[1];
    FILE *f = fdopen(out[0], "r");
    char line[128] = "";
    int port = 0;
    bool ok = f && fgets(line, sizeof line, f) && sscanf(line, "READY %d", &port) == 1 && port > 0;
    if (f) fclose(f);
    snprintf(g_base, sizeof g_base, "ws://127.0.0.1:%d", port);
    return ok;
}

static void stop_server(void) {
    if (g_server_stdin >= 0) close(g_server_stdin);
    if (g_server_pid > 0) {
        kill(g_server_pid, SIGTERM);
        waitpid(g_server_pid, NULL, 0);
    }
    g_server_pid = 0;
    g_server_stdin = -1;
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text;
    bool closed;
} stats_box;

static void on_stats_event(const ws_event *e, void *user_data) {
    stats_box *b = user_data;
    pthread_mutex_lock(&b->mu);
    if (e->kind == WS_EVENT_MESSAGE && !b->text) {
        b->text = malloc(e->message.len + 1);
        if (!b->text) abort();
        memcpy(b->text, e->message.data, e->message.len);
        b->text[e->message.len] = '\0';
    }
    if (e->kind == WS_EVENT_CLOSE) b->closed = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* The server's "active k" line then "<n> <count> <sum> <code>" lines; NULL on failure. */
static char *fetch_stats(void) {
    stats_box b = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    char url[192];
    snprintf(url, sizeof url, "%s/stats", g_base);
    ws_connect_options o;
    ws_connect_options_init(&o);
    o.url = url;
    o.timeout_ms = 10000;
    o.on_event = on_stats_event;
    o.event_user_data = &b;
    if (ws_connect(&o) <= 0) return NULL;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 40;
    pthread_mutex_lock(&b.mu);
    while (!b.closed) {
        if (pthread_cond_timedwait(&b.cv, &b.mu, &until) == ETIMEDOUT) break;
    }
    char *text = b.text;
    pthread_mutex_unlock(&b.mu);
    ws_shutdown(); /* waits for the close event: nothing touches b afterwards */
    return text;
}

/* ------------------------------------------------------------------------------------------ */
/* Checks                                                                                       */

static int g_passed, g_failed;

static void report(bool ok, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(bool ok, const char *what, const char *fmt, ...) {
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("  %s %s: %s\n", ok ? "ok  " : "FAIL", what, detail);
    if (ok) g_passed++;
    else g_failed++;
}

/* Liveness probe: a ws_close on an id never issued reports back through the libws thread. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool called;
} probe;

static void on_probe(const ws_result *r, void *user_data) {
    (void)r;
    probe *p = user_data;
    pthread_mutex_lock(&p->mu);
    p->called = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* True when the libws thread answered within ms. One static probe, never destroyed: destroying
 * a mutex right after the libws thread unlocked it is a race helgrind rightly reports (the
 * unlock may still be touching it). */
static probe g_probe = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};

static bool loop_alive(int ms) {
    probe *p = &g_probe;
    pthread_mutex_lock(&p->mu);
    p->called = false;
    pthread_mutex_unlock(&p->mu);
    ws_close(INT64_MAX, 1000, NULL, on_probe, p);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&p->mu);
    while (!p->called)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT) break;
    bool alive = p->called;
    pthread_mutex_unlock(&p->mu);
    return alive;
}

static void *watchdog(void *arg) {
    long limit = (long)(intptr_t)arg;
    sleep_us(limit * 1000000L);
    fprintf(stderr, "stress: watchdog: still running after %ld s (a hang in libws?)\n", limit);
    printf("0 passed, 1 failed\n");
    fflush(stdout);
    if (g_server_pid > 0) kill(g_server_pid, SIGTERM);
    _exit(3);
}

typedef struct {
    long ok, maybe;
    uint64_t ok_sum;
    bool seen; /* the server has a record of it */
} slot_sends;

static void for_each_call(void (*fn)(call_rec *, void *), void *arg) {
    for (int t = 0; t <= g_threads; t++) {
        arena *a = t < g_threads ? &g_workers[t].calls : &g_cb_arena;
        for (int k = 0; k < a->nchunks; k++) {
            int n = k == a->nchunks - 1 ? a->used : CHUNK;
            for (int i = 0; i < n; i++) fn(&a->chunks[k][i], arg);
        }
    }
}

typedef struct {
    long total, not_once, twice, never, no_return;
    slot_sends *per_slot;
    long sends_ok, sends_failed, sends_maybe;
} call_stats;

static void tally(call_rec *c, void *arg) {
    call_stats *s = arg;
    pthread_mutex_lock(lock_for(c));
    call_rec r = *c;
    pthread_mutex_unlock(lock_for(c));
    s->total++;
    if (r.calls != 1) s->not_once++;
    if (r.calls > 1) s->twice++;
    if (r.calls == 0) s->never++;
    if (!r.returned) s->no_return++;
    if (r.kind == CALL_SEND && r.calls == 1) {
        if (r.code == WS_OK) s->sends_ok++;
        else s->sends_failed++;
        if (r.slot >= 0 && r.code == WS_OK) {
            s->per_slot[r.slot].ok++;
            s->per_slot[r.slot].ok_sum += r.crc;
        } else if (r.slot >= 0 && r.maybe_sent) {
            s->per_slot[r.slot].maybe++;
            s->sends_maybe++;
        }
    }
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) g_seconds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) g_threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--plant-race") == 0) g_plant_race = true;
        else if (strcmp(argv[i], "--no-heartbeat") == 0) g_no_heartbeat = true;
        else {
            fprintf(stderr, "usage: %s [--seconds N] [--threads N] [--no-heartbeat] [--plant-race]\n", argv[0]);
            return 2;
        }
    }
    if (g_threads < 1 || g_threads > MAX_THREADS || g_seconds < 1) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    crc_init();
    for (int i = 0; i < NLOCKS; i++) pthread_mutex_init(&g_locks[i], NULL);
    for (int i = 0; i < MAX_SLOTS; i++) pthread_mutex_init(&g_slots[i].mu, NULL);
    const char *wd = getenv("STRESS_WATCHDOG_S");
    long watchdog_s = wd && atol(wd) > 0 ? atol(wd) : g_seconds * 4L + 120;
    pthread_t wd_thread;
    pthread_create(&wd_thread, NULL, watchdog, (void *)(intptr_t)watchdog_s);
    pthread_detach(wd_thread);

    printf("== stress (libws %s): %d threads, %d s%s\n", ws_version(), g_threads, g_seconds,
           g_no_heartbeat ? ", no heartbeat" : ", heartbeat on a quarter of the sockets");
    if (!start_server()) {
        printf("stress: could not start ffi-tests/stress_server.py\n0 passed, 1 failed\n");
        stop_server();
        return 1;
    }
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.max_connections_per_group = PER_GROUP;
    cfg.max_message_size = 1 << 20;
    cfg.close_timeout_ms = 3000;
    if (ws_init(&cfg) != WS_OK) {
        printf("stress: ws_init failed\n0 passed, 1 failed\n");
        stop_server();
        return 1;
    }

    long long t0 = now_ms();
    for (int i = 0; i < g_threads; i++) {
        g_workers[i].seed = 0x1234567ull * (uint64_t)(i + 1) ^ (uint64_t)t0;
        if (pthread_create(&g_workers[i].thread, NULL, work, &g_workers[i]) != 0) abort();
    }
    /* Run, checking every second that the libws thread still serves commands. */
    bool alive = true;
    while (alive && now_ms() - t0 < (long long)g_seconds * 1000) {
        sleep_us(1000000L);
        alive = loop_alive(10000);
    }
    pthread_mutex_lock(&g_count_mu);
    g_stop = true;
    pthread_mutex_unlock(&g_count_mu);
    if (!alive) {
        /* Workers may be waiting for callbacks that never come, and ws_shutdown would wait for the
         * stuck thread forever: report and stop here. */
        printf("  FAIL libws thread: stopped answering commands after %lld ms of the run (no callback for "
               "10 s)\n", now_ms() - t0);
        printf("0 passed, 1 failed\n");
        fflush(stdout);
        if (g_server_pid > 0) kill(g_server_pid, SIGTERM);
        _exit(1);
    }
    for (int i = 0; i < g_threads; i++) pthread_join(g_workers[i].thread, NULL);
    long long t1 = now_ms();
    int32_t shut = ws_shutdown(); /* closes every task, delivers every event and result */
    long long t2 = now_ms();

    /* What happened */
    long ops[OP_COUNT] = {0}, bad_states = 0, xl_total = 0, xl_off = 0, xl_after_off = 0, xl_calls = 0;
    for (int i = 0; i < g_threads; i++) {
        for (int k = 0; k < OP_COUNT; k++) ops[k] += g_workers[i].ops[k];
        bad_states += g_workers[i].bad_ready_state;
        for (int k = 0; k < g_workers[i].nlisteners; k++) {
            xlistener *x = g_workers[i].listeners[k];
            pthread_mutex_lock(lock_for(x));
            xl_total++;
            xl_off += x->off;
            xl_after_off += x->calls_after_off;
            xl_calls += x->calls;
            pthread_mutex_unlock(lock_for(x));
        }
    }
    printf("  calls:");
    for (int k = 0; k < OP_COUNT; k++) printf(" %s %ld%s", op_names[k], ops[k], k + 1 < OP_COUNT ? "," : "\n");
    printf("  from callbacks: %ld sends, %ld closes; run %lld ms, ws_shutdown %lld ms\n", g_cb_sends, g_cb_closes,
           t1 - t0, t2 - t1);

    call_stats cs = {0};
    pthread_mutex_lock(&g_slots_mu);
    int nslots = g_nslots;
    pthread_mutex_unlock(&g_slots_mu);
    cs.per_slot = calloc((size_t)nslots + 1, sizeof *cs.per_slot);
    for_each_call(tally, &cs);

    report(shut == WS_OK, "ws_shutdown", "returned %d", shut);
    pthread_mutex_lock(&g_count_mu);
    long with_cb = g_with_cb, callbacks = g_callbacks, mismatched = g_mismatched_code;
    pthread_mutex_unlock(&g_count_mu);
    report(with_cb == callbacks && cs.not_once == 0, "every result callback exactly once",
           "%ld calls with a callback, %ld callbacks; %ld never called, %ld called more than once", with_cb, callbacks,
           cs.never, cs.twice);
    report(mismatched == 0 && cs.no_return == 0, "return values",
           "%ld calls whose negative return differs from their result code or broke a documented return", mismatched);
    report(bad_states == 0, "ws_ready_state", "%ld answers outside CONNECTING..CLOSED / UNKNOWN_TASK", bad_states);
    report(xl_after_off == 0, "ws_off_event", "%ld extra listeners (%ld removed, %ld calls): %ld calls after removal",
           xl_total, xl_off, xl_calls, xl_after_off);

    /* Events per task */
    long tasks = 0, opened = 0, clean = 0, bad_seq = 0;
    for (int i = 0; i < nslots; i++) {
        slot *sl = &g_slots[i];
        pthread_mutex_lock(&sl->mu);
        slot s = *sl;
        pthread_mutex_unlock(&sl->mu);
        if (s.id <= 0) {
            if (s.events) bad_seq++; /* a refused connect delivered events */
            continue;
        }
        tasks++;
        opened += s.opens;
        clean += s.closes && s.was_clean;
        bool ok = s.closes == 1 && s.after_close == 0 && s.order_errors == 0 && s.wrong_id == 0 &&
                  s.event_task_id == s.id && s.errors <= 1 && (s.errors == 0 || s.last_before_close == WS_EVENT_ERROR);
        if (!ok) {
            if (bad_seq < 10)
                printf("    task %" PRId64 ": closes %d after_close %d order_errors %d wrong_id %d errors %d\n", s.id,
                       s.closes, s.after_close, s.order_errors, s.wrong_id, s.errors);
            bad_seq++;
        }
    }
    report(bad_seq == 0, "event order per task", "%ld tasks (%ld opened, %ld closed cleanly): %ld broke the rules",
           tasks, opened, clean, bad_seq);

    /* The server's counts */
    char *stats = fetch_stats();
    long server_tasks = 0, count_mismatch = 0, over = 0, missing = 0, active = -1;
    if (stats) {
        char *save = NULL;
        for (char *line = strtok_r(stats, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            long n, count, code;
            unsigned long long sum;
            if (sscanf(line, "active %ld", &active) == 1) continue;
            if (sscanf(line, "%ld %ld %llu %ld", &n, &count, &sum, &code) != 4 || n < 0 || n >= nslots) continue;
            server_tasks++;
            slot *sl = &g_slots[n];
            pthread_mutex_lock(&sl->mu);
            slot s = *sl;
            pthread_mutex_unlock(&sl->mu);
            slot_sends *ss = &cs.per_slot[n];
            ss->seen = true;
            long ok = ss->ok;
            if (s.closes && s.was_clean) {
                if (count != ok || sum != (ss->ok_sum & 0xFFFFFFFFFFFFFFFFull)) {
                    if (count_mismatch < 10)
                        printf("    task %" PRId64 " (/stress/%ld, clean close %u): server %ld messages sum %llu, "
                               "client %ld ok sum %" PRIu64 " (+%ld failed after queueing)\n",
                               s.id, n, s.close_code, count, sum, ok, ss->ok_sum, ss->maybe);
                    count_mismatch++;
                }
            } else if (count > ok + ss->maybe) {
                if (over < 10)
                    printf("    task %" PRId64 " (/stress/%ld, close %u clean %d): server %ld messages > %ld ok + %ld "
                           "failed after queueing\n", s.id, n, s.close_code, s.was_clean, count, ok, ss->maybe);
                over++;
            }
        }
        /* A task that closed cleanly with ok sends must be known to the server. */
        for (int i = 0; i < nslots; i++) {
            slot_sends *ss = &cs.per_slot[i];
            if (ss->seen) continue;
            pthread_mutex_lock(&g_slots[i].mu);
            bool was_clean = g_slots[i].closes && g_slots[i].was_clean;
            pthread_mutex_unlock(&g_slots[i].mu);
            if (ss->ok > 0 && was_clean) missing++;
        }
    }
    report(stats != NULL && active == 0, "server stats", "%s; %ld connections recorded, %ld still active",
           stats ? "fetched" : "NOT fetched", server_tasks, active);
    report(stats && count_mismatch == 0 && missing == 0, "clean close: server count == ok sends",
           "%ld sends ok, %ld failed (%ld of them after queueing); %ld mismatched, %ld unknown to the server",
           cs.sends_ok, cs.sends_failed, cs.sends_maybe, count_mismatch, missing);
    report(stats && over == 0, "other tasks: server count <= ok + failed after queueing", "%ld over", over);
    if (g_plant_race) printf("  (planted race counter: %ld)\n", g_planted);

    free(stats);
    free(cs.per_slot);
    for (int t = 0; t <= g_threads; t++) {
        arena *a = t < g_threads ? &g_workers[t].calls : &g_cb_arena;
        for (int k = 0; k < a->nchunks; k++) free(a->chunks[k]);
        if (t < g_threads)
            for (int k = 0; k < g_workers[t].nlisteners; k++) free(g_workers[t].listeners[k]);
    }
    stop_server();
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
