/* Wake-ups of an idle loop: the libws thread is woken only when it is parked in its poll (a send
 * pushed while it runs is taken before it parks). A send that lands just as the loop parks must
 * still wake it: with no timer armed (no heartbeat), a lost wake-up leaves the message queued
 * forever, and the bounded wait for its echo fails.
 *
 *   - one host thread, ping-pong: each send comes right after the previous echo's callback, while
 *     the loop is finishing its round and about to park (the host's usual pattern), with a few
 *     microseconds of delay on some rounds to hit the other phases;
 *   - four host threads, bursts: all send one to three messages at once, the loop idles until
 *     every echo is back, then the next burst; every echo comes back once, in each thread's order.
 */
#include "common.h"

#define ROUNDS 3000
#define THREADS 4
#define BURSTS 300
#define PER_BURST_MAX 3

static int64_t sock;
static int opens, closes, errors, echoes, echo_bad;
static int last_seq[THREADS + 1]; /* per sender: the last echoed sequence number */

/* "s=<sender> n=<seq>" */
static void on_event(const ws_event *e, void *user_data) {
    (void)user_data;
    pthread_mutex_lock(&g_mu);
    switch (e->kind) {
    case WS_EVENT_OPEN: opens++; break;
    case WS_EVENT_ERROR: errors++; break;
    case WS_EVENT_CLOSE: closes++; break;
    case WS_EVENT_MESSAGE: {
        char text[64];
        size_t n = e->message.len < sizeof text - 1 ? e->message.len : sizeof text - 1;
        memcpy(text, e->message.data, n);
        text[n] = 0;
        int s = -1, seq = -1;
        if (sscanf(text, "s=%d n=%d", &s, &seq) != 2 || s < 0 || s > THREADS || seq != last_seq[s] + 1) {
            echo_bad++;
            break;
        }
        last_seq[s] = seq;
        echoes++;
        break;
    }
    }
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static bool is_open(void *arg) {
    (void)arg;
    return opens + closes > 0;
}
static bool is_closed(void *arg) {
    (void)arg;
    return closes > 0;
}
static int want_echoes;
static bool echoed_all(void *arg) {
    (void)arg;
    return echoes + echo_bad >= want_echoes;
}

static bool send_seq(int sender, int seq) {
    char buf[64];
    int n = snprintf(buf, sizeof buf, "s=%d n=%d", sender, seq);
    return ws_send(sock, (const uint8_t *)buf, (size_t)n, WS_TEXT, NULL, NULL) == WS_OK;
}

static void spin_us(int us) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

static bool open_socket(void) {
    pthread_mutex_lock(&g_mu);
    opens = closes = errors = echoes = echo_bad = want_echoes = 0;
    for (int s = 0; s <= THREADS; s++) last_seq[s] = -1;
    pthread_mutex_unlock(&g_mu);
    static char *url;
    if (!url) url = ws_url("/echo");
    ws_connect_options o;
    ws_connect_options_init(&o);
    o.url = url;
    o.on_event = on_event;
    sock = ws_connect(&o);
    if (!CHECK_GT(sock, 0)) return false;
    return CHECK(wait_for(is_open, NULL)) && CHECK_EQ(ws_ready_state(sock), WS_OPEN);
}

static void close_socket(void) {
    CHECK_EQ(ws_close(sock, 1000, NULL, NULL, NULL), WS_OK);
    CHECK(wait_for(is_closed, NULL));
    pthread_mutex_lock(&g_mu);
    CHECK_EQ(echo_bad, 0);
    CHECK_EQ(errors, 0);
    CHECK_EQ(closes, 1);
    pthread_mutex_unlock(&g_mu);
}

static void case_ping_pong_from_a_host_thread(void) {
    if (!open_socket()) return;
    for (int i = 0; i < ROUNDS; i++) {
        if (i % 4 == 1) spin_us(i % 40);
        if (!CHECK(send_seq(THREADS, i))) break;
        pthread_mutex_lock(&g_mu);
        want_echoes = i + 1;
        pthread_mutex_unlock(&g_mu);
        if (!check_report(wait_for(echoed_all, NULL), __FILE__, __LINE__, "echo %d of %d within %d ms", i, ROUNDS,
                          WAIT_MS))
            break;
    }
    pthread_mutex_lock(&g_mu);
    CHECK_EQ(echoes, ROUNDS);
    pthread_mutex_unlock(&g_mu);
    close_socket();
}

static pthread_barrier_t burst_start, burst_sent;
static atomic_bool stop_bursts;
static atomic_int refused;

static int per_burst(int burst, int t) { return 1 + (burst + t) % PER_BURST_MAX; }

static void *burst_sender(void *arg) {
    int t = (int)(intptr_t)arg, seq = 0;
    for (int b = 0; b < BURSTS; b++) {
        pthread_barrier_wait(&burst_start);
        if (atomic_load(&stop_bursts)) break;
        if ((b + t) % 3 == 0) spin_us((b * 7 + t * 13) % 50);
        for (int k = 0; k < per_burst(b, t); k++)
            if (!send_seq(t, seq++)) atomic_fetch_add(&refused, 1);
        pthread_barrier_wait(&burst_sent);
    }
    return NULL;
}

static void case_bursts_from_threads_while_idle(void) {
    if (!open_socket()) return;
    pthread_t threads[THREADS];
    pthread_barrier_init(&burst_start, NULL, THREADS + 1);
    pthread_barrier_init(&burst_sent, NULL, THREADS + 1);
    atomic_store(&stop_bursts, false);
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, burst_sender, (void *)(intptr_t)t);
    int total = 0;
    for (int b = 0; b < BURSTS; b++) {
        pthread_barrier_wait(&burst_start);
        pthread_barrier_wait(&burst_sent);
        for (int t = 0; t < THREADS; t++) total += per_burst(b, t);
        pthread_mutex_lock(&g_mu);
        want_echoes = total;
        pthread_mutex_unlock(&g_mu);
        /* The loop idles after this: the next burst must wake it. */
        if (!check_report(wait_for(echoed_all, NULL), __FILE__, __LINE__, "burst %d echoed within %d ms", b, WAIT_MS)) {
            atomic_store(&stop_bursts, true);
            if (b + 1 < BURSTS) pthread_barrier_wait(&burst_start);
            break;
        }
    }
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&burst_start);
    pthread_barrier_destroy(&burst_sent);
    CHECK_EQ(atomic_load(&refused), 0);
    pthread_mutex_lock(&g_mu);
    CHECK_EQ(echoes, total);
    pthread_mutex_unlock(&g_mu);
    close_socket();
}

int main(void) {
    tests_begin("test_wakeups");
    RUN_CASE(case_ping_pong_from_a_host_thread);
    RUN_CASE(case_bursts_from_threads_while_idle);
    return tests_end();
}
