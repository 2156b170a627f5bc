/* The dispatcher (issue 13): results and events of bound tasks run on the host thread that calls
 * ws_dispatch, in order, exactly once; the fd and the wake callback announce them; the state the
 * host sees is what was dispatched; a stalled host bounds memory (back-pressure) while I/O goes
 * on; close before the open was dispatched aborts; nothing a host thread calls blocks on it.
 *
 * Servers: server.py (WS_BASE) and ffi-tests/peers_dispatcher.py (flood and ping peers).
 */
#include "common.h"
#include "peer_process.h"

#include <poll.h>

static peer_process g_peer;
static pthread_t g_host; /* the thread that dispatches */
static atomic_int g_wrong_thread; /* callbacks of bound tasks that ran on another thread */

static char *peer_url(const char *path) {
    char *url = malloc(256);
    if (!url) abort();
    snprintf(url, 256, "ws://127.0.0.1:%d%s", g_peer.ports[0], path);
    return url;
}

static ws_dispatcher *new_dispatcher(uint64_t max_pending, ws_wake_cb wake, void *user_data) {
    ws_dispatcher_options o;
    CHECK_EQ(ws_dispatcher_options_init(&o), WS_OK);
    o.max_pending_bytes = max_pending;
    o.on_wake = wake;
    o.wake_user_data = user_data;
    ws_dispatcher *d = NULL;
    CHECK_EQ(ws_dispatcher_new(&o, &d), WS_OK);
    CHECK(d != NULL);
    return d;
}

/* Dispatches (waiting on the fd with poll) until pred holds (checked with g_mu held) or ms pass. */
static bool pump_until(ws_dispatcher *d, bool (*pred)(void *), void *arg, int ms) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pthread_mutex_lock(&g_mu);
        bool ok = pred ? pred(arg) : false;
        pthread_mutex_unlock(&g_mu);
        if (ok) return true;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (spent >= ms) return false;
        struct pollfd p = {.fd = ws_dispatcher_fd(d), .events = POLLIN};
        poll(&p, 1, 20);
        int64_t n = ws_dispatch(d, 0);
        CHECK(n >= 0);
    }
}

/* Event and result callbacks of bound tasks: note a wrong thread, then record. */
static void on_bound_event(const ws_event *e, void *user_data) {
    if (!pthread_equal(pthread_self(), g_host)) atomic_fetch_add(&g_wrong_thread, 1);
    rec_on_event(e, user_data);
}

static void on_bound_result(const ws_result *r, void *user_data) {
    if (!pthread_equal(pthread_self(), g_host)) atomic_fetch_add(&g_wrong_thread, 1);
    box_on_result(r, user_data);
}

static ws_connect_options bound_options(const char *url, task_rec *rec, result_box *box, ws_dispatcher *d) {
    ws_connect_options o = rec_options(url, rec, box);
    o.on_event = on_bound_event;
    o.on_result = on_bound_result;
    o.dispatcher = d;
    return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Thread, order, exactly once, host-observed state                                             */

#define ECHOES 50

static struct {
    int64_t id;
    int seq[3 * ECHOES + 8]; /* what ran, in order: 1 connect result, 2 open, 100+i send result i,
                                 200+i echo i, 3 close */
    int n;
    int state_in_connect_result, state_in_open, state_in_close;
    int send_rc[ECHOES];
} g_order;

static void order_note(int what) {
    pthread_mutex_lock(&g_mu);
    if (g_order.n < (int)(sizeof g_order.seq / sizeof g_order.seq[0])) g_order.seq[g_order.n] = what;
    g_order.n++;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static void order_send_result(const ws_result *r, void *user_data) {
    if (!pthread_equal(pthread_self(), g_host)) atomic_fetch_add(&g_wrong_thread, 1);
    CHECK_EQ(r->code, WS_OK);
    order_note(100 + (int)(intptr_t)user_data);
}

static void order_connect_result(const ws_result *r, void *user_data) {
    (void)user_data;
    if (!pthread_equal(pthread_self(), g_host)) atomic_fetch_add(&g_wrong_thread, 1);
    CHECK_EQ(r->code, WS_OK);
    g_order.state_in_connect_result = ws_ready_state(r->task_id);
    order_note(1);
}

static void order_event(const ws_event *e, void *user_data) {
    (void)user_data;
    if (!pthread_equal(pthread_self(), g_host)) atomic_fetch_add(&g_wrong_thread, 1);
    switch (e->kind) {
    case WS_EVENT_OPEN:
        g_order.state_in_open = ws_ready_state(e->task_id);
        order_note(2);
        for (int i = 0; i < ECHOES; i++) {
            char text[32];
            int n = snprintf(text, sizeof text, "m%d", i);
            g_order.send_rc[i] = ws_send(e->task_id, (const uint8_t *)text, (size_t)n, WS_TEXT, order_send_result,
                                         (void *)(intptr_t)i);
        }
        break;
    case WS_EVENT_MESSAGE: {
        int i = -1;
        if (e->message.len < 16) {
            char text[16];
            memcpy(text, e->message.data, e->message.len);
            text[e->message.len] = 0;
            sscanf(text, "m%d", &i);
        }
        order_note(200 + i);
        if (i == ECHOES - 1) ws_close(e->task_id, 1000, "done", NULL, NULL);
        break;
    }
    case WS_EVENT_CLOSE:
        g_order.state_in_close = ws_ready_state(e->task_id);
        order_note(3);
        break;
    default:
        order_note(-1);
    }
}

static bool order_closed(void *arg) {
    (void)arg;
    for (int i = 0; i < g_order.n && i < (int)(sizeof g_order.seq / sizeof g_order.seq[0]); i++)
        if (g_order.seq[i] == 3) return true;
    return false;
}

/* Everything runs on the thread that dispatches, in order, exactly once, and nothing runs before
 * the host dispatches; the readyState is what the host has seen. The host waits 300 ms before it
 * first dispatches, so the loop has opened the socket long before: the state stays CONNECTING
 * in the connect result all the same. */
static void case_thread_order_once(void) {
    memset(&g_order, 0, sizeof g_order);
    atomic_store(&g_wrong_thread, 0);
    ws_dispatcher *d = new_dispatcher(0, NULL, NULL);
    ws_connect_options o;
    ws_connect_options_init(&o);
    o.url = ws_url("/echo");
    o.on_event = order_event;
    o.on_result = order_connect_result;
    o.dispatcher = d;
    int64_t id = ws_connect(&o);
    if (!CHECK_GT(id, 0)) return;
    sleep_ms(300);
    pthread_mutex_lock(&g_mu);
    int before = g_order.n;
    pthread_mutex_unlock(&g_mu);
    CHECK_EQ(before, 0); /* nothing ran on the libws thread */
    CHECK_EQ(ws_ready_state(id), WS_CONNECTING);
    CHECK(pump_until(d, order_closed, NULL, WAIT_MS));
    sleep_ms(100);
    CHECK_EQ(ws_dispatch(d, 0), 0); /* nothing after the close */

    CHECK_EQ(atomic_load(&g_wrong_thread), 0);
    CHECK_EQ(g_order.state_in_connect_result, WS_CONNECTING);
    CHECK_EQ(g_order.state_in_open, WS_OPEN);
    CHECK_EQ(g_order.state_in_close, WS_CLOSED);
    for (int i = 0; i < ECHOES; i++) CHECK_EQ(g_order.send_rc[i], WS_OK);
    /* 1, 2, then each send result and echo exactly once, each kind in order, then 3. */
    CHECK_EQ(g_order.n, 3 + 2 * ECHOES);
    CHECK_EQ(g_order.seq[0], 1);
    CHECK_EQ(g_order.seq[1], 2);
    CHECK_EQ(g_order.seq[g_order.n - 1], 3);
    int next_result = 0, next_echo = 0;
    for (int k = 2; k < g_order.n - 1 && k < (int)(sizeof g_order.seq / sizeof g_order.seq[0]); k++) {
        int v = g_order.seq[k];
        if (v >= 200) {
            CHECK_EQ(v - 200, next_echo);
            next_echo++;
        } else {
            CHECK_EQ(v - 100, next_result);
            next_result++;
        }
    }
    CHECK_EQ(next_result, ECHOES);
    CHECK_EQ(next_echo, ECHOES);
    CHECK_EQ(ws_dispatcher_free(d), WS_OK);
}

/* A server that closes at once: while the host has not dispatched the close, the task is OPEN
 * for it: a send is accepted (its result fails, after the close event), ws_ready_state is OPEN. */
static struct {
    int64_t id;
    int send_rc;
    int state_after_send;
} g_seen;

static void seen_open_hook(task_rec *rec, const ws_event *e) {
    (void)rec;
    if (e->kind != WS_EVENT_OPEN) return;
    result_box *box = new_box();
    g_seen.send_rc = ws_send(e->task_id, (const uint8_t *)"late", 4, WS_TEXT, on_bound_result, box);
    g_seen.state_after_send = ws_ready_state(e->task_id);
}

static void case_state_follows_dispatch(void) {
    memset(&g_seen, 0, sizeof g_seen);
    atomic_store(&g_wrong_thread, 0);
    ws_dispatcher *d = new_dispatcher(0, NULL, NULL);
    task_rec *rec = rec_new("closes-at-once");
    rec->hook = seen_open_hook;
    result_box *box = new_box();
    ws_connect_options o = bound_options(ws_url("/close?code=4000&reason=bye"), rec, box, d);
    int64_t id = ws_connect(&o);
    if (!CHECK_GT(id, 0)) return;
    sleep_ms(300); /* the loop has seen the open and the close by now */
    CHECK_EQ(ws_ready_state(id), WS_CONNECTING);
    CHECK(pump_until(d, rec_has_close, rec, WAIT_MS));
    CHECK_EQ(g_seen.send_rc, WS_OK);
    CHECK_EQ(g_seen.state_after_send, WS_OPEN);
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 4000, true, "bye");
    CHECK_EQ(ws_ready_state(id), WS_CLOSED);
    /* The send's result: a fail, after the close event, on this thread. */
    result_box *send_box = g_boxes[g_box_count - 1];
    CHECK(pump_until(d, box_called, send_box, WAIT_MS));
    CHECK_EQ(box_get(send_box).code, WS_ERR_CLOSED);
    CHECK_PREFIX(box_get(send_box).err_msg, "sendSocketMessage:fail");
    CHECK_EQ(box_get(box).code, WS_OK);
    CHECK_EQ(atomic_load(&g_wrong_thread), 0);
    CHECK_EQ(ws_dispatcher_free(d), WS_OK);
    g_box_count = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The fd and the wake callback                                                                 */

static struct {
    atomic_int wakes;
    atomic_int wakes_on_host; /* wakes on the dispatching thread (items left after a call) */
} g_wake;

static void on_wake(void *user_data) {
    if (pthread_equal(pthread_self(), g_host)) atomic_fetch_add(&g_wake.wakes_on_host, 1);
    atomic_fetch_add(&g_wake.wakes, 1);
    pthread_mutex_lock(&g_mu);
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    (void)user_data;
}

static bool woken(void *arg) { return atomic_load(&g_wake.wakes) >= *(int *)arg; }

static bool fd_readable(ws_dispatcher *d, int ms) {
    struct pollfd p = {.fd = ws_dispatcher_fd(d), .events = POLLIN};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void case_fd_and_wake(void) {
    atomic_store(&g_wake.wakes, 0);
    atomic_store(&g_wake.wakes_on_host, 0);
    atomic_store(&g_wrong_thread, 0);
    ws_dispatcher *d = new_dispatcher(0, on_wake, NULL);
    CHECK(ws_dispatcher_fd(d) >= 0);
    CHECK(!fd_readable(d, 0));
    task_rec *rec = rec_new("wake");
    result_box *box = new_box();
    ws_connect_options o = bound_options(ws_url("/echo"), rec, box, d);
    int64_t id = ws_connect(&o);
    if (!CHECK_GT(id, 0)) return;
    /* The connect result is queued: the wake callback runs (on the libws thread) and the fd is
     * readable, with nothing run yet. */
    int one = 1;
    CHECK(wait_for(woken, &one));
    CHECK(fd_readable(d, WAIT_MS));
    CHECK_EQ(box_get(box).calls, 0);
    CHECK_EQ(atomic_load(&g_wake.wakes_on_host), 0);
    sleep_ms(200); /* the open event is queued behind it: one wake for both */
    CHECK_EQ(atomic_load(&g_wake.wakes), 1);
    /* One item at a time: items are left, so the call wakes the host again (on this thread),
     * and the fd stays readable. */
    CHECK_EQ(ws_dispatch(d, 1), 1);
    CHECK_EQ(box_get(box).calls, 1);
    CHECK_EQ(atomic_load(&g_wake.wakes), 2);
    CHECK_EQ(atomic_load(&g_wake.wakes_on_host), 1);
    CHECK(fd_readable(d, 0));
    CHECK_EQ(rec_get(rec).opens, 0);
    CHECK(ws_dispatch(d, 0) >= 1);
    CHECK_EQ(rec_get(rec).opens, 1);
    /* Emptied: the fd is quiet until the next item. */
    CHECK(!fd_readable(d, 0));
    CHECK_EQ(ws_send(id, (const uint8_t *)"x", 1, WS_TEXT, NULL, NULL), WS_OK);
    CHECK(fd_readable(d, WAIT_MS));
    int three = 3;
    CHECK(wait_for(woken, &three));
    CHECK(pump_until(d, rec_has_messages, &(rec_count_arg){rec, 1}, WAIT_MS));
    CHECK_EQ(ws_close(id, 1000, NULL, NULL, NULL), WS_OK);
    CHECK(pump_until(d, rec_has_close, rec, WAIT_MS));
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(atomic_load(&g_wrong_thread), 0);
    CHECK_EQ(ws_dispatcher_free(d), WS_OK);
    g_box_count = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Close before the open was dispatched                                                         */

static void case_close_before_open_dispatched_aborts(void) {
    atomic_store(&g_wrong_thread, 0);
    ws_dispatcher *d = new_dispatcher(0, NULL, NULL);
    task_rec *rec = rec_new("abort");
    result_box *box = new_box();
    ws_connect_options o = bound_options(ws_url("/echo"), rec, box, d);
    int64_t id = ws_connect(&o);
    if (!CHECK_GT(id, 0)) return;
    sleep_ms(300); /* open on the loop, its open event queued */
    CHECK_EQ(ws_dispatch(d, 1), 1); /* the connect result only */
    CHECK_EQ(box_get(box).code, WS_OK);
    CHECK_EQ(ws_ready_state(id), WS_CONNECTING);
    result_box *close_box = new_box();
    CHECK_EQ(ws_close(id, 1000, "bye", on_bound_result, close_box), WS_OK);
    CHECK(pump_until(d, rec_has_close, rec, WAIT_MS));
    task_rec r = rec_get(rec);
    CHECK_EQ(r.opens, 0);
    CHECK_EQ(r.errors, 0);
    CHECK_EQ(r.messages, 0);
    CHECK_CLOSE(rec, 1006, false, "");
    CHECK(pump_until(d, box_called, close_box, WAIT_MS));
    CHECK_EQ(box_get(close_box).code, WS_OK);
    CHECK_EQ(ws_ready_state(id), WS_CLOSED);
    CHECK_EQ(atomic_load(&g_wrong_thread), 0);
    CHECK_EQ(ws_dispatcher_free(d), WS_OK);
    g_box_count = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Back-pressure: a stalled host, a flooding server                                             */

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static bool g_valgrind; /* smaller flood, no RSS or timing checks */

/* The flood and ping tasks' events, counted here (the flood is too big to record). */
static struct {
    long long bytes;
    int done_pong_ms; /* from the "done pong_ms=N" message; -2 until it came */
    int ping_pong_ms; /* from the /ping peer's "pong_ms=N"; -2 until it came */
    int errors, closes, close_code;
} g_flood;

static void flood_event(const ws_event *e, void *user_data) {
    (void)user_data;
    if (!pthread_equal(pthread_self(), g_host)) atomic_fetch_add(&g_wrong_thread, 1);
    if (e->kind == WS_EVENT_ERROR) {
        fprintf(stderr, "    flood/ping task error: %s\n", e->error.err_msg);
        g_flood.errors++;
    }
    if (e->kind == WS_EVENT_CLOSE) {
        g_flood.closes++;
        g_flood.close_code = e->close.code;
    }
    if (e->kind != WS_EVENT_MESSAGE) return;
    if (e->message.kind == WS_BINARY) {
        g_flood.bytes += (long long)e->message.len;
    } else {
        char text[64] = "";
        memcpy(text, e->message.data, e->message.len < 63 ? e->message.len : 63);
        int ms;
        if (sscanf(text, "done pong_ms=%d", &ms) == 1) g_flood.done_pong_ms = ms;
        else if (sscanf(text, "pong_ms=%d", &ms) == 1) g_flood.ping_pong_ms = ms;
    }
}

static bool flood_done(void *arg) {
    (void)arg;
    return g_flood.done_pong_ms != -2;
}

static bool ping_done(void *arg) {
    (void)arg;
    return g_flood.ping_pong_ms != -2;
}

static bool flood_closed(void *arg) { return g_flood.closes >= *(int *)arg; }

#define FLOOD_LIMIT (2 << 20)

/* The host stalls for 2 s (it dispatches nothing) while a server sends 64 MiB with a 2 MiB
 * limit: libws stops reading, so the process grows by a few MiB, not by the 64 MiB the server
 * tries to send. Meanwhile a second task on another dispatcher (under its limit) gets a ping
 * answered within 100 ms: the stall stops no I/O. The flooded task has a heartbeat (300 ms) that
 * must not fail it: the pause is our silence, not the server's. Then the host dispatches: every
 * byte arrives, and the ping the server sent after its flood, which waited behind it in the TCP
 * stream, is answered. */
static void case_stalled_host_bounds_memory(void) {
    memset(&g_flood, 0, sizeof g_flood);
    g_flood.done_pong_ms = -2;
    g_flood.ping_pong_ms = -2;
    atomic_store(&g_wrong_thread, 0);
    const long long flood_bytes = g_valgrind ? 8LL << 20 : 64LL << 20;
    ws_dispatcher *d = new_dispatcher(FLOOD_LIMIT, NULL, NULL);
    ws_dispatcher *quiet = new_dispatcher(0, NULL, NULL);
    char path[128];
    snprintf(path, sizeof path, "/flood?bytes=%lld&size=65536", flood_bytes);
    ws_connect_options o = bound_options(peer_url(path), NULL, new_box(), d);
    o.on_event = flood_event;
    o.ping_interval_ms = 300;
    o.pong_timeout_ms = 300;
    ws_connect_options po = bound_options(peer_url("/ping?after=1000"), NULL, new_box(), quiet);
    po.on_event = flood_event;
    long before = rss_kib();
    int64_t id = ws_connect(&o);
    int64_t ping_id = ws_connect(&po);
    if (!CHECK_GT(id, 0) || !CHECK_GT(ping_id, 0)) return;
    long peak = 0;
    for (int i = 0; i < 20; i++) { /* 2 s without dispatching */
        sleep_ms(100);
        long now = rss_kib();
        if (now > peak) peak = now;
    }
    long grown_kib = peak - before;
    printf("    stalled 2 s, limit %d KiB, server sending %lld MiB: RSS grew by %ld KiB (before %ld KiB)\n",
           FLOOD_LIMIT / 1024, flood_bytes >> 20, grown_kib, before);
    /* The limit, a read pass (1 MiB), the message being assembled, allocator slack: well under
     * 16 MiB; without back-pressure the whole 64 MiB would be queued. */
    if (!g_valgrind) CHECK(grown_kib < 16 * 1024);
    CHECK(pump_until(quiet, ping_done, NULL, WAIT_MS));
    printf("    ping on another task while the host stalled: answered in %d ms\n", g_flood.ping_pong_ms);
    CHECK(g_flood.ping_pong_ms >= 0);
    if (!g_valgrind) CHECK(g_flood.ping_pong_ms < 100);
    CHECK(pump_until(d, flood_done, NULL, 3 * WAIT_MS));
    CHECK_EQ(g_flood.bytes, flood_bytes);
    printf("    the ping behind the flood: answered %d ms after it was sent (after the host dispatched)\n",
           g_flood.done_pong_ms);
    CHECK(g_flood.done_pong_ms >= 0);
    CHECK_EQ(g_flood.errors, 0); /* the heartbeat did not fail the paused task */
    CHECK_EQ(ws_close(id, 1000, NULL, NULL, NULL), WS_OK);
    CHECK_EQ(ws_close(ping_id, 1000, NULL, NULL, NULL), WS_OK);
    int one = 1, two = 2;
    CHECK(pump_until(d, flood_closed, &one, WAIT_MS));
    CHECK(pump_until(quiet, flood_closed, &two, WAIT_MS));
    CHECK_EQ(g_flood.close_code, 1000);
    CHECK_EQ(g_flood.errors, 0);
    CHECK_EQ(atomic_load(&g_wrong_thread), 0);
    CHECK_EQ(ws_dispatcher_free(d), WS_OK);
    CHECK_EQ(ws_dispatcher_free(quiet), WS_OK);
    g_box_count = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Nothing blocks on the dispatcher's thread                                                   */

static struct {
    int64_t listener;
    int off_rc, shutdown_rc, async_rc, nested_rc, other_rc;
    int listener_calls;
    atomic_int returned; /* the calls inside the callback returned */
} g_nb;

static result_box g_done_box;

static void *other_thread_dispatch(void *arg) {
    g_nb.other_rc = (int)ws_dispatch(arg, 0);
    return NULL;
}

static ws_dispatcher *g_nb_dispatcher;

static void nb_listener(const ws_event *e, void *user_data) {
    (void)user_data;
    g_nb.listener_calls++;
    if (e->kind != WS_EVENT_OPEN) return;
    /* Removing the listener that is running: returns at once. */
    g_nb.off_rc = ws_off_event(g_nb.listener);
    g_nb.shutdown_rc = ws_shutdown();
    g_nb.nested_rc = (int)ws_dispatch(g_nb_dispatcher, 0);
    pthread_t t;
    pthread_create(&t, NULL, other_thread_dispatch, g_nb_dispatcher);
    pthread_join(t, NULL);
    g_nb.async_rc = ws_shutdown_async(g_nb_dispatcher, on_bound_result, &g_done_box);
    atomic_store(&g_nb.returned, 1);
}

static void *watchdog(void *arg) {
    (void)arg;
    for (int i = 0; i < WAIT_MS / 10; i++) {
        if (atomic_load(&g_nb.returned)) return NULL;
        sleep_ms(10);
    }
    fprintf(stderr, "test_dispatcher: a call inside a dispatched callback blocked for %d ms\n", WAIT_MS);
    _exit(3);
}

static void case_nothing_blocks_on_the_host_thread(void) {
    memset(&g_nb, 0, sizeof g_nb);
    memset(&g_done_box, 0, sizeof g_done_box);
    atomic_store(&g_wrong_thread, 0);
    ws_dispatcher *d = g_nb_dispatcher = new_dispatcher(0, NULL, NULL);
    task_rec *rec = rec_new("shutdown");
    ws_connect_options o = bound_options(ws_url("/echo"), rec, new_box(), d);
    int64_t id = ws_connect(&o);
    if (!CHECK_GT(id, 0)) return;
    g_nb.listener = ws_on_event(id, nb_listener, NULL);
    CHECK_GT(g_nb.listener, 0);
    pthread_t dog;
    pthread_create(&dog, NULL, watchdog, NULL);
    CHECK(pump_until(d, box_called, &g_done_box, WAIT_MS));
    atomic_store(&g_nb.returned, 1);
    pthread_join(dog, NULL);
    CHECK_EQ(g_nb.off_rc, WS_OK);
    CHECK_EQ(g_nb.shutdown_rc, WS_ERR_WRONG_THREAD);
    CHECK_EQ(g_nb.nested_rc, WS_ERR_WRONG_THREAD);
    CHECK_EQ(g_nb.other_rc, WS_ERR_BUSY);
    CHECK_EQ(g_nb.async_rc, WS_OK);
    CHECK_EQ(g_nb.listener_calls, 1); /* removed: not called with the close */
    /* The close event (1001) ran before the end of the shutdown, both on this thread. */
    CHECK_EQ(rec_get(rec).closes, 1);
    CHECK_CLOSE(rec, 1001, true, "");
    CHECK_STREQ(box_get(&g_done_box).err_msg, "shutdown:ok");
    CHECK_EQ(box_get(&g_done_box).calls, 1);
    CHECK_EQ(atomic_load(&g_wrong_thread), 0);
    CHECK_EQ(ws_dispatcher_free(d), WS_OK);
    CHECK_EQ(ws_shutdown(), WS_OK); /* joins the stopped thread */
    g_box_count = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Freeing, group default, the earlier ws_connect_options                                      */

static void case_free_refused_while_busy(void) {
    ws_dispatcher *d = new_dispatcher(0, NULL, NULL);
    CHECK_EQ(ws_set_group_dispatcher(77, d), WS_OK);
    CHECK_EQ(ws_dispatcher_free(d), WS_ERR_BUSY); /* a group's default */
    task_rec *rec = rec_new("group-default");
    result_box *box = new_box();
    ws_connect_options o = rec_options(ws_url("/echo"), rec, box); /* no dispatcher named */
    o.on_event = on_bound_event;
    o.on_result = on_bound_result;
    o.group = 77;
    int64_t id = ws_connect(&o);
    if (!CHECK_GT(id, 0)) return;
    CHECK_EQ(ws_set_group_dispatcher(77, NULL), WS_OK);
    CHECK(fd_readable(d, WAIT_MS));
    CHECK_EQ(ws_dispatcher_free(d), WS_ERR_BUSY); /* items queued, a task bound */
    CHECK(pump_until(d, rec_has_open_or_close, rec, WAIT_MS));
    CHECK_EQ(rec_get(rec).opens, 1);
    CHECK_EQ(ws_dispatcher_free(d), WS_ERR_BUSY); /* a task bound, not closed */
    CHECK_EQ(ws_close(id, 1000, NULL, NULL, NULL), WS_OK);
    sleep_ms(200); /* closed on the loop, close event queued */
    CHECK_EQ(ws_dispatcher_free(d), WS_ERR_BUSY);
    CHECK(pump_until(d, rec_has_close, rec, WAIT_MS));
    CHECK_EQ(atomic_load(&g_wrong_thread), 0);
    CHECK_EQ(ws_dispatcher_free(d), WS_OK);
    CHECK_EQ(ws_dispatcher_free(d), WS_ERR_INVALID_ARGUMENT); /* freed */
    CHECK_EQ(ws_dispatch(d, 0), WS_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ws_dispatcher_fd(NULL), WS_ERR_INVALID_ARGUMENT);
    /* A freed dispatcher in the options is refused. */
    result_box *refused = new_box();
    ws_connect_options bad = rec_options(ws_url("/echo"), NULL, refused);
    bad.dispatcher = d;
    CHECK_RESULT(refused, ws_connect(&bad), WS_ERR_INVALID_ARGUMENT, "connectSocket:fail ws_connect_options.dispatcher");
    g_box_count = 0;
}

/* A host built against the header before `dispatcher` was appended still connects (no
 * dispatcher: callbacks on the libws thread). */
static void case_earlier_connect_options(void) {
    task_rec *rec = rec_new("old-options");
    result_box *box = new_box();
    ws_connect_options o = rec_options(ws_url("/echo"), rec, box);
    o.struct_size = (uint32_t)offsetof(ws_connect_options, dispatcher);
    o.dispatcher = (ws_dispatcher *)(uintptr_t)1; /* past the declared size: never read */
    int64_t id = ws_connect(&o);
    if (!CHECK_GT(id, 0)) return;
    CHECK(WAIT_OPEN(rec));
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_RESULT(box, WS_OK, WS_OK, "connectSocket:ok");
    g_box_count = 0;
}

int main(void) {
    tests_begin("test_dispatcher");
    g_host = pthread_self();
    const char *preload = getenv("LD_PRELOAD");
    g_valgrind = preload && strstr(preload, "vgpreload");
    if (!peer_start(&g_peer, "peers_dispatcher.py")) return 1;
    RUN_CASE(case_thread_order_once);
    RUN_CASE(case_state_follows_dispatch);
    RUN_CASE(case_fd_and_wake);
    RUN_CASE(case_close_before_open_dispatched_aborts);
    RUN_CASE(case_stalled_host_bounds_memory);
    RUN_CASE(case_free_refused_while_busy);
    RUN_CASE(case_earlier_connect_options);
    RUN_CASE(case_nothing_blocks_on_the_host_thread);
    int rc = tests_end();
    peer_stop(&g_peer);
    return rc;
}
