/* wss:// (TLS) integration tests for libws, through the C ABI only.
 *
 * Self-contained: run from the repo root with no arguments. It makes its own certificates and
 * starts its own loopback servers (ffi-tests/tls_server.py under .venv/bin/python, 127.0.0.1
 * only) in a temporary directory, and stops them at the end, also on failure or a signal.
 *
 *   cc -std=c11 -Wall -Wextra -Werror -pthread -Iinclude -Iffi-tests ffi-tests/test_tls.c \
 *      target/release/libws.a -ldl -lm -o build/test_tls && build/test_tls
 *
 * Prints one line per case and a last line "N passed, N failed"; exits non-zero on any failure.
 * Set LIBWS_TEST_KEEP_TMP=1 to keep the temporary directory (certificates, server logs).
 */
#define _GNU_SOURCE /* fork, kill, mkdtemp, nftw, prctl, strcasestr under -std=c11 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "libws.h"

#define WAIT_MS 10000       /* every ordinary wait: a bug fails a check instead of hanging */
#define BIG_WAIT_MS 60000   /* the 16 MiB echo */
#define SETTLE_MS 300       /* how long to watch for events that must not come */
#define WATCHDOG_S 600      /* the whole run; kills the servers and fails if exceeded */
#define BIG_LEN ((size_t)16 << 20)

static const char *PYTHON = ".venv/bin/python";
static const char *SERVER_SCRIPT = "ffi-tests/tls_server.py";

/* ------------------------------------------------------------------------------------------ */
/* Time                                                                                        */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static struct timespec deadline_in(int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* ------------------------------------------------------------------------------------------ */
/* Checks                                                                                      */

static const char *g_case = "setup";
static char g_case_failure[1024]; /* the first failed check of the current case */

static void fail_check(int line, const char *fmt, ...) {
    char text[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "test_tls.c:%d: [%s] CHECK FAILED: %s\n", line, g_case, text);
    fflush(stderr);
    if (!g_case_failure[0]) snprintf(g_case_failure, sizeof g_case_failure, "line %d: %s", line, text);
}

/* CHECK(cond, fmt, ...): on failure report and return false from the enclosing function. */
#define CHECK(cond, ...)                       \
    do {                                       \
        if (!(cond)) {                         \
            fail_check(__LINE__, __VA_ARGS__); \
            return false;                      \
        }                                      \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Recorders for events and results (heap, never freed before the final ws_shutdown, so a late  */
/* callback after a failed case never touches freed memory).                                    */

typedef struct msg {
    uint8_t *data;
    size_t len;
    uint32_t kind;
} msg;

typedef struct conn {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t task_id;      /* the id of the first event */
    int wrong_task;       /* events whose task_id differed from the first one */
    int events, opens, errors, closes, after_close, order_bad, bad_reason_len;
    int64_t error_at_ms;
    int32_t err_code;
    char err_msg[1024];
    uint16_t close_code;
    char close_reason[256];
    bool was_clean;
    msg *msgs;
    int nmsgs, cap, popped;
    struct conn *next;
} conn;

typedef struct result {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int64_t task_id;
    int32_t code;
    char msg[1024];
    struct result *next;
} result;

static pthread_mutex_t g_alloc_mu = PTHREAD_MUTEX_INITIALIZER;
static conn *g_conns;
static result *g_results;

static conn *new_conn(void) {
    conn *c = calloc(1, sizeof *c);
    if (!c) abort();
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_mutex_lock(&g_alloc_mu);
    c->next = g_conns;
    g_conns = c;
    pthread_mutex_unlock(&g_alloc_mu);
    return c;
}

static result *new_result(void) {
    result *r = calloc(1, sizeof *r);
    if (!r) abort();
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_mutex_lock(&g_alloc_mu);
    r->next = g_results;
    g_results = r;
    pthread_mutex_unlock(&g_alloc_mu);
    return r;
}

static void free_recorders(void) {
    pthread_mutex_lock(&g_alloc_mu);
    for (conn *c = g_conns, *n; c; c = n) {
        n = c->next;
        for (int i = 0; i < c->nmsgs; i++) free(c->msgs[i].data);
        free(c->msgs);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
    }
    for (result *r = g_results, *n; r; r = n) {
        n = r->next;
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r);
    }
    g_conns = NULL;
    g_results = NULL;
    pthread_mutex_unlock(&g_alloc_mu);
}

static void on_event(const ws_event *ev, void *user_data) {
    conn *c = user_data;
    pthread_mutex_lock(&c->mu);
    if (c->events == 0) c->task_id = ev->task_id;
    else if (ev->task_id != c->task_id) c->wrong_task++;
    c->events++;
    if (c->closes > 0) c->after_close++;
    switch (ev->kind) {
    case WS_EVENT_OPEN:
        if (c->opens > 0 || c->errors > 0) c->order_bad++;
        c->opens++;
        break;
    case WS_EVENT_MESSAGE:
        if (c->opens == 0) c->order_bad++;
        if (c->nmsgs == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 8;
            c->msgs = realloc(c->msgs, (size_t)c->cap * sizeof *c->msgs);
            if (!c->msgs) abort();
        }
        {
            msg *m = &c->msgs[c->nmsgs++];
            m->len = ev->message.len;
            m->kind = ev->message.kind;
            m->data = malloc(m->len ? m->len : 1);
            if (!m->data) abort();
            if (m->len) memcpy(m->data, ev->message.data, m->len);
        }
        break;
    case WS_EVENT_ERROR:
        if (c->errors == 0) {
            c->err_code = ev->error.code;
            snprintf(c->err_msg, sizeof c->err_msg, "%s", ev->error.err_msg ? ev->error.err_msg : "(null)");
            c->error_at_ms = now_ms();
        }
        c->errors++;
        break;
    case WS_EVENT_CLOSE:
        c->closes++;
        c->close_code = ev->close.code;
        c->was_clean = ev->close.was_clean;
        snprintf(c->close_reason, sizeof c->close_reason, "%s", ev->close.reason ? ev->close.reason : "(null)");
        if (!ev->close.reason || strlen(ev->close.reason) != ev->close.reason_len) c->bad_reason_len++;
        break;
    default:
        c->order_bad++;
        break;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void on_result(const ws_result *res, void *user_data) {
    result *r = user_data;
    pthread_mutex_lock(&r->mu);
    if (r->calls == 0) {
        r->task_id = res->task_id;
        r->code = res->code;
        snprintf(r->msg, sizeof r->msg, "%s", res->err_msg ? res->err_msg : "(null)");
    }
    r->calls++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Waits until *field >= at_least (read under c->mu). */
static bool wait_conn(conn *c, const int *field, int at_least, int ms) {
    struct timespec dl = deadline_in(ms);
    pthread_mutex_lock(&c->mu);
    while (*field < at_least) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT) break;
    }
    bool ok = *field >= at_least;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static bool wait_result(result *r, int ms) {
    struct timespec dl = deadline_in(ms);
    pthread_mutex_lock(&r->mu);
    while (r->calls < 1) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT) break;
    }
    bool ok = r->calls >= 1;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

/* A snapshot of a recorder, read under its lock (the callback thread may still write). */
static conn snap(conn *c) {
    pthread_mutex_lock(&c->mu);
    conn s = *c;
    pthread_mutex_unlock(&c->mu);
    return s;
}

static result rsnap(result *r) {
    pthread_mutex_lock(&r->mu);
    result s = *r;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* Waits for the next message (in arrival order); *out stays owned by the recorder. */
static bool next_message(conn *c, msg *out, int ms) {
    struct timespec dl = deadline_in(ms);
    pthread_mutex_lock(&c->mu);
    while (c->nmsgs <= c->popped) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT) break;
    }
    bool ok = c->nmsgs > c->popped;
    if (ok) *out = c->msgs[c->popped++];
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* Servers                                                                                     */

#define MAX_SERVERS 16
static volatile pid_t g_pids[MAX_SERVERS];
static volatile int g_npids;
static char g_dir[PATH_MAX];
static char *g_ca;
static size_t g_ca_len;

enum { S_GOOD, S_WRONGNAME, S_EXPIRED, S_SELFSIGNED, S_PLAIN, S_STALL, S_COUNT };
static const char *SERVER_MODES[S_COUNT] = {"good", "wrongname", "expired", "selfsigned", "plain", "stall"};
static int g_port[S_COUNT];

static void kill_servers_now(void) { /* async-signal-safe */
    for (int i = 0; i < g_npids; i++)
        if (g_pids[i] > 0) kill(g_pids[i], SIGKILL);
}

static void stop_servers(void) {
    for (int i = 0; i < g_npids; i++)
        if (g_pids[i] > 0) kill(g_pids[i], SIGTERM);
    for (int i = 0; i < g_npids; i++) {
        if (g_pids[i] <= 0) continue;
        int64_t until = now_ms() + 3000;
        while (waitpid(g_pids[i], NULL, WNOHANG) == 0) {
            if (now_ms() > until) {
                kill(g_pids[i], SIGKILL);
                waitpid(g_pids[i], NULL, 0);
                break;
            }
            sleep_ms(10);
        }
        g_pids[i] = 0;
    }
    g_npids = 0;
}

static void on_fatal_signal(int sig) {
    kill_servers_now();
    if (sig == SIGALRM) {
        static const char text[] = "test_tls: watchdog expired: the run hung; servers killed\n";
        ssize_t unused = write(2, text, sizeof text - 1);
        (void)unused;
        _exit(2);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* fork/exec of tls_server.py MODE 0 DIR with stdout on a pipe (returned in *out_fd, or closed
 * when out_fd is NULL) and stderr appended to DIR/MODE.log. */
static pid_t spawn_server(const char *mode, int *out_fd) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    char log_path[PATH_MAX + 32];
    snprintf(log_path, sizeof log_path, "%s/%s.log", g_dir, mode);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test, even after SIGKILL */
#endif
        int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (log_fd >= 0) dup2(log_fd, 2);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(PYTHON, PYTHON, SERVER_SCRIPT, mode, "0", g_dir, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    if (out_fd) *out_fd = fds[0];
    else close(fds[0]);
    return pid;
}

/* Starts one server and returns its port once it printed "READY <port>", or -1. */
static int start_server(const char *mode) {
    if (g_npids >= MAX_SERVERS) return -1;
    int fd = -1;
    pid_t pid = spawn_server(mode, &fd);
    if (pid < 0) return -1;
    g_pids[g_npids] = pid;
    g_npids = g_npids + 1;
    char buf[256];
    size_t used = 0;
    int port = -1;
    int64_t until = now_ms() + 30000;
    while (port < 0 && now_ms() < until && used < sizeof buf - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, 100);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        ssize_t got = read(fd, buf + used, sizeof buf - 1 - used);
        if (got <= 0) break; /* the server exited */
        used += (size_t)got;
        buf[used] = 0;
        char *line = strstr(buf, "READY ");
        if (line && strchr(line, '\n')) port = atoi(line + 6);
    }
    close(fd);
    if (port <= 0) {
        fprintf(stderr, "test_tls: server %s did not start (see %s/%s.log)\n", mode, g_dir, mode);
        return -1;
    }
    return port;
}

/* Runs tls_server.py certs 0 DIR to completion. */
static bool make_certs(void) {
    pid_t pid = spawn_server("certs", NULL);
    if (pid < 0) return false;
    int status = 0;
    int64_t until = now_ms() + 60000;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 || now_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return false;
        }
        sleep_ms(20);
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *grown = realloc(buf, cap + 1);
            if (!grown) {
                free(buf);
                buf = NULL;
            }
            buf = grown;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static void dump_logs(void) {
    for (int i = 0; i < S_COUNT + 1; i++) {
        const char *mode = i < S_COUNT ? SERVER_MODES[i] : "certs";
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s.log", g_dir, mode);
        size_t len = 0;
        char *text = read_file(path, &len);
        if (text && len) {
            fprintf(stderr, "---- %s server log (last 3000 bytes) ----\n%s\n", mode, len > 3000 ? text + len - 3000 : text);
        }
        free(text);
    }
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* libws helpers                                                                               */

static char *url_of(int server, const char *scheme, const char *path) {
    static char bufs[8][256];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s://127.0.0.1:%d%s", scheme, g_port[server], path);
    return b;
}

typedef struct {
    const char *ca;
    size_t ca_len;
    bool skip;
    uint32_t timeout_ms;
    uint64_t group;
} conn_opts;

/* ws_connect with the recorders; returns the id (or the negative code). */
static int64_t connect_rec(const char *url, conn_opts o, conn *c, result *r) {
    ws_connect_options opt;
    if (ws_connect_options_init(&opt) != WS_OK) return WS_ERR_INVALID_ARGUMENT;
    opt.url = url;
    opt.on_event = on_event;
    opt.event_user_data = c;
    opt.on_result = on_result;
    opt.result_user_data = r;
    opt.group = o.group;
    opt.timeout_ms = o.timeout_ms;
    opt.ca_pem = (const uint8_t *)o.ca;
    opt.ca_pem_len = o.ca_len;
    opt.dangerous_skip_certificate_verification = o.skip;
    return ws_connect(&opt);
}

static bool is_ws_err(int32_t code) {
    return code < 0 && code >= WS_ERR_ALREADY_RUNNING && strcmp(ws_strerror(code), "unknown error code") != 0;
}

/* Connects and waits until OPEN: connect result "connectSocket:ok", one open event. */
static bool open_ok(const char *url, conn_opts o, conn *c, int64_t *id_out) {
    result *r = new_result();
    int64_t id = connect_rec(url, o, c, r);
    CHECK(id > 0, "ws_connect(%s) returned %lld (%s)", url, (long long)id, ws_strerror((int32_t)id));
    CHECK(wait_result(r, WAIT_MS), "no connect result for %s within %d ms", url, WAIT_MS);
    result rs = rsnap(r);
    CHECK(rs.code == WS_OK && strcmp(rs.msg, "connectSocket:ok") == 0, "connect result %d \"%s\", want 0 \"connectSocket:ok\"",
          rs.code, rs.msg);
    CHECK(rs.task_id == id, "connect result task_id %lld, want %lld", (long long)rs.task_id, (long long)id);
    bool opened = wait_conn(c, &c->opens, 1, WAIT_MS);
    conn s = snap(c);
    CHECK(opened, "%s did not open within %d ms (errors %d: %d \"%s\", closes %d: %u \"%s\")", url, WAIT_MS, s.errors,
          s.err_code, s.err_msg, s.closes, s.close_code, s.close_reason);
    CHECK(s.errors == 0 && s.closes == 0, "open with errors %d closes %d", s.errors, s.closes);
    CHECK(s.task_id == id && s.wrong_task == 0, "event task_id %lld (mismatches %d), want %lld", (long long)s.task_id,
          s.wrong_task, (long long)id);
    CHECK(ws_ready_state(id) == WS_OPEN, "readyState %d after open, want WS_OPEN", ws_ready_state(id));
    *id_out = id;
    return true;
}

/* Sends one message and waits for "sendSocketMessage:ok". */
static bool send_ok(int64_t id, const void *data, size_t len, uint32_t kind, int wait_ms) {
    result *r = new_result();
    int32_t rc = ws_send(id, data, len, kind, on_result, r);
    CHECK(rc == WS_OK, "ws_send(%zu bytes) returned %d (%s)", len, rc, ws_strerror(rc));
    CHECK(wait_result(r, wait_ms), "no send result for %zu bytes within %d ms", len, wait_ms);
    result rs = rsnap(r);
    CHECK(rs.code == WS_OK && strcmp(rs.msg, "sendSocketMessage:ok") == 0,
          "send result %d \"%s\", want 0 \"sendSocketMessage:ok\"", rs.code, rs.msg);
    CHECK(rs.task_id == id, "send result task_id %lld, want %lld", (long long)rs.task_id, (long long)id);
    return true;
}

/* Sends a message to an /echo server and checks the echo (type and bytes). */
static bool echo_ok(conn *c, int64_t id, const void *data, size_t len, uint32_t kind, int wait_ms) {
    if (!send_ok(id, data, len, kind, wait_ms)) return false;
    msg m;
    CHECK(next_message(c, &m, wait_ms), "no echo of the %zu-byte %s message within %d ms", len,
          kind == WS_TEXT ? "text" : "binary", wait_ms);
    CHECK(m.kind == kind, "echo kind %u, want %u", m.kind, kind);
    CHECK(m.len == len, "echo length %zu, want %zu", m.len, len);
    if (len && memcmp(m.data, data, len) != 0) {
        size_t i = 0;
        while (((const uint8_t *)data)[i] == m.data[i]) i++;
        CHECK(false, "echo of %zu bytes differs first at byte %zu (got 0x%02x, want 0x%02x)", len, i, m.data[i],
              ((const uint8_t *)data)[i]);
    }
    return true;
}

/* Closes an OPEN task and waits for a clean close event; returns the event in *out. */
static bool close_ok(conn *c, int64_t id, int code, const char *reason, conn *out) {
    result *r = new_result();
    int32_t rc = ws_close(id, code, reason, on_result, r);
    CHECK(rc == WS_OK, "ws_close(%lld, %d) returned %d (%s)", (long long)id, code, rc, ws_strerror(rc));
    CHECK(wait_result(r, WAIT_MS), "no close result within %d ms", WAIT_MS);
    result rs = rsnap(r);
    CHECK(rs.code == WS_OK && strcmp(rs.msg, "closeSocket:ok") == 0, "close result %d \"%s\", want 0 \"closeSocket:ok\"",
          rs.code, rs.msg);
    CHECK(wait_conn(c, &c->closes, 1, WAIT_MS), "no close event within %d ms of ws_close", WAIT_MS);
    sleep_ms(SETTLE_MS);
    conn s = snap(c);
    CHECK(s.closes == 1 && s.after_close == 0, "%d close events and %d events after the close", s.closes, s.after_close);
    CHECK(s.errors == 0, "error event %d \"%s\" during a normal close", s.err_code, s.err_msg);
    CHECK(s.was_clean, "close event %u \"%s\" not clean after a close handshake", s.close_code, s.close_reason);
    CHECK(s.bad_reason_len == 0, "close reason_len does not match the reason string");
    CHECK(ws_ready_state(id) == WS_CLOSED, "readyState %d after the close event, want WS_CLOSED", ws_ready_state(id));
    if (out) *out = s;
    return true;
}

/* A connect that must fail: result "connectSocket:ok" (the attempt started), then one error event
 * (want_code, or any WS_ERR_* when want_code is 0; "connectSocket:fail ..." containing want_text
 * if given), then exactly one close 1006 not clean, nothing else, readyState CLOSED. */
static bool connect_fails(const char *url, conn_opts o, int32_t want_code, const char *want_text, conn *out) {
    conn *c = new_conn();
    result *r = new_result();
    int64_t t0 = now_ms();
    int64_t id = connect_rec(url, o, c, r);
    CHECK(id > 0, "ws_connect(%s) returned %lld (%s)", url, (long long)id, ws_strerror((int32_t)id));
    CHECK(wait_result(r, WAIT_MS), "no connect result within %d ms", WAIT_MS);
    result rs = rsnap(r);
    CHECK(rs.code == WS_OK && strcmp(rs.msg, "connectSocket:ok") == 0, "connect result %d \"%s\", want 0 \"connectSocket:ok\"",
          rs.code, rs.msg);
    bool got_error = wait_conn(c, &c->errors, 1, WAIT_MS);
    conn s = snap(c);
    CHECK(got_error, "no error event within %d ms for %s (opens %d, closes %d: %u \"%s\")", WAIT_MS, url, s.opens, s.closes,
          s.close_code, s.close_reason);
    CHECK(s.opens == 0, "the task opened (%d open events) though it must fail", s.opens);
    CHECK(is_ws_err(s.err_code), "error code %d is not a negative WS_ERR_* code", s.err_code);
    if (want_code) {
        CHECK(s.err_code == want_code, "error code %d (%s) \"%s\", want %d (%s)", s.err_code, ws_strerror(s.err_code), s.err_msg,
              want_code, ws_strerror(want_code));
    }
    CHECK(strncmp(s.err_msg, "connectSocket:fail", 18) == 0, "err_msg \"%s\" does not start with \"connectSocket:fail\"",
          s.err_msg);
    if (want_text) CHECK(strstr(s.err_msg, want_text) != NULL, "err_msg \"%s\" lacks \"%s\"", s.err_msg, want_text);
    CHECK(wait_conn(c, &c->closes, 1, WAIT_MS), "no close event within %d ms after the error", WAIT_MS);
    sleep_ms(SETTLE_MS);
    s = snap(c);
    CHECK(s.errors == 1, "%d error events, want exactly 1", s.errors);
    CHECK(s.closes == 1 && s.after_close == 0, "%d close events and %d events after the close, want exactly one close and nothing after",
          s.closes, s.after_close);
    CHECK(s.nmsgs == 0 && s.opens == 0 && s.order_bad == 0, "unexpected events: %d messages, %d opens, %d out of order", s.nmsgs,
          s.opens, s.order_bad);
    CHECK(s.close_code == 1006, "close code %u \"%s\", want 1006", s.close_code, s.close_reason);
    CHECK(!s.was_clean, "close 1006 reported was_clean true");
    CHECK(s.bad_reason_len == 0, "close reason_len does not match the reason string");
    CHECK(s.task_id == id && s.wrong_task == 0, "event task_id %lld, want %lld", (long long)s.task_id, (long long)id);
    CHECK(ws_ready_state(id) == WS_CLOSED, "readyState %d after the close event, want WS_CLOSED", ws_ready_state(id));
    s.error_at_ms -= t0; /* how long after ws_connect the error came */
    if (out) *out = s;
    return true;
}

/* The group has all its slots: 5 connections to the good server open (each with the CA), a 6th is
 * refused with WS_ERR_TOO_MANY_CONNECTIONS; then the 5 are closed cleanly. */
static bool group_has_all_slots(uint64_t group) {
    conn *c[5];
    int64_t id[5];
    conn_opts o = {.ca = g_ca, .ca_len = g_ca_len, .group = group};
    for (int i = 0; i < 5; i++) {
        c[i] = new_conn();
        if (!open_ok(url_of(S_GOOD, "wss", "/echo"), o, c[i], &id[i])) {
            fail_check(__LINE__, "connection %d of 5 in group %llu did not open: a slot was not freed?", i + 1,
                       (unsigned long long)group);
            return false;
        }
    }
    conn *extra = new_conn();
    result *r = new_result();
    int64_t six = connect_rec(url_of(S_GOOD, "wss", "/echo"), o, extra, r);
    CHECK(six == WS_ERR_TOO_MANY_CONNECTIONS, "6th connect in group %llu returned %lld, want WS_ERR_TOO_MANY_CONNECTIONS",
          (unsigned long long)group, (long long)six);
    CHECK(wait_result(r, WAIT_MS), "no result for the refused 6th connect");
    result rs = rsnap(r);
    CHECK(rs.code == WS_ERR_TOO_MANY_CONNECTIONS && strncmp(rs.msg, "connectSocket:fail", 18) == 0,
          "6th connect result %d \"%s\"", rs.code, rs.msg);
    for (int i = 0; i < 5; i++)
        if (!close_ok(c[i], id[i], 1000, NULL, NULL)) return false;
    return true;
}

/* A deterministic pseudo-random fill (xorshift64*), so misplaced bytes are not masked. */
static void fill_pattern(uint8_t *p, size_t n, uint64_t seed) {
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        p[i] = (uint8_t)((x * 0x2545F4914F6CDD1DULL) >> 56);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Cases                                                                                       */

/* 1. Echo over TLS with the test CA passed per task: text, binary, 16 MiB binary. */
static bool case_echo_with_ca(void) {
    conn *c = new_conn();
    int64_t id;
    conn_opts o = {.ca = g_ca, .ca_len = g_ca_len, .group = 101};
    if (!open_ok(url_of(S_GOOD, "wss", "/echo"), o, c, &id)) return false;
    const char *text = "hello over TLS \xe2\x9c\x93 \xf0\x9f\x94\x92";
    if (!echo_ok(c, id, text, strlen(text), WS_TEXT, WAIT_MS)) return false;
    const uint8_t bin[] = {0, 1, 2, 0xff, 0xfe, 0, 0x80, 0x7f, 0, 0};
    if (!echo_ok(c, id, bin, sizeof bin, WS_BINARY, WAIT_MS)) return false;
    uint8_t *big = malloc(BIG_LEN);
    CHECK(big, "out of memory");
    fill_pattern(big, BIG_LEN, 0x1234567887654321ULL);
    bool ok = echo_ok(c, id, big, BIG_LEN, WS_BINARY, BIG_WAIT_MS);
    free(big);
    if (!ok) return false;
    /* and the connection still works after the big one */
    if (!echo_ok(c, id, "after", 5, WS_TEXT, WAIT_MS)) return false;
    conn s = snap(c);
    CHECK(s.nmsgs == 4 && s.order_bad == 0, "%d messages (want 4), %d out of order", s.nmsgs, s.order_bad);
    conn closed;
    if (!close_ok(c, id, 1000, NULL, &closed)) return false;
    CHECK(closed.close_code == 1000, "close code %u, want 1000", closed.close_code);
    return true;
}

/* 2. No CA: unknown issuer, close 1006, the group slot freed. */
static bool case_unknown_issuer(void) {
    conn_opts o = {.group = 102};
    if (!connect_fails(url_of(S_GOOD, "wss", "/echo"), o, WS_ERR_TLS, "unknown issuer", NULL)) return false;
    return group_has_all_slots(102);
}

/* 3. A certificate for example.org only, reached as 127.0.0.1: hostname mismatch. */
static bool case_hostname_mismatch(void) {
    conn_opts o = {.ca = g_ca, .ca_len = g_ca_len, .group = 103};
    return connect_fails(url_of(S_WRONGNAME, "wss", "/echo"), o, WS_ERR_TLS, "hostname mismatch", NULL);
}

/* 4. An expired certificate from the trusted CA. */
static bool case_expired(void) {
    conn_opts o = {.ca = g_ca, .ca_len = g_ca_len, .group = 104};
    return connect_fails(url_of(S_EXPIRED, "wss", "/echo"), o, WS_ERR_TLS, "expired", NULL);
}

/* 5a. wss:// to a plain WebSocket server. */
static bool case_wss_to_plain(void) {
    conn_opts o = {.ca = g_ca, .ca_len = g_ca_len, .group = 105};
    conn s;
    if (!connect_fails(url_of(S_PLAIN, "wss", "/echo"), o, 0, NULL, &s)) return false;
    printf("     (wss:// to plain server: %d %s \"%s\")\n", s.err_code, ws_strerror(s.err_code), s.err_msg);
    return group_has_all_slots(105);
}

/* 5b. ws:// to the TLS server. */
static bool case_ws_to_tls(void) {
    conn_opts o = {.group = 106};
    conn s;
    if (!connect_fails(url_of(S_GOOD, "ws", "/echo"), o, 0, NULL, &s)) return false;
    printf("     (ws:// to TLS server: %d %s \"%s\")\n", s.err_code, ws_strerror(s.err_code), s.err_msg);
    return group_has_all_slots(106);
}

/* 6. A server that reads the ClientHello and never answers: the connect timeout fires. */
static bool case_handshake_stall_timeout(void) {
    char seen_path[PATH_MAX + 32];
    snprintf(seen_path, sizeof seen_path, "%s/stall_seen", g_dir);
    remove(seen_path);
    conn_opts o = {.ca = g_ca, .ca_len = g_ca_len, .timeout_ms = 700, .group = 107};
    conn s;
    if (!connect_fails(url_of(S_STALL, "wss", "/echo"), o, WS_ERR_TIMEOUT, "timeout", &s)) return false;
    /* not a speed check: a 700 ms timeout must not fire long before 700 ms */
    CHECK(s.error_at_ms >= 600, "the 700 ms connect timeout fired after only %lld ms", (long long)s.error_at_ms);
    char *seen = read_file(seen_path, NULL);
    CHECK(seen != NULL, "the stalling server never received the client's first bytes");
    bool hello = strncmp(seen, "16 03", 5) == 0;
    char copy[64];
    snprintf(copy, sizeof copy, "%s", seen);
    free(seen);
    CHECK(hello, "the stalling server received \"%s\", not a TLS handshake record (16 03 ..)", copy);
    return true;
}

/* 7. dangerous_skip_certificate_verification accepts an unverifiable certificate. */
static bool case_skip_verification(void) {
    /* control: without the switch the self-signed server is refused even with the test CA */
    conn_opts strict = {.ca = g_ca, .ca_len = g_ca_len, .group = 108};
    if (!connect_fails(url_of(S_SELFSIGNED, "wss", "/echo"), strict, WS_ERR_TLS, NULL, NULL)) return false;
    int servers[] = {S_SELFSIGNED, S_GOOD /* unknown issuer: no CA given */, S_WRONGNAME, S_EXPIRED};
    const char *names[] = {"self-signed", "unknown-issuer", "wrong-name", "expired"};
    for (int i = 0; i < 4; i++) {
        conn *c = new_conn();
        int64_t id;
        conn_opts o = {.skip = true, .group = 108};
        if (!open_ok(url_of(servers[i], "wss", "/echo"), o, c, &id)) {
            fail_check(__LINE__, "skip verification did not connect to the %s server", names[i]);
            return false;
        }
        const char *text = "skip verification echo";
        if (!echo_ok(c, id, text, strlen(text), WS_TEXT, WAIT_MS)) return false;
        uint8_t bin[4096];
        fill_pattern(bin, sizeof bin, (uint64_t)i + 7);
        if (!echo_ok(c, id, bin, sizeof bin, WS_BINARY, WAIT_MS)) return false;
        if (!close_ok(c, id, 1000, NULL, NULL)) return false;
    }
    /* the switch is per task: the next task without it is verified again */
    conn_opts again = {.group = 108};
    return connect_fails(url_of(S_SELFSIGNED, "wss", "/echo"), again, WS_ERR_TLS, NULL, NULL);
}

/* 8. The close handshake over TLS carries the client's code and reason to the server. */
static bool case_close_handshake(void) {
    char path[128], report[128];
    snprintf(path, sizeof path, "/record?id=tls-close-%d", (int)getpid());
    snprintf(report, sizeof report, "/report?id=tls-close-%d", (int)getpid());
    conn_opts o = {.ca = g_ca, .ca_len = g_ca_len, .group = 109};
    conn *c = new_conn();
    int64_t id;
    if (!open_ok(url_of(S_GOOD, "wss", path), o, c, &id)) return false;
    if (!send_ok(id, "one", 3, WS_TEXT, WAIT_MS)) return false;
    conn closed;
    if (!close_ok(c, id, 4321, "tls bye", &closed)) return false;
    CHECK(closed.close_code == 4321, "close event code %u, want the server's echo 4321", closed.close_code);
    CHECK(strcmp(closed.close_reason, "tls bye") == 0, "close event reason \"%s\", want the echoed \"tls bye\"",
          closed.close_reason);

    conn *rc = new_conn();
    int64_t rid;
    if (!open_ok(url_of(S_GOOD, "wss", report), o, rc, &rid)) return false;
    msg m;
    CHECK(next_message(rc, &m, WAIT_MS + 2000), "no report from the server");
    char got[256];
    snprintf(got, sizeof got, "%.*s", (int)(m.len < 255 ? m.len : 255), (const char *)m.data);
    CHECK(m.kind == WS_TEXT && strcmp(got, "{\"code\":4321,\"messages\":1,\"reason\":\"tls bye\"}") == 0,
          "server recorded %s, want {\"code\":4321,\"messages\":1,\"reason\":\"tls bye\"}", got);
    return close_ok(rc, rid, 1000, NULL, NULL);
}

/* 9. The runtime-wide CA from ws_init; garbage PEM refused; restored by ws_shutdown. */
static bool case_runtime_ca(void) {
    int32_t rc = ws_shutdown();
    CHECK(rc == WS_OK, "ws_shutdown returned %d", rc);
    ws_config cfg;
    CHECK(ws_config_init(&cfg) == WS_OK, "ws_config_init failed");
    cfg.ca_pem = (const uint8_t *)g_ca;
    cfg.ca_pem_len = g_ca_len;
    rc = ws_init(&cfg);
    CHECK(rc == WS_OK, "ws_init with the test CA returned %d (%s)", rc, ws_strerror(rc));

    conn *c = new_conn();
    int64_t id;
    conn_opts o = {.group = 110}; /* no per-task CA */
    if (!open_ok(url_of(S_GOOD, "wss", "/echo"), o, c, &id)) return false;
    if (!echo_ok(c, id, "runtime CA", 10, WS_TEXT, WAIT_MS)) return false;
    if (!close_ok(c, id, 1000, NULL, NULL)) return false;
    /* the runtime CA does not make hostname checks go away */
    if (!connect_fails(url_of(S_WRONGNAME, "wss", "/echo"), o, WS_ERR_TLS, "hostname mismatch", NULL)) return false;
    rc = ws_shutdown();
    CHECK(rc == WS_OK, "ws_shutdown returned %d", rc);

    static const char *garbage[] = {
        "this is not a PEM file at all\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    };
    for (int i = 0; i < 2; i++) {
        CHECK(ws_config_init(&cfg) == WS_OK, "ws_config_init failed");
        cfg.ca_pem = (const uint8_t *)garbage[i];
        cfg.ca_pem_len = strlen(garbage[i]);
        rc = ws_init(&cfg);
        /* a second round would say WS_ERR_ALREADY_RUNNING if the failed ws_init left a runtime */
        CHECK(rc == WS_ERR_INVALID_ARGUMENT, "ws_init with garbage PEM #%d returned %d (%s), want WS_ERR_INVALID_ARGUMENT", i + 1,
              rc, ws_strerror(rc));
    }
    rc = ws_shutdown();
    CHECK(rc == WS_OK, "ws_shutdown returned %d", rc);

    /* back to the defaults: the test CA is no longer trusted without a per-task CA */
    conn_opts plain_defaults = {.group = 110};
    return connect_fails(url_of(S_GOOD, "wss", "/echo"), plain_defaults, WS_ERR_TLS, "unknown issuer", NULL);
}

/* 10. The runtime-wide dangerous switch from ws_init; restored by ws_shutdown. */
static bool case_runtime_skip(void) {
    int32_t rc = ws_shutdown();
    CHECK(rc == WS_OK, "ws_shutdown returned %d", rc);
    ws_config cfg;
    CHECK(ws_config_init(&cfg) == WS_OK, "ws_config_init failed");
    cfg.dangerous_skip_certificate_verification = true;
    rc = ws_init(&cfg);
    CHECK(rc == WS_OK, "ws_init with dangerous_skip_certificate_verification returned %d (%s)", rc, ws_strerror(rc));
    conn *c = new_conn();
    int64_t id;
    conn_opts o = {.group = 111};
    if (!open_ok(url_of(S_SELFSIGNED, "wss", "/echo"), o, c, &id)) return false;
    if (!echo_ok(c, id, "runtime skip", 12, WS_TEXT, WAIT_MS)) return false;
    if (!close_ok(c, id, 1000, NULL, NULL)) return false;
    rc = ws_shutdown();
    CHECK(rc == WS_OK, "ws_shutdown returned %d", rc);
    conn_opts strict = {.group = 111};
    return connect_fails(url_of(S_SELFSIGNED, "wss", "/echo"), strict, WS_ERR_TLS, NULL, NULL);
}

/* ------------------------------------------------------------------------------------------ */

static int g_passed, g_failed;

static void run_case(const char *name, bool (*fn)(void)) {
    g_case = name;
    g_case_failure[0] = 0;
    int64_t t0 = now_ms();
    bool ok = fn();
    if (ok && g_case_failure[0]) ok = false; /* a helper failed but the caller went on */
    if (ok) {
        g_passed++;
        printf("ok   %s (%lld ms)\n", name, (long long)(now_ms() - t0));
    } else {
        g_failed++;
        printf("FAIL %s: %s\n", name, g_case_failure[0] ? g_case_failure : "(no detail)");
    }
    fflush(stdout);
}

/* Opens /session and returns what the server said of its TLS session: "resumed" or "full". */
static const char *session_of(conn_opts o) {
    conn *c = new_conn();
    int64_t id;
    if (!open_ok(url_of(S_GOOD, "wss", "/session"), o, c, &id)) return "no connection";
    msg m;
    if (!next_message(c, &m, WAIT_MS)) return "no message";
    const char *said = m.len == 7 && memcmp(m.data, "resumed", 7) == 0 ? "resumed"
                       : m.len == 4 && memcmp(m.data, "full", 4) == 0 ? "full"
                                                                      : "unexpected";
    close_ok(c, id, 1000, NULL, NULL);
    return said;
}

/* 11. TLS session resumption across tasks (issue 14, item 3): in a fresh runtime the first
 * connection to a server is a full handshake and the second resumes it (TLS 1.3 ticket), with a
 * per-task CA (each such task used to get a ClientConfig of its own, so it never resumed) and
 * with the runtime's CA. */
static bool case_session_resumption(void) {
    int32_t rc = ws_shutdown();
    CHECK(rc == WS_OK, "ws_shutdown returned %d", rc);
    conn_opts own = {.ca = g_ca, .ca_len = g_ca_len, .group = 120};
    const char *first = session_of(own), *second = session_of(own);
    CHECK(strcmp(first, "full") == 0, "per-task CA: first connection %s, want full", first);
    CHECK(strcmp(second, "resumed") == 0, "per-task CA: second connection %s, want resumed", second);

    rc = ws_shutdown();
    CHECK(rc == WS_OK, "ws_shutdown returned %d", rc);
    ws_config cfg;
    CHECK(ws_config_init(&cfg) == WS_OK, "ws_config_init failed");
    cfg.ca_pem = (const uint8_t *)g_ca;
    cfg.ca_pem_len = g_ca_len;
    rc = ws_init(&cfg);
    CHECK(rc == WS_OK, "ws_init with the test CA returned %d (%s)", rc, ws_strerror(rc));
    conn_opts runtime_ca = {.group = 121};
    first = session_of(runtime_ca);
    second = session_of(runtime_ca);
    CHECK(strcmp(first, "full") == 0, "runtime CA: first connection %s, want full", first);
    CHECK(strcmp(second, "resumed") == 0, "runtime CA: second connection %s, want resumed", second);
    rc = ws_shutdown();
    CHECK(rc == WS_OK, "ws_shutdown returned %d", rc);
    return true;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (access(PYTHON, X_OK) != 0 || access(SERVER_SCRIPT, R_OK) != 0) {
        fprintf(stderr, "test_tls: run from the repo root after scripts/setup.sh (need %s and %s)\n", PYTHON, SERVER_SCRIPT);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], on_fatal_signal);
    atexit(stop_servers);
    alarm(WATCHDOG_S);

    snprintf(g_dir, sizeof g_dir, "%s/libws-tls-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("test_tls: mkdtemp");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    printf("# test_tls: libws %s, temporary directory %s\n", ws_version(), g_dir);

    bool setup_ok = make_certs();
    char ca_path[PATH_MAX + 32];
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", g_dir);
    if (setup_ok) g_ca = read_file(ca_path, &g_ca_len);
    if (!g_ca) setup_ok = false;
    for (int i = 0; setup_ok && i < S_COUNT; i++) {
        g_port[i] = start_server(SERVER_MODES[i]);
        if (g_port[i] <= 0) setup_ok = false;
    }

    if (!setup_ok) {
        g_case = "setup";
        g_failed++;
        printf("FAIL setup: could not make the certificates or start the servers\n");
    } else {
        run_case("1 echo over TLS with a per-task CA (text, binary, 16 MiB)", case_echo_with_ca);
        run_case("2 no CA: unknown issuer, close 1006, slot freed", case_unknown_issuer);
        run_case("3 hostname mismatch", case_hostname_mismatch);
        run_case("4 expired certificate", case_expired);
        run_case("5a wss:// to a plain server: error, one close 1006, slot freed", case_wss_to_plain);
        run_case("5b ws:// to a TLS server: error, one close 1006, slot freed", case_ws_to_tls);
        run_case("6 TLS handshake stall: connect timeout", case_handshake_stall_timeout);
        run_case("7 dangerous_skip_certificate_verification per task", case_skip_verification);
        run_case("8 close handshake over TLS: code and reason reach the server", case_close_handshake);
        run_case("9 runtime-wide CA via ws_init; garbage PEM refused", case_runtime_ca);
        run_case("10 runtime-wide dangerous_skip_certificate_verification", case_runtime_skip);
        run_case("11 TLS session resumption across tasks (per-task and runtime CA)", case_session_resumption);
    }

    g_case = "teardown";
    int32_t rc = ws_shutdown();
    if (rc != WS_OK) {
        g_failed++;
        printf("FAIL teardown: ws_shutdown returned %d\n", rc);
    }
    alarm(0);
    free_recorders();
    stop_servers();
    if (g_failed) dump_logs();
    if (getenv("LIBWS_TEST_KEEP_TMP")) {
        printf("# kept %s\n", g_dir);
    } else {
        nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    free(g_ca);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
