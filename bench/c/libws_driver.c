/* libws through its C API.
 *
 *   --path cb        every ws_send is made from the event callback (on the libws thread)
 *   --path thread    the host's path with plain callbacks: every ws_send is made from the main
 *                    thread (the "host thread"); the event callback, on the libws thread, checks
 *                    and counts each echo and hands it back to the main thread (mutex +
 *                    condition variable)
 *   --path dispatch  the host's path with the dispatcher: the tasks are bound to a dispatcher
 *                    (ws_dispatcher_new); the main thread polls ws_dispatcher_fd, runs the events
 *                    with ws_dispatch (so the event callback runs on the main thread) and makes
 *                    every ws_send, as a JavaScript host's thread would
 *
 * Modes:
 *   latency     one connection, one message in flight, RTT per message
 *   throughput  --conns connections, up to --window messages in flight on each
 *   idle        --conns idle connections held open by one runtime: RSS growth per connection
 *               and the CPU the runtime uses while idle (--ca-mode runtime|task for wss://)
 *   open        time to open: --warmup + --count connections one after another, each timed
 *               from ws_connect to its open event, then closed (see run_open)
 *
 * Every echo is checked (length, sequence number, content). Prints one RESULT line; throughput
 * runs add the bytes TCP carried each way per measured message (wire_out_per_msg,
 * wire_in_per_msg, from TCP_INFO's tcpi_bytes_acked / tcpi_bytes_received of each socket, which
 * the on_socket hook hands over).
 *
 * Compression rows: --corpus FILE sends text messages, the lines of FILE (JSON-like, each exactly
 * --size bytes; message seq is line seq % lines with seq as 10 digits over bytes 8..18), and
 * --deflate 1 offers permessage-deflate (ws_connect_options.per_message_deflate); the open event
 * must say compressed exactly when it was asked for.
 * Build: cc -O2 -Iinclude bench/c/libws_driver.c target/release/libws.a -pthread -ldl -lm
 */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "libws.h"

typedef struct conn {
    int64_t id;
    uint64_t sent, recv;
    int done;
    int fd;                     /* from the on_socket hook */
} conn;

static bench_args A;
static int thread_path, dispatch_path, is_latency, is_idle;
static ws_dispatcher *disp;     /* --path dispatch */
static uint8_t *base;           /* the pattern */
static uint8_t *loop_buf;       /* message being built on the libws thread */
static uint8_t *main_buf;       /* ... on the main thread */
static conn *conns;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int opened, closed, errors;
static int finished;            /* the measured phase is over (cb path) */

/* Throughput phases: [0, warmup) then [warmup, warmup+count) on every connection. */
static int phase;               /* 0 warm-up, 1 measured */
static uint64_t phase_to;
static int conns_done;
static double t_start, t_end, cpu_start, cpu_end;

/* Compression rows. */
static uint8_t **corpus;        /* lines, each A.size bytes */
static size_t corpus_n;
static int want_deflate;
static uint64_t wire_out0, wire_in0, wire_out1, wire_in1;

/* Bytes TCP carried out (acked by the peer) and in, summed over the connections' sockets. */
static void wire_bytes(uint64_t *out, uint64_t *in) {
    *out = *in = 0;
    for (int i = 0; i < A.conns; i++) {
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        memset(&ti, 0, sizeof ti);
        if (conns[i].fd <= 0 || getsockopt(conns[i].fd, IPPROTO_TCP, TCP_INFO, &ti, &len)) continue;
        *out += ti.tcpi_bytes_acked;
        *in += ti.tcpi_bytes_received;
    }
}

/* Latency. */
static double *samples;
static double t_sent;

static void fail(const char *what, int code) {
    fprintf(stderr, "error: %s: %d %s\n", what, code, ws_strerror(code));
    fflush(stderr);
    _exit(2);
}

static void corpus_fill(uint64_t seq, uint8_t *buf) {
    char digits[16];
    memcpy(buf, corpus[seq % corpus_n], A.size);
    snprintf(digits, sizeof digits, "%010llu", (unsigned long long)(seq % 10000000000ull));
    memcpy(buf + 8, digits, 10);
}

static int corpus_check(uint64_t seq, const uint8_t *data, size_t len) {
    char digits[16];
    const uint8_t *want = corpus[seq % corpus_n];
    if (len != A.size) return -1;
    snprintf(digits, sizeof digits, "%010llu", (unsigned long long)(seq % 10000000000ull));
    if (memcmp(data + 8, digits, 10)) return -2;
    if (memcmp(data, want, 8) || memcmp(data + 18, want + 18, A.size - 18)) return -3;
    return 0;
}

static void send_seq(conn *c, uint64_t seq, uint8_t *buf) {
    if (corpus) corpus_fill(seq, buf);
    else pattern_fill(base, A.size, seq, buf);
    int32_t rc = ws_send(c->id, buf, A.size, corpus ? WS_TEXT : WS_BINARY, NULL, NULL);
    if (rc != WS_OK) fail("ws_send", rc);
}

/* cb path: send while the window and the phase allow. */
static void pump(conn *c) {
    while (c->sent < phase_to && c->sent - c->recv < A.window) {
        send_seq(c, c->sent, loop_buf);
        c->sent++;
    }
}

static void start_phase(int p) {
    phase = p;
    phase_to = p == 0 ? A.warmup : A.warmup + A.count;
    conns_done = 0;
    for (int i = 0; i < A.conns; i++) conns[i].done = 0;
    if (p == 1) {
        wire_bytes(&wire_out0, &wire_in0);
        t_start = now_s();
        cpu_start = cpu_s();
    }
    for (int i = 0; i < A.conns; i++) pump(&conns[i]);
}

static void on_event(const ws_event *e, void *ud) {
    conn *c = ud;
    switch (e->kind) {
    case WS_EVENT_OPEN:
        pthread_mutex_lock(&mu);
        c->id = e->task_id; /* the open may run before ws_connect has returned the id */
        if (corpus && e->open.compressed != (want_deflate != 0)) {
            fprintf(stderr, "error: permessage-deflate %s, asked %d (extensions \"%s\")\n",
                    e->open.compressed ? "in effect" : "not in effect", want_deflate, e->open.extensions);
            _exit(2);
        }
        opened++;
        int all = opened == A.conns;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        if (!thread_path && !dispatch_path && all && !is_idle) {
            if (is_latency) {
                t_sent = now_s();
                send_seq(c, 0, loop_buf);
                c->sent = 1;
            } else {
                start_phase(0);
            }
        }
        break;
    case WS_EVENT_MESSAGE: {
        uint64_t seq = c->recv;
        if (corpus ? (e->message.kind != WS_TEXT || corpus_check(seq, e->message.data, e->message.len))
                   : pattern_check(base, A.size, seq, e->message.data, e->message.len)) {
            fprintf(stderr, "error: bad echo of message %llu (%zu bytes)\n", (unsigned long long)seq, e->message.len);
            _exit(2);
        }
        if (dispatch_path) {
            /* on the host thread, inside ws_dispatch: nothing to hand back */
            c->recv++;
            break;
        }
        if (is_latency) {
            double now = now_s();
            if (thread_path) {
                pthread_mutex_lock(&mu);
                c->recv++;
                pthread_cond_signal(&cv);
                pthread_mutex_unlock(&mu);
                break;
            }
            c->recv++;
            if (seq >= A.warmup) samples[seq - A.warmup] = (now - t_sent) * 1e6;
            uint64_t total = A.warmup + A.count;
            if (c->recv == A.warmup) cpu_start = cpu_s();
            if (c->recv < total) {
                t_sent = now_s();
                send_seq(c, c->recv, loop_buf);
                c->sent++;
            } else {
                cpu_end = cpu_s();
                pthread_mutex_lock(&mu);
                finished = 1;
                pthread_cond_signal(&cv);
                pthread_mutex_unlock(&mu);
            }
            break;
        }
        if (thread_path) {
            pthread_mutex_lock(&mu);
            c->recv++;
            pthread_cond_signal(&cv);
            pthread_mutex_unlock(&mu);
            break;
        }
        c->recv++;
        if (c->recv == phase_to) {
            c->done = 1;
            if (++conns_done == A.conns) {
                if (phase == 0) {
                    start_phase(1);
                } else {
                    t_end = now_s();
                    cpu_end = cpu_s();
                    wire_bytes(&wire_out1, &wire_in1);
                    pthread_mutex_lock(&mu);
                    finished = 1;
                    pthread_cond_signal(&cv);
                    pthread_mutex_unlock(&mu);
                }
            }
        } else {
            pump(c);
        }
        break;
    }
    case WS_EVENT_ERROR:
        fprintf(stderr, "error event on task %lld: %s\n", (long long)e->task_id, e->error.err_msg);
        pthread_mutex_lock(&mu);
        errors++;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        break;
    case WS_EVENT_CLOSE:
        pthread_mutex_lock(&mu);
        closed++;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        break;
    }
}

static uint8_t *ca_pem;
static size_t ca_pem_len;
static int ca_per_task;

static int32_t on_socket(int64_t task_id, int32_t fd, void *ud) {
    (void)task_id;
    ((conn *)ud)->fd = fd;
    return 0;
}

static int64_t connect_one(conn *c) {
    ws_connect_options o;
    ws_connect_options_init(&o);
    o.url = A.url;
    o.tcp_no_delay = true;
    o.on_event = on_event;
    o.event_user_data = c;
    o.on_socket = on_socket;
    o.socket_user_data = c;
    o.per_message_deflate = want_deflate != 0;
    o.dispatcher = disp;
    if (ca_pem && ca_per_task) {
        o.ca_pem = ca_pem;
        o.ca_pem_len = ca_pem_len;
    }
    int64_t id = ws_connect(&o);
    if (id <= 0) fail("ws_connect", (int)id);
    return id;
}

/* Waits (mutex held) until cond() or the deadline; dies on an error event. */
#define WAIT_UNTIL(cond, what)                                                           \
    do {                                                                                 \
        struct timespec dl;                                                              \
        clock_gettime(CLOCK_REALTIME, &dl);                                              \
        dl.tv_sec += A.timeout_s;                                                        \
        while (!(cond)) {                                                                \
            if (errors) die("connection failed while waiting for " what);               \
            if (pthread_cond_timedwait(&cv, &mu, &dl)) die("timed out waiting for " what); \
        }                                                                                \
    } while (0)

/* dispatch path: the host thread's loop. Waits for the dispatcher's fd, runs what is queued
 * (the event callback, on this thread) until done(arg); dies on an error event or the deadline. */
static void dispatch_until(int (*done)(void *), void *arg, const char *what) {
    double deadline = now_s() + A.timeout_s;
    int fd = ws_dispatcher_fd(disp);
    while (!done(arg)) {
        if (errors) die("connection failed");
        if (now_s() > deadline) { fprintf(stderr, "waiting for %s: ", what); die("timed out"); }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 100);
        int64_t n = ws_dispatch(disp, 0);
        if (n < 0) fail("ws_dispatch", (int)n);
    }
}

static int all_open(void *arg) { (void)arg; return opened == A.conns; }
static int echo_back(void *arg) { conn *c = arg; return c->recv >= c->sent; }

static void dispatch_latency(conn *c) {
    dispatch_until(all_open, NULL, "open");
    for (uint64_t seq = 0; seq < A.warmup + A.count; seq++) {
        if (seq == A.warmup) cpu_start = cpu_s();
        double t0 = now_s();
        send_seq(c, seq, main_buf);
        c->sent++;
        dispatch_until(echo_back, c, "an echo");
        double dt = now_s() - t0;
        if (seq >= A.warmup) samples[seq - A.warmup] = dt * 1e6;
    }
    cpu_end = cpu_s();
}

/* dispatch path: one phase; this thread sends for every connection while the window allows,
 * then dispatches the echoes that came. */
static int phase_sent_and_echoed(void *arg) {
    uint64_t to = *(uint64_t *)arg;
    int all_done = 1;
    for (int i = 0; i < A.conns; i++) {
        conn *c = &conns[i];
        while (c->sent < to && c->sent - c->recv < A.window) {
            send_seq(c, c->sent, main_buf);
            c->sent++;
        }
        if (c->recv < to) all_done = 0;
    }
    return all_done;
}

static void dispatch_throughput(void) {
    dispatch_until(all_open, NULL, "open");
    uint64_t to = A.warmup;
    dispatch_until(phase_sent_and_echoed, &to, "the warm-up echoes");
    wire_bytes(&wire_out0, &wire_in0);
    t_start = now_s();
    cpu_start = cpu_s();
    to = A.warmup + A.count;
    dispatch_until(phase_sent_and_echoed, &to, "the echoes");
    t_end = now_s();
    cpu_end = cpu_s();
    wire_bytes(&wire_out1, &wire_in1);
}

static void run_latency(void) {
    samples = calloc(A.count, sizeof *samples);
    conn *c = &conns[0];
    connect_one(c);
    if (dispatch_path) {
        dispatch_latency(c);
        print_latency(samples, A.count, cpu_end - cpu_start);
        return;
    }
    pthread_mutex_lock(&mu);
    if (!thread_path) {
        WAIT_UNTIL(finished, "the echoes");
        pthread_mutex_unlock(&mu);
    } else {
        WAIT_UNTIL(opened == 1, "open");
        pthread_mutex_unlock(&mu);
        for (uint64_t seq = 0; seq < A.warmup + A.count; seq++) {
            if (seq == A.warmup) cpu_start = cpu_s();
            double t0 = now_s();
            send_seq(c, seq, main_buf);
            pthread_mutex_lock(&mu);
            WAIT_UNTIL(c->recv > seq, "an echo");
            pthread_mutex_unlock(&mu);
            double dt = now_s() - t0;
            if (seq >= A.warmup) samples[seq - A.warmup] = dt * 1e6;
        }
        cpu_end = cpu_s();
    }
    print_latency(samples, A.count, cpu_end - cpu_start);
}

/* thread path: one phase, sending from this thread for every connection. */
static void thread_phase(uint64_t to) {
    pthread_mutex_lock(&mu);
    for (;;) {
        int all_done = 1, progressed = 0;
        for (int i = 0; i < A.conns; i++) {
            conn *c = &conns[i];
            if (c->recv < to) all_done = 0;
            while (c->sent < to && c->sent - c->recv < A.window) {
                uint64_t seq = c->sent++;
                pthread_mutex_unlock(&mu);
                send_seq(c, seq, main_buf);
                pthread_mutex_lock(&mu);
                progressed = 1;
            }
        }
        if (all_done) break;
        if (!progressed) {
            /* nothing to send: wait for an echo */
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += A.timeout_s;
            if (errors) die("connection failed");
            if (pthread_cond_timedwait(&cv, &mu, &dl)) die("timed out waiting for echoes");
        }
    }
    pthread_mutex_unlock(&mu);
}

static void run_throughput(void) {
    for (int i = 0; i < A.conns; i++) connect_one(&conns[i]);
    pthread_mutex_lock(&mu);
    if (dispatch_path) {
        pthread_mutex_unlock(&mu);
        dispatch_throughput();
    } else if (!thread_path) {
        WAIT_UNTIL(finished, "the echoes");
        pthread_mutex_unlock(&mu);
    } else {
        WAIT_UNTIL(opened == A.conns, "open");
        pthread_mutex_unlock(&mu);
        thread_phase(A.warmup);
        wire_bytes(&wire_out0, &wire_in0);
        t_start = now_s();
        cpu_start = cpu_s();
        thread_phase(A.warmup + A.count);
        t_end = now_s();
        cpu_end = cpu_s();
        wire_bytes(&wire_out1, &wire_in1);
    }
    uint64_t msgs = A.count * A.conns;
    printf("RESULT ok=1 msgs=%llu secs=%.6f msgs_per_s=%.1f mb_per_s=%.2f cpu_us_per_msg=%.3f wire_out_per_msg=%.1f wire_in_per_msg=%.1f\n",
           (unsigned long long)msgs, t_end - t_start, msgs / (t_end - t_start), msgs * (double)A.size / (t_end - t_start) / 1e6,
           (cpu_end - cpu_start) * 1e6 / msgs, (double)(wire_out1 - wire_out0) / msgs, (double)(wire_in1 - wire_in0) / msgs);
    fflush(stdout);
}

/* The corpus: lines of exactly A.size bytes. */
static void load_corpus(const char *path) {
    size_t len;
    uint8_t *all = read_file(path, &len);
    size_t cap = 16;
    corpus = malloc(cap * sizeof *corpus);
    for (size_t at = 0; at < len;) {
        uint8_t *nl = memchr(all + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (all + at)) : len - at;
        if (n) {
            if (n != A.size) die("a corpus line is not --size bytes");
            if (corpus_n == cap) corpus = realloc(corpus, (cap *= 2) * sizeof *corpus);
            corpus[corpus_n++] = all + at;
        }
        at += n + 1;
    }
    if (!corpus_n || A.size < 18) die("empty corpus");
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts)) {}
}

static void run_idle(void) {
    int n = A.conns;
    /* One connection first, so one-time set-up (TLS config, buffers of the loop) is not counted. */
    conn warm;
    memset(&warm, 0, sizeof warm);
    A.conns = 1;
    connect_one(&warm);
    pthread_mutex_lock(&mu);
    WAIT_UNTIL(opened == 1, "the first open");
    pthread_mutex_unlock(&mu);
    sleep_s(0.2);
    long rss0 = rss_bytes();
    double t0 = now_s();
    A.conns = n + 1;
    int issued = 0;
    const int in_flight = 200; /* connects outstanding at once (the server's backlog is 4096) */
    while (issued < n) {
        pthread_mutex_lock(&mu);
        WAIT_UNTIL(issued - (opened - 1) < in_flight, "opens");
        pthread_mutex_unlock(&mu);
        connect_one(&conns[issued++]);
    }
    pthread_mutex_lock(&mu);
    WAIT_UNTIL(opened == n + 1, "every open");
    pthread_mutex_unlock(&mu);
    double connect_s = now_s() - t0;
    sleep_s(0.5);
    long rss1 = rss_bytes();
    double c0 = cpu_s(), w0 = now_s();
    sleep_s(A.idle_secs);
    double idle_cpu = (cpu_s() - c0) / (now_s() - w0) * 100.0;
    pthread_mutex_lock(&mu);
    int still_open = opened - closed;
    pthread_mutex_unlock(&mu);
    if (still_open != n + 1) die("connections closed while idle");
    double t1 = now_s();
    ws_shutdown();
    double shutdown_s = now_s() - t1;
    printf("RESULT ok=1 conns=%d opened=%d kib_per_conn=%.2f idle_cpu_pct=%.3f rss_before=%ld rss_after=%ld connect_s=%.3f shutdown_s=%.3f\n",
           n, opened - 1, (rss1 - rss0) / 1024.0 / n, idle_cpu, rss0, rss1, connect_s, shutdown_s);
    fflush(stdout);
}

/* ---- time to open (--mode open) ---- */

static double open_at;  /* when the open event came (on the libws thread) */
static int open_state;  /* 0 connecting, 1 open, 2 closed */
static int open_resumed;

static void open_on_event(const ws_event *e, void *ud) {
    (void)ud;
    double now = now_s();
    pthread_mutex_lock(&mu);
    if (e->kind == WS_EVENT_OPEN) {
        open_at = now;
        open_resumed = e->profile && e->profile->tls_resumed;
        open_state = 1;
    } else if (e->kind == WS_EVENT_ERROR) {
        fprintf(stderr, "error event on task %lld: %s\n", (long long)e->task_id, e->error.err_msg);
        errors++;
    } else if (e->kind == WS_EVENT_CLOSE) {
        open_state = 2;
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Connects to url, waits for the open, closes and waits for the close. Returns the µs from
 * ws_connect to the open event; *resumed: the profile's tls_resumed. */
static double open_once(const char *url, int *resumed) {
    ws_connect_options o;
    ws_connect_options_init(&o);
    o.url = url;
    o.tcp_no_delay = true;
    o.on_event = open_on_event;
    pthread_mutex_lock(&mu);
    open_state = 0;
    pthread_mutex_unlock(&mu);
    double t0 = now_s();
    int64_t id = ws_connect(&o);
    if (id <= 0) fail("ws_connect", (int)id);
    pthread_mutex_lock(&mu);
    WAIT_UNTIL(open_state >= 1, "the open");
    if (open_state != 1) die("closed before it opened");
    double us = (open_at - t0) * 1e6;
    *resumed = open_resumed;
    pthread_mutex_unlock(&mu);
    int32_t rc = ws_close(id, 1000, NULL, NULL, NULL);
    if (rc != WS_OK) fail("ws_close", rc);
    pthread_mutex_lock(&mu);
    WAIT_UNTIL(open_state == 2, "the close");
    pthread_mutex_unlock(&mu);
    return us;
}

/* wss:// with --resume 1: one runtime, so its TLS configuration (and session cache) serves every
 * connection and all but the first resume. --resume 0: before each connection a fresh runtime
 * (no sessions) and one connection to the same server as "localhost", which builds the runtime's
 * TLS configuration (as tokio-tungstenite's is built before its clock starts) and stores a
 * session for that name only: the measured connection to 127.0.0.1 is a full handshake. The
 * profile's tls_resumed is checked on every measured connection. */
static void run_open(const ws_config *cfg) {
    int tls = !strncmp(A.url, "wss://", 6);
    int fresh = tls && !A.resume;
    char warm_url[512];
    const char *at = strstr(A.url, "127.0.0.1");
    if (fresh && !at) die("open --resume 0 needs a wss://127.0.0.1:PORT/ URL");
    if (fresh) snprintf(warm_url, sizeof warm_url, "%.*slocalhost%s", (int)(at - A.url), A.url, at + 9);
    double *samples = calloc(A.count, sizeof *samples);
    for (uint64_t i = 0; i < A.warmup + A.count; i++) {
        int resumed;
        if (fresh) {
            ws_shutdown();
            int32_t rc = ws_init(cfg);
            if (rc != WS_OK) fail("ws_init", rc);
            open_once(warm_url, &resumed);
        }
        double us = open_once(A.url, &resumed);
        if (tls && i >= A.warmup && resumed != (A.resume != 0)) {
            fprintf(stderr, "error: connection %llu: tls_resumed %d, expected %d\n", (unsigned long long)i, resumed,
                    A.resume != 0);
            _exit(2);
        }
        if (i >= A.warmup) samples[i - A.warmup] = us;
    }
    print_open(samples, A.count);
}

int main(int argc, char **argv) {
    /* --ca-mode is ours alone: take it out before the common parser sees the rest. */
    char *args[64];
    int n = 0;
    const char *ca_mode = "runtime";
    const char *corpus_file = NULL;
    for (int i = 0; i < argc && n < 63; i++) {
        if (!strcmp(argv[i], "--ca-mode") && i + 1 < argc) { ca_mode = argv[++i]; continue; }
        if (!strcmp(argv[i], "--corpus") && i + 1 < argc) { corpus_file = argv[++i]; continue; }
        if (!strcmp(argv[i], "--deflate") && i + 1 < argc) { want_deflate = atoi(argv[++i]); continue; }
        args[n++] = argv[i];
    }
    parse_args(n, args, &A);
    watchdog(A.timeout_s + 30);
    thread_path = !strcmp(A.path, "thread");
    dispatch_path = !strcmp(A.path, "dispatch");
    if (strcmp(A.path, "cb") && !thread_path && !dispatch_path) die("--path cb|thread|dispatch");
    if (dispatch_path && !strcmp(A.mode, "idle")) die("--path dispatch: latency and throughput only");
    is_latency = !strcmp(A.mode, "latency");
    is_idle = !strcmp(A.mode, "idle");
    ca_per_task = !strcmp(ca_mode, "task");
    if (A.ca) ca_pem = read_file(A.ca, &ca_pem_len);

    long nofile = raise_nofile();
    if (!strcmp(A.mode, "idle") && nofile < A.conns + 64) die("RLIMIT_NOFILE is too low for --conns");

    ws_config cfg;
    ws_config_init(&cfg);
    cfg.max_connections_per_group = (uint32_t)(A.conns + 16);
    cfg.max_send_queue = 1ull << 30;         /* the window (64 x 1 MiB) must fit */
    cfg.close_timeout_ms = 2000;
    if (ca_pem && !ca_per_task) {
        cfg.ca_pem = ca_pem;
        cfg.ca_pem_len = ca_pem_len;
    }
    int32_t rc = ws_init(&cfg);
    if (rc != WS_OK) fail("ws_init", rc);

    if (dispatch_path && (rc = ws_dispatcher_new(NULL, &disp)) != WS_OK) fail("ws_dispatcher_new", rc);
    base = pattern_bytes(A.size);
    if (corpus_file) load_corpus(corpus_file);
    loop_buf = malloc(A.size);
    main_buf = malloc(A.size);
    conns = calloc(A.conns + 1, sizeof *conns);

    if (!strcmp(A.mode, "latency")) { A.conns = 1; run_latency(); }
    else if (!strcmp(A.mode, "throughput")) run_throughput();
    else if (!strcmp(A.mode, "idle")) { run_idle(); return 0; }
    else if (!strcmp(A.mode, "open")) run_open(&cfg);
    else die("unknown --mode");
    ws_shutdown();
    return 0;
}
