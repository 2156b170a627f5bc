/* Concurrency: 8 threads send at once on 5 sockets (500 unique messages each, round-robin over
 * the sockets, text and binary alternating). Every send result is "sendSocketMessage:ok" exactly
 * once, and every message is echoed back exactly once, intact, with its kind, on its own socket
 * (count and checksum per socket), and in the order its thread sent it on that socket.
 */
#include "common.h"

#define THREADS 8
#define PER_THREAD 500
#define SOCKETS 5
#define TOTAL (THREADS * PER_THREAD)

static int64_t sock_id[SOCKETS];

/* Message m (0..TOTAL-1) of thread m / PER_THREAD goes to socket m % SOCKETS. */
static int socket_of(int m) { return m % SOCKETS; }
static uint32_t kind_of(int m) { return m % 2 ? WS_BINARY : WS_TEXT; }

/* "t=<thread> m=<message> " then a filler of 0..63 letters: unique, and different lengths. */
static size_t payload(int m, char *buf, size_t size) {
    int n = snprintf(buf, size, "t=%d m=%d ", m / PER_THREAD, m);
    for (int k = 0; k < m % 64 && (size_t)n + 1 < size; k++) buf[n++] = (char)('a' + (m + k) % 26);
    buf[n] = 0;
    return (size_t)n;
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* ------------------------------------------------------------------------------------------ */
/* What the libws thread saw (all guarded by g_mu).                                             */

static int send_ok[TOTAL];  /* "sendSocketMessage:ok" results per message */
static int send_bad;        /* any other result, or one for the wrong task */
static int echoed[TOTAL];   /* echoes per message */
static int echoes_total;
static int echo_bad;        /* unparsable, altered, wrong kind, or on the wrong socket */
static int echo_out_of_order;
static int last_seen[SOCKETS][THREADS];
static int sock_count[SOCKETS];
static uint64_t sock_sum[SOCKETS];
static int sock_opens[SOCKETS], sock_closes[SOCKETS], sock_errors[SOCKETS], sock_clean[SOCKETS];

static void on_send_result(const ws_result *r, void *user_data) {
    int m = (int)(intptr_t)user_data;
    bool ok = r->code == WS_OK && r->err_msg && strcmp(r->err_msg, "sendSocketMessage:ok") == 0 &&
              r->task_id == sock_id[socket_of(m)];
    pthread_mutex_lock(&g_mu);
    if (ok) send_ok[m]++;
    else send_bad++;
    pthread_mutex_unlock(&g_mu);
}

static void on_socket_event(const ws_event *e, void *user_data) {
    int s = (int)(intptr_t)user_data;
    pthread_mutex_lock(&g_mu);
    switch (e->kind) {
    case WS_EVENT_OPEN: sock_opens[s]++; break;
    case WS_EVENT_ERROR: sock_errors[s]++; break;
    case WS_EVENT_CLOSE:
        sock_closes[s]++;
        sock_clean[s] = e->close.was_clean && e->close.code == 1000;
        break;
    case WS_EVENT_MESSAGE: {
        char text[128], want[128];
        size_t n = e->message.len < sizeof text - 1 ? e->message.len : sizeof text - 1;
        memcpy(text, e->message.data, n);
        text[n] = 0;
        int t = -1, m = -1;
        if (sscanf(text, "t=%d m=%d", &t, &m) != 2 || m < 0 || m >= TOTAL || t != m / PER_THREAD) {
            echo_bad++;
            break;
        }
        size_t len = payload(m, want, sizeof want);
        if (len != e->message.len || memcmp(want, e->message.data, len) != 0 || e->message.kind != kind_of(m) ||
            socket_of(m) != s) {
            echo_bad++;
            break;
        }
        echoed[m]++;
        echoes_total++;
        /* One thread's messages on one socket were sent in order, so they come back in order. */
        if (m <= last_seen[s][t]) echo_out_of_order++;
        last_seen[s][t] = m;
        sock_count[s]++;
        sock_sum[s] += fnv1a(e->message.data, e->message.len);
        break;
    }
    }
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* ------------------------------------------------------------------------------------------ */

static pthread_barrier_t start_line;
static atomic_int send_refused;

static void *sender(void *arg) {
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&start_line); /* all threads send at the same time */
    for (int i = 0; i < PER_THREAD; i++) {
        int m = t * PER_THREAD + i;
        char buf[128];
        size_t n = payload(m, buf, sizeof buf);
        int32_t rc = ws_send(sock_id[socket_of(m)], (const uint8_t *)buf, n, kind_of(m), on_send_result,
                             (void *)(intptr_t)m);
        if (rc != WS_OK) atomic_fetch_add(&send_refused, 1);
    }
    return NULL;
}

static bool all_echoed(void *arg) {
    (void)arg;
    return echoes_total + echo_bad >= TOTAL;
}
static bool all_open(void *arg) {
    (void)arg;
    for (int s = 0; s < SOCKETS; s++)
        if (sock_opens[s] + sock_closes[s] == 0) return false;
    return true;
}
static bool all_closed(void *arg) {
    (void)arg;
    for (int s = 0; s < SOCKETS; s++)
        if (sock_closes[s] == 0) return false;
    return true;
}

static void case_eight_threads_five_sockets(void) {
    for (int s = 0; s < SOCKETS; s++)
        for (int t = 0; t < THREADS; t++) last_seen[s][t] = -1;
    for (int s = 0; s < SOCKETS; s++) {
        result_box *box = calloc(1, sizeof *box);
        ws_connect_options o = rec_options(ws_url("/echo"), NULL, box);
        o.on_event = on_socket_event;
        o.event_user_data = (void *)(intptr_t)s;
        o.group = 900;
        int64_t id = ws_connect(&o);
        pthread_mutex_lock(&g_mu);
        sock_id[s] = id; /* set before any send; results only come for sends */
        pthread_mutex_unlock(&g_mu);
        CHECK_RESULT(box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok");
    }
    CHECK(wait_for(all_open, NULL));
    for (int s = 0; s < SOCKETS; s++) {
        if (!CHECK_EQ(ws_ready_state(sock_id[s]), WS_OPEN)) return;
    }

    pthread_t threads[THREADS];
    pthread_barrier_init(&start_line, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, sender, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&start_line);
    CHECK_EQ(atomic_load(&send_refused), 0);

    CHECK(wait_for_ms(all_echoed, NULL, 6 * WAIT_MS));

    /* What each socket must have echoed: computed from the round-robin assignment. */
    int want_count[SOCKETS] = {0};
    uint64_t want_sum[SOCKETS] = {0};
    for (int m = 0; m < TOTAL; m++) {
        char buf[128];
        size_t n = payload(m, buf, sizeof buf);
        want_count[socket_of(m)]++;
        want_sum[socket_of(m)] += fnv1a((const uint8_t *)buf, n);
    }

    /* Close all; the close events come after every pending send result. */
    for (int s = 0; s < SOCKETS; s++) CHECK_EQ(ws_close(sock_id[s], 1000, NULL, NULL, NULL), WS_OK);
    CHECK(wait_for(all_closed, NULL));

    pthread_mutex_lock(&g_mu);
    int sends_not_once = 0, echoes_not_once = 0;
    for (int m = 0; m < TOTAL; m++) {
        sends_not_once += send_ok[m] != 1;
        echoes_not_once += echoed[m] != 1;
    }
    CHECK_EQ(sends_not_once, 0);
    CHECK_EQ(send_bad, 0);
    CHECK_EQ(echoes_not_once, 0);
    CHECK_EQ(echo_bad, 0);
    CHECK_EQ(echo_out_of_order, 0);
    CHECK_EQ(echoes_total, TOTAL);
    for (int s = 0; s < SOCKETS; s++) {
        CHECK_EQ(sock_count[s], want_count[s]);
        CHECK(sock_sum[s] == want_sum[s]);
        CHECK_EQ(sock_opens[s], 1);
        CHECK_EQ(sock_errors[s], 0);
        CHECK_EQ(sock_closes[s], 1);
        CHECK(sock_clean[s]);
    }
    pthread_mutex_unlock(&g_mu);
}

int main(void) {
    tests_begin("test_threads");
    RUN_CASE(case_eight_threads_five_sockets);
    return tests_end();
}
