/* libwebsockets' C client (Debian's libwebsockets-dev), the way its documentation says to use it:
 * one lws_context serviced on one thread, writes from LWS_CALLBACK_CLIENT_WRITEABLE (several per
 * callback while lws_partial_buffered() says the last one was not buffered), messages received
 * in fragments through LWS_CALLBACK_CLIENT_RECEIVE and checked as they come.
 *
 * Tuning a C host would do: rx_buffer_size and pt_serv_buf_size 64 KiB (defaults are 4 KiB),
 * tx_packet_size as large as a message, so lws makes one send() per message. lws sets
 * TCP_NODELAY itself.
 *
 * Modes: latency | throughput (as the other drivers). Prints one RESULT line.
 *
 * --path host: the host's path. The main thread (the "host thread") builds every message into
 * a per-connection ring of --window slots, counts it as queued and calls lws_cancel_service()
 * to wake the service thread, which lws_service()s the context: on
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED it asks for LWS_CALLBACK_CLIENT_WRITEABLE on every
 * connection with queued messages and writes them there. The receive callback checks each echo
 * and hands it back to the host thread (mutex + condition variable).
 *
 * --mode open: one context, --warmup + --count connections one after another, each timed from
 * lws_client_connect_via_info to LWS_CALLBACK_CLIENT_ESTABLISHED, then closed with a close frame.
 * wss:// connections are all full handshakes: libwebsockets 4.1.6 keeps no client TLS sessions
 * (its client session cache, LWS_WITH_TLS_SESSIONS, came with 4.2), so there is no --resume 1.
 * Build: cc -O2 bench/c/lws_driver.c -lwebsockets
 */
#include "common.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct conn {
    struct lws *wsi;
    uint64_t sent, recv;
    size_t rx_off;
    uint64_t queued;    /* host path: messages the host thread queued (under mu) */
    uint8_t *ring;      /* host path: --window slots of LWS_PRE + size; slot = seq % window */
} conn;

static bench_args A;
static int is_latency;
static uint8_t *base;
static uint8_t *txbuf;  /* LWS_PRE + size; lws masks in place, so it is refilled per write */
static conn *conns;
static int opened, finished, failed;
static int phase;
static uint64_t phase_to;
static int conns_done;
static double t_start, t_end, cpu_start, cpu_end, t_sent;
static double *samples;

/* Host path. */
static int host_path;
static struct lws_context *ctx;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_int stop;         /* the host thread is done: the service thread ends */
static int service_over;        /* the service thread has ended (under mu) */

static uint8_t *slot(conn *c, uint64_t seq) {
    return c->ring + (seq % A.window) * (LWS_PRE + A.size) + LWS_PRE;
}

/* Service thread: writes the messages the host thread queued, while lws takes them whole. */
static int host_write(conn *c) {
    pthread_mutex_lock(&mu);
    uint64_t queued = c->queued;
    pthread_mutex_unlock(&mu);
    while (c->sent < queued) {
        int n = lws_write(c->wsi, slot(c, c->sent), A.size, LWS_WRITE_BINARY);
        if (n < (int)A.size) {
            fprintf(stderr, "error: lws_write returned %d\n", n);
            failed = 1;
            return -1;
        }
        c->sent++;
        if (lws_partial_buffered(c->wsi)) {
            lws_callback_on_writable(c->wsi);
            break;
        }
    }
    return 0;
}

/* Service thread: the host thread called lws_cancel_service(). */
static void host_woken(void) {
    for (int i = 0; i < A.conns; i++) {
        conn *c = &conns[i];
        if (!c->wsi) continue;
        pthread_mutex_lock(&mu);
        int pending = c->queued > c->sent;
        pthread_mutex_unlock(&mu);
        if (pending) lws_callback_on_writable(c->wsi);
    }
}

static void start_phase(int p) {
    phase = p;
    phase_to = p == 0 ? A.warmup : A.warmup + A.count;
    conns_done = 0;
    if (p == 1) {
        t_start = now_s();
        cpu_start = cpu_s();
    }
    for (int i = 0; i < A.conns; i++) lws_callback_on_writable(conns[i].wsi);
}

static int write_one(conn *c, uint64_t seq) {
    pattern_fill(base, A.size, seq, txbuf + LWS_PRE);
    int n = lws_write(c->wsi, txbuf + LWS_PRE, A.size, LWS_WRITE_BINARY);
    if (n < (int)A.size) {
        fprintf(stderr, "error: lws_write returned %d\n", n);
        failed = 1;
        return -1;
    }
    c->sent++;
    return 0;
}

static void message_done(conn *c) {
    if (host_path) {
        /* hand the echo back to the host thread */
        pthread_mutex_lock(&mu);
        c->recv++;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        return;
    }
    uint64_t seq = c->recv++;
    if (is_latency) {
        double now = now_s();
        if (seq >= A.warmup) samples[seq - A.warmup] = (now - t_sent) * 1e6;
        if (c->recv == A.warmup) cpu_start = cpu_s();
        if (c->recv == A.warmup + A.count) {
            cpu_end = cpu_s();
            finished = 1;
        } else {
            lws_callback_on_writable(c->wsi);
        }
        return;
    }
    if (c->recv == phase_to) {
        if (++conns_done == A.conns) {
            if (phase == 0) {
                start_phase(1);
            } else {
                t_end = now_s();
                cpu_end = cpu_s();
                finished = 1;
            }
        }
    } else if (c->sent < phase_to) {
        lws_callback_on_writable(c->wsi);
    }
}

/* ---- time to open (--mode open) ---- */

static int is_open;
static int open_state; /* 0 connecting, 1 open (closing), 2 closed */
static double open_at;

static int open_callback(struct lws *wsi, enum lws_callback_reasons reason, void *in) {
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        open_at = now_s();
        open_state = 1;
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1; /* sends the close frame */
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "error: connection failed: %s\n", in ? (const char *)in : "(no detail)");
        failed = 1;
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (open_state != 1) failed = 1;
        open_state = 2;
        break;
    default:
        break;
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
    (void)user;
    if (is_open) return open_callback(wsi, reason, in);
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        if (host_path) host_woken();
        return 0;
    }
    conn *c = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->wsi = wsi;
        if (host_path) {
            pthread_mutex_lock(&mu);
            opened++;
            pthread_cond_broadcast(&cv);
            pthread_mutex_unlock(&mu);
            break;
        }
        if (++opened == A.conns) {
            if (is_latency) lws_callback_on_writable(wsi);
            else start_phase(0);
        }
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (host_path) return host_write(c);
        if (finished) break;
        if (is_latency) {
            if (c->sent == c->recv && c->sent < A.warmup + A.count) {
                t_sent = now_s();
                if (write_one(c, c->sent)) return -1;
            }
            break;
        }
        while (c->sent < phase_to && c->sent - c->recv < A.window) {
            if (write_one(c, c->sent)) return -1;
            if (lws_partial_buffered(wsi)) {
                /* lws holds the rest of that message: go on when it is written */
                lws_callback_on_writable(wsi);
                break;
            }
        }
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (pattern_check_part(base, A.size, c->recv, c->rx_off, in, len)) {
            fprintf(stderr, "error: bad echo of message %llu at offset %zu\n", (unsigned long long)c->recv, c->rx_off);
            failed = 1;
            return -1;
        }
        c->rx_off += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            if (c->rx_off != A.size) {
                fprintf(stderr, "error: echo of %zu bytes, expected %zu\n", c->rx_off, A.size);
                failed = 1;
                return -1;
            }
            c->rx_off = 0;
            message_done(c);
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "error: connection failed: %s\n", in ? (const char *)in : "(no detail)");
        failed = 1;
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (!finished && !atomic_load(&stop)) {
            fprintf(stderr, "error: connection closed early\n");
            failed = 1;
        }
        break;
    default:
        break;
    }
    return 0;
}

/* Host path: the service thread. */
static void *service(void *arg) {
    (void)arg;
    while (!atomic_load(&stop) && !failed)
        if (lws_service(ctx, 0) < 0) failed = 1;
    pthread_mutex_lock(&mu);
    service_over = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* Host thread: waits (mu held) for the service thread to move; dies if it failed or ended. */
static void host_wait(double deadline) {
    if (service_over || failed) die("the lws client failed");
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    double left = deadline - now_s();
    if (left <= 0) die("timed out");
    dl.tv_sec += (time_t)left + 1;
    pthread_cond_timedwait(&cv, &mu, &dl);
}

/* Host thread: queues messages up to `to` on every connection while the window allows, wakes
 * the service thread, waits for echoes; returns when every echo below `to` came back. */
static void host_phase(uint64_t to, double deadline) {
    pthread_mutex_lock(&mu);
    for (;;) {
        int all_done = 1, queued = 0;
        for (int i = 0; i < A.conns; i++) {
            conn *c = &conns[i];
            while (c->queued < to && c->queued - c->recv < A.window) {
                uint64_t seq = c->queued;
                pthread_mutex_unlock(&mu);
                pattern_fill(base, A.size, seq, slot(c, seq));
                pthread_mutex_lock(&mu);
                c->queued++;
                queued = 1;
            }
            if (c->recv < to) all_done = 0;
        }
        if (all_done) break;
        if (queued) {
            pthread_mutex_unlock(&mu);
            lws_cancel_service(ctx);
            pthread_mutex_lock(&mu);
            continue;
        }
        host_wait(deadline);
    }
    pthread_mutex_unlock(&mu);
}

static void run_host(void) {
    double deadline = now_s() + A.timeout_s;
    for (int i = 0; i < A.conns; i++) conns[i].ring = malloc(A.window * (LWS_PRE + A.size));
    pthread_t t;
    if (pthread_create(&t, NULL, service, NULL)) die("pthread_create");
    pthread_mutex_lock(&mu);
    while (opened < A.conns) host_wait(deadline);
    pthread_mutex_unlock(&mu);
    if (is_latency) {
        conn *c = &conns[0];
        for (uint64_t seq = 0; seq < A.warmup + A.count; seq++) {
            if (seq == A.warmup) cpu_start = cpu_s();
            double t0 = now_s();
            host_phase(seq + 1, deadline);
            double dt = now_s() - t0;
            if (seq >= A.warmup) samples[seq - A.warmup] = dt * 1e6;
        }
        (void)c;
        cpu_end = cpu_s();
    } else {
        host_phase(A.warmup, deadline);
        t_start = now_s();
        cpu_start = cpu_s();
        host_phase(A.warmup + A.count, deadline);
        t_end = now_s();
        cpu_end = cpu_s();
    }
    atomic_store(&stop, 1);
    lws_cancel_service(ctx);
    pthread_join(t, NULL);
    if (failed) die("the lws client failed");
    if (is_latency) print_latency(samples, A.count, cpu_end - cpu_start);
    else print_throughput(A.count * A.conns, A.size, t_end - t_start, cpu_end - cpu_start);
    lws_context_destroy(ctx);
}

static void run_open(struct lws_context *ctx, struct lws_client_connect_info *ci) {
    double *open_samples = calloc(A.count, sizeof *open_samples);
    for (uint64_t i = 0; i < A.warmup + A.count; i++) {
        struct lws *wsi = NULL;
        ci->pwsi = &wsi;
        open_state = 0;
        double t0 = now_s(), deadline = t0 + A.timeout_s;
        if (!lws_client_connect_via_info(ci)) die("lws_client_connect_via_info failed");
        while (open_state != 2 && !failed) {
            if (lws_service(ctx, 0) < 0) failed = 1;
            if (now_s() > deadline) die("timed out");
        }
        if (failed) die("the lws client failed");
        if (i >= A.warmup) open_samples[i - A.warmup] = (open_at - t0) * 1e6;
    }
    print_open(open_samples, A.count);
}

int main(int argc, char **argv) {
    parse_args(argc, argv, &A);
    watchdog(A.timeout_s + 30);
    is_latency = !strcmp(A.mode, "latency");
    host_path = !strcmp(A.path, "host");
    if (!host_path && strcmp(A.path, "cb")) die("lws driver: --path cb|host");
    is_open = !strcmp(A.mode, "open");
    if (is_latency || is_open) A.conns = 1;
    else if (strcmp(A.mode, "throughput")) die("lws driver: --mode latency|throughput|open");
    if (is_open && A.resume) die("lws driver: libwebsockets 4.1.6 keeps no client TLS sessions (no --resume 1)");
    raise_nofile();
    lws_set_log_level(LLL_ERR, NULL);

    /* ws://host:port/path or wss://... */
    int tls = !strncmp(A.url, "wss://", 6);
    const char *hp = strstr(A.url, "://");
    if (!hp) die("bad --url");
    hp += 3;
    static char host[256];
    const char *colon = strchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof host) die("--url needs host:port");
    memcpy(host, hp, colon - hp);
    int port = atoi(colon + 1);
    const char *path = strchr(colon, '/');
    if (!path) path = "/";

    size_t bufsz = 64 * 1024;
    struct lws_protocols protocols[] = {
        {"bench", callback, 0, bufsz, 0, NULL, (A.size > bufsz ? A.size : bufsz) + 64},
        {NULL, NULL, 0, 0, 0, NULL, 0},
    };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.pt_serv_buf_size = (unsigned int)bufsz;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (A.ca) info.client_ssl_ca_filepath = A.ca;
    ctx = lws_create_context(&info);
    if (!ctx) die("lws_create_context failed");

    base = pattern_bytes(A.size);
    txbuf = malloc(LWS_PRE + A.size);
    conns = calloc(A.conns, sizeof *conns);
    if (is_latency) samples = calloc(A.count, sizeof *samples);

    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = host;
    ci.port = port;
    ci.path = path;
    ci.host = host;
    ci.origin = host;
    ci.local_protocol_name = "bench";
    if (tls) ci.ssl_connection = LCCSCF_USE_SSL | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
    if (is_open) {
        run_open(ctx, &ci);
        lws_context_destroy(ctx);
        return 0;
    }
    for (int i = 0; i < A.conns; i++) {
        ci.opaque_user_data = &conns[i];
        ci.pwsi = &conns[i].wsi;
        if (!lws_client_connect_via_info(&ci)) die("lws_client_connect_via_info failed");
    }

    if (host_path) {
        run_host();
        return 0;
    }
    double deadline = now_s() + A.timeout_s;
    while (!finished && !failed) {
        if (lws_service(ctx, 0) < 0) { failed = 1; break; }
        if (now_s() > deadline) die("timed out");
    }
    if (failed) die("the lws client failed");
    if (is_latency) print_latency(samples, A.count, cpu_end - cpu_start);
    else print_throughput(A.count * A.conns, A.size, t_end - t_start, cpu_end - cpu_start);
    lws_context_destroy(ctx);
    return 0;
}
