/* Hostile servers against libws's reads and writes (issue 11, items 1-4), over ws:// and wss://:
 *
 *   - SIGPIPE: a server that sends FIN then RST while a write of libws is due must not kill the
 *     host, which keeps SIGPIPE's default action (as plain C programs and many JNI hosts do).
 *     The write is due because the host's callback was slow (ws:// and wss://), or because the
 *     host sent more than the socket takes (wss:// reads write pending TLS records first).
 *   - The send bound: 200 sends of 1 MiB with max_send_queue 4 MiB to a server that never
 *     reads: most fail "queue full", ok means the bytes are in the kernel, and once the server
 *     resets, every accepted send not yet written fails. The same over ws:// and wss://.
 *   - A server flooding pings and never reading: memory stays bounded (a few pongs wait, the
 *     newest ping replacing the newest of them), the last pong answers the last ping, and close
 *     still works or times out; ten pings at once still get ten pongs.
 *   - A frame announcing 2^62 bytes with max_message_size UINT64_MAX, or 2^39 or 2^62 bytes with
 *     1 TiB: no allocation of what the peer announces, no abort, a clean error and close (1006,
 *     or 1009 over the limit), nothing on stderr.
 *
 * Cases that can kill the process (SIGPIPE, an abort) run in a child: this program again, as
 * "<argv0> --child <case>", with its stderr captured; the parent checks how it ended and that
 * every line it wrote to stderr is one of its own CHECK FAILED reports.
 *
 * Self-contained: it starts ffi-tests/peers_hostile.py ("READY <plain> <tls> <ca.pem>") with
 * $PYTHON (default .venv/bin/python) from the repo root.
 */
#define _GNU_SOURCE /* TIOCOUTQ, strsignal */
#include "common.h"
#include "peer_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

extern char **environ;

static const char *g_argv0;
static int g_plain_port, g_tls_port;
static char g_ca_path[512];
static char *g_ca;
static size_t g_ca_len;
static bool g_valgrind; /* memory numbers under valgrind are valgrind's own */

enum { MIB = 1 << 20 };

/* ------------------------------------------------------------------------------------------ */
/* The peers                                                                                    */

static peer_process g_peer; /* peers_hostile.py: READY <plain port> <tls port> <CA path> */

static bool start_peers(void) {
    if (!peer_start(&g_peer, "peers_hostile.py")) return false;
    bool ok = sscanf(g_peer.ready, "READY %d %d %511s", &g_plain_port, &g_tls_port, g_ca_path) == 3;
    return CHECK(ok) && CHECK_GT(g_plain_port, 0) && CHECK_GT(g_tls_port, 0);
}

/* The peer removes its CA and exits when its stdin closes. */
static void stop_peers(void) { peer_stop(&g_peer); }

static bool load_ca(void) {
    FILE *f = fopen(g_ca_path, "rb");
    if (!CHECK(f != NULL)) return false;
    g_ca = malloc(64 * 1024);
    if (!g_ca) abort();
    g_ca_len = fread(g_ca, 1, 64 * 1024, f);
    fclose(f);
    return CHECK_GT(g_ca_len, 0);
}

/* "ws(s)://127.0.0.1:<port><path>" with %s in the path replaced by id. Never freed. */
static char *peer_url(bool tls, const char *fmt, const char *id) {
    char path[256];
    snprintf(path, sizeof path, fmt, id);
    char *url = malloc(320);
    if (!url) abort();
    snprintf(url, 320, "%s://127.0.0.1:%d%s", tls ? "wss" : "ws", tls ? g_tls_port : g_plain_port, path);
    return url;
}

/* The fd of the last socket libws opened (the socket hook), for the kernel's queue sizes. */
static atomic_int g_last_fd = -1;
static int32_t note_fd(int64_t task_id, int32_t fd, void *user_data) {
    (void)task_id, (void)user_data;
    atomic_store(&g_last_fd, fd);
    return 0;
}

/* Connects (trusting the peers' CA for wss://) and checks "connectSocket:ok". */
static int64_t connect_peer(const char *url, task_rec *rec, bool deflate) {
    result_box *box = new_box();
    ws_connect_options o = rec_options(url, rec, box);
    o.ca_pem = (const uint8_t *)g_ca;
    o.ca_pem_len = g_ca_len;
    o.per_message_deflate = deflate;
    o.on_socket = note_fd;
    int64_t id = ws_connect(&o);
    CHECK_RESULT(box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok");
    return id;
}

/* One text message from the peers: the JSON record answered at `path` (malloc'd). */
static char *peer_json(const char *fmt, const char *id) {
    task_rec *r = rec_new("report");
    int64_t tid = connect_peer(peer_url(false, fmt, id), r, false);
    char *json = NULL;
    if (tid > 0 && WAIT_MESSAGES(r, 1)) {
        rec_event *m = rec_find(r, WS_EVENT_MESSAGE, 0);
        json = calloc(1, m->len + 1);
        if (!json) abort();
        memcpy(json, m->data, m->len);
    }
    if (tid > 0) WAIT_CLOSE(r); /* the peer closes after it */
    return json ? json : strdup("(no report)");
}

/* Resident memory of this process, in bytes. */
static long long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lld %lld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

/* ------------------------------------------------------------------------------------------ */
/* Item 1: SIGPIPE (each runs in a child: before the fix the kernel kills it)                    */

/* On the first message ("go"), stay in the callback for 500 ms, while the peer sends FIN and
 * then RST, then send: that write meets a reset socket. */
static void slow_send_hook(task_rec *rec, const ws_event *e) {
    if (e->kind != WS_EVENT_MESSAGE) return;
    sleep_ms(500);
    result_box *box = rec->hook_data;
    CHECK_EQ(ws_send(e->task_id, (const uint8_t *)"late", 4, WS_TEXT, box_on_result, box), WS_OK);
}

static void slow_callback_then_write(bool tls) {
    task_rec *rec = rec_new(tls ? "wss finrst" : "ws finrst");
    result_box *send = new_box();
    rec->hook = slow_send_hook;
    rec->hook_data = send;
    int64_t id = connect_peer(peer_url(tls, "/finrst?id=%s", unique_id("finrst")), rec, false);
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).messages, 1);
    CHECK_ERROR(rec, WS_ERR_IO, "onSocketError:fail");
    CHECK_CLOSE(rec, 1006, false, NULL);
    /* The send's bytes never reached the peer: its own fail, not an ok. */
    if (CHECK(wait_for(box_called, send))) {
        result_box b = box_get(send);
        CHECK_EQ(b.code, WS_ERR_IO);
        CHECK_PREFIX(b.err_msg, "sendSocketMessage:fail");
    }
    CHECK_BOXES_CALLED_ONCE();
}

static void child_sigpipe_ws_slow_callback(void) { slow_callback_then_write(false); }
static void child_sigpipe_wss_slow_callback(void) { slow_callback_then_write(true); }

/* 16 MiB to a peer that never reads (more than the kernel holds), then its FIN and RST while
 * the rest is due: the task fails and so does the send. Over wss:// the read that notices the
 * FIN writes pending TLS records first. */
static void big_send_then_reset(bool tls) {
    enum { BIG = 16 * MIB };
    task_rec *rec = rec_new(tls ? "wss big send" : "ws big send");
    int64_t id = connect_peer(peer_url(tls, "/sink?id=%s&after=500&fin=1", unique_id("sink")), rec, false);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    uint8_t *data = calloc(1, BIG);
    if (!data) abort();
    result_box *send = new_box();
    CHECK_EQ(ws_send(id, data, BIG, WS_BINARY, box_on_result, send), WS_OK);
    free(data);
    if (!WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_ERROR(rec, WS_ERR_IO, "onSocketError:fail");
    CHECK_CLOSE(rec, 1006, false, NULL);
    if (CHECK(wait_for(box_called, send))) {
        result_box b = box_get(send);
        CHECK_EQ(b.code, WS_ERR_IO);
        CHECK_PREFIX(b.err_msg, "sendSocketMessage:fail");
    }
    CHECK_BOXES_CALLED_ONCE();
}

static void child_sigpipe_ws_big_send(void) { big_send_then_reset(false); }
static void child_sigpipe_wss_big_send(void) { big_send_then_reset(true); }

/* ------------------------------------------------------------------------------------------ */
/* Item 4: announced frame lengths (children: before the fix Rust aborts the process)            */

/* The peer announces a binary frame of `len` bytes, sends 100 of them and closes (FIN). Within
 * the limit: error WS_ERR_IO, close 1006; over it: WS_ERR_MESSAGE_TOO_BIG, close 1009. With
 * deflate a compressed message comes first and must be delivered (inflating with a limit of
 * UINT64_MAX). */
static void huge_frame(uint64_t max_message, uint64_t len, bool deflate) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.max_message_size = max_message;
    if (!runtime_with(&cfg)) return;
    task_rec *rec = rec_new("huge frame");
    char fmt[128];
    snprintf(fmt, sizeof fmt, "/bigframe?id=%%s&len=%llu%s", (unsigned long long)len, deflate ? "&deflate=1" : "");
    int64_t id = connect_peer(peer_url(false, fmt, unique_id("bigframe")), rec, deflate);
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).opens, 1);
    if (CHECK_EQ(rec_get(rec).messages, deflate ? 1 : 0) && deflate) {
        rec_event *m = rec_find(rec, WS_EVENT_MESSAGE, 0);
        CHECK(m->len == 15 && memcmp(m->data, "hello, inflater", 15) == 0);
    }
    bool too_big = len > max_message;
    CHECK_ERROR(rec, too_big ? WS_ERR_MESSAGE_TOO_BIG : WS_ERR_IO, "onSocketError:fail");
    CHECK_CLOSE(rec, too_big ? 1009 : 1006, false, NULL);
}

enum { TIB_SHIFT = 40 };
static void child_huge_frame_u64_max(void) { huge_frame(UINT64_MAX, (uint64_t)1 << 62, false); }
static void child_huge_frame_1_tib(void) { huge_frame((uint64_t)1 << TIB_SHIFT, (uint64_t)1 << 39, false); }
static void child_huge_frame_over_1_tib(void) { huge_frame((uint64_t)1 << TIB_SHIFT, (uint64_t)1 << 62, false); }
static void child_huge_frame_u64_max_deflate(void) { huge_frame(UINT64_MAX, (uint64_t)1 << 62, true); }

/* ------------------------------------------------------------------------------------------ */
/* Running a case in a child                                                                     */

typedef struct {
    const char *name;
    void (*fn)(void);
} child_case;

static const child_case CHILD_CASES[] = {
    {"sigpipe_ws_slow_callback", child_sigpipe_ws_slow_callback},
    {"sigpipe_wss_slow_callback", child_sigpipe_wss_slow_callback},
    {"sigpipe_ws_big_send", child_sigpipe_ws_big_send},
    {"sigpipe_wss_big_send", child_sigpipe_wss_big_send},
    {"huge_frame_u64_max", child_huge_frame_u64_max},
    {"huge_frame_1_tib", child_huge_frame_1_tib},
    {"huge_frame_over_1_tib", child_huge_frame_over_1_tib},
    {"huge_frame_u64_max_deflate", child_huge_frame_u64_max_deflate},
};
enum { N_CHILD_CASES = sizeof CHILD_CASES / sizeof CHILD_CASES[0] };

/* The child's side: the peers' ports and CA come from the environment. */
static int child_main(const char *name) {
    const char *ports = getenv("HOSTILE_PEERS");
    if (!ports || sscanf(ports, "%d %d %511s", &g_plain_port, &g_tls_port, g_ca_path) != 3 || !load_ca()) return 2;
    for (int i = 0; i < N_CHILD_CASES; i++) {
        if (strcmp(CHILD_CASES[i].name, name) == 0) {
            atomic_store(&g_case, name);
            CHILD_CASES[i].fn();
            CHECK_EQ(ws_shutdown(), WS_OK);
            return atomic_load(&g_failed_checks) ? 1 : 0;
        }
    }
    return 2;
}

/* True when every line of text is one of the test's own CHECK FAILED reports. */
static bool only_check_reports(const char *text) {
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n > 0 && !memmem(line, n, "CHECK FAILED", 12)) return false;
        line += n + (end != NULL);
    }
    return true;
}

/* Runs CHILD_CASES[name] as a child process (at most 60 s) and checks it ended well: exit 0,
 * no signal, and nothing on stderr but its own check reports. */
static void run_in_child(const char *name) {
    char err_path[] = "/tmp/test_hostile_io.XXXXXX";
    int err_fd = mkstemp(err_path);
    if (!CHECK(err_fd >= 0)) return;
    unlink(err_path);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    /* Under an emulator (TEST_RUNNER=qemu-aarch64, scripts/arm64/run.sh) the child is this
     * foreign binary again, which only the emulator can run. */
    const char *runner = getenv("TEST_RUNNER");
    bool emulated = runner != NULL && runner[0] != '\0';
    char *plain[] = {(char *)g_argv0, "--child", (char *)name, NULL};
    char *wrapped[] = {(char *)runner, (char *)g_argv0, "--child", (char *)name, NULL};
    pid_t pid;
    int rc = emulated ? posix_spawnp(&pid, runner, &fa, NULL, wrapped, environ)
                      : posix_spawn(&pid, g_argv0, &fa, NULL, plain, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (!CHECK_EQ(rc, 0)) {
        close(err_fd);
        return;
    }
    int status = 0;
    bool ended = false;
    for (int waited = 0; waited < 60000 && !ended; waited += 20) {
        ended = waitpid(pid, &status, WNOHANG) == pid;
        if (!ended) sleep_ms(20);
    }
    if (!ended) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    char err[8192] = "";
    ssize_t got = pread(err_fd, err, sizeof err - 1, 0);
    err[got > 0 ? got : 0] = '\0';
    close(err_fd);
    if (err[0]) fprintf(stderr, "%s", err); /* the child's own reports, or what else it printed */
    check_report(ended, __FILE__, __LINE__, "child %s ended within 60 s", name);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        check_report(false, __FILE__, __LINE__, "child %s was killed by signal %d (%s)%s", name, sig, strsignal(sig),
                     sig == SIGPIPE ? ": libws let a write raise SIGPIPE in its host" : "");
    } else {
        check_report(WEXITSTATUS(status) == 0, __FILE__, __LINE__, "child %s exit status 0 (got %d)", name,
                     WEXITSTATUS(status));
    }
    check_report(only_check_reports(err), __FILE__, __LINE__,
                 "child %s wrote nothing to stderr but its own check reports (libws never prints)", name);
}

static void case_sigpipe_ws_slow_callback(void) { run_in_child("sigpipe_ws_slow_callback"); }
static void case_sigpipe_wss_slow_callback(void) { run_in_child("sigpipe_wss_slow_callback"); }
static void case_sigpipe_ws_big_send(void) { run_in_child("sigpipe_ws_big_send"); }
static void case_sigpipe_wss_big_send(void) { run_in_child("sigpipe_wss_big_send"); }
static void case_huge_frame_u64_max(void) { run_in_child("huge_frame_u64_max"); }
static void case_huge_frame_1_tib(void) { run_in_child("huge_frame_1_tib"); }
static void case_huge_frame_over_1_tib(void) { run_in_child("huge_frame_over_1_tib"); }
static void case_huge_frame_u64_max_deflate(void) { run_in_child("huge_frame_u64_max_deflate"); }

/* ------------------------------------------------------------------------------------------ */
/* Item 2: the send bound, ws:// and wss:// alike                                                */

enum { SENDS = 200, QUEUE_LIMIT = 4 * MIB };

/* 200 sends of 1 MiB, max_send_queue 4 MiB, to a peer that never reads. Each send command is
 * handled before the next is made (a loop barrier), so the caller never holds more than one.
 * Then the peer resets. Checks: every result once; ok, queue full or (after the reset) failed;
 * the ok bytes fit in what the two kernels hold (ok means written to the socket); at most 4
 * accepted sends were still unwritten, and each of those fails; memory stays near the bound. */
static void send_bound(bool tls) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.max_send_queue = QUEUE_LIMIT;
    if (!runtime_with(&cfg)) return;
    const char *rid = unique_id("sink");
    task_rec *rec = rec_new(tls ? "wss sink" : "ws sink");
    int64_t id = connect_peer(peer_url(tls, "/sink?id=%s", rid), rec, false);
    if (id <= 0 || !WAIT_OPEN(rec)) {
        runtime_with(NULL);
        return;
    }
    int fd = atomic_load(&g_last_fd); /* the hook ran before the open event */
    uint8_t *data = calloc(1, MIB);
    result_box *boxes = calloc(SENDS, sizeof *boxes);
    if (!data || !boxes) abort();
    long long rss0 = rss_bytes();
    for (int i = 0; i < SENDS; i++) {
        data[0] = (uint8_t)i;
        CHECK_EQ(ws_send(id, data, MIB, WS_BINARY, box_on_result, &boxes[i]), WS_OK);
        loop_barrier();
    }
    sleep_ms(300); /* let writes reach the kernel; the checks below hold however far they got */
    long long grown = rss_bytes() - rss0;
    int outq = -1;
    CHECK_EQ(ioctl(fd, TIOCOUTQ, &outq), 0); /* unsent bytes in our socket */
    int ok_before = 0;
    for (int i = 0; i < SENDS; i++) ok_before += box_get(&boxes[i]).calls && box_get(&boxes[i]).code == WS_OK;

    char *json = peer_json("/reset?id=%s", rid); /* the peer notes what it holds, then RST */
    long long unread = json_int(json, "unread", -1);
    CHECK_GT(unread, 0);
    WAIT_CLOSE(rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_ERROR(rec, WS_ERR_IO, "onSocketError:fail");
    CHECK_CLOSE(rec, 1006, false, NULL);

    int ok = 0, full = 0, failed = 0, last_ok = -1, first_failed = SENDS;
    for (int i = 0; i < SENDS; i++) {
        if (!check_report(wait_for(box_called, &boxes[i]), __FILE__, __LINE__, "send #%d got its result", i)) break;
        result_box b = box_get(&boxes[i]);
        check_report(b.calls == 1, __FILE__, __LINE__, "send #%d result called once (got %d)", i, b.calls);
        if (b.code == WS_OK) {
            ok++;
            last_ok = i;
        } else if (b.code == WS_ERR_QUEUE_FULL) {
            full++;
            CHECK_CONTAINS(b.err_msg, "send queue full");
        } else if (b.code == WS_ERR_IO) {
            failed++;
            if (i < first_failed) first_failed = i;
            CHECK_CONTAINS(b.err_msg, "message not sent");
        } else {
            check_report(false, __FILE__, __LINE__, "send #%d: ok, queue full or WS_ERR_IO, got %d \"%s\"", i, b.code,
                         str_or_null(b.err_msg));
        }
    }
    printf("    (%s: %d ok, %d queue full, %d failed at the reset; %d bytes unread at the peer, %d in our socket; "
           "RSS grew %lld KiB)\n",
           tls ? "wss" : "ws", ok, full, failed, (int)unread, outq, grown / 1024);
    CHECK_EQ(ok + full + failed, SENDS);
    CHECK_EQ(ok, ok_before); /* nothing became ok after the peer reset */
    check_report((long long)ok * MIB <= unread + outq, __FILE__, __LINE__,
                 "ok only once written: %d ok sends of 1 MiB fit in the %lld bytes the kernels hold", ok,
                 unread + outq);
    check_report(failed >= 1 && failed <= QUEUE_LIMIT / MIB, __FILE__, __LINE__,
                 "1 to %d accepted sends were unwritten at the reset and failed (got %d)", QUEUE_LIMIT / MIB, failed);
    check_report(last_ok < first_failed, __FILE__, __LINE__, "results in send order (ok #%d after failed #%d)", last_ok,
                 first_failed);
    if (!g_valgrind)
        check_report(grown < 32LL * MIB, __FILE__, __LINE__, "RSS grew by less than 32 MiB (got %lld KiB)", grown / 1024);
    free(json);
    free(data);
    for (int i = 0; i < SENDS; i++) free(boxes[i].err_msg);
    free(boxes);
    runtime_with(NULL);
}

static void case_send_bound_ws(void) { send_bound(false); }
static void case_send_bound_wss(void) { send_bound(true); }

/* ------------------------------------------------------------------------------------------ */
/* Item 3: a ping flood                                                                          */

/* The peer sends 2-byte pings for 2 s and reads nothing, then "last-ping" and the text "flood
 * done". RSS, sampled while the flood lasts, must stay within 32 MiB of its value at open. Then
 * with `read` the peer reads: the last pong answers "last-ping", and close ends cleanly (1000);
 * without, our close frame cannot be written and the close times out (1006). */
static void ping_flood(bool tls, bool read) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.close_timeout_ms = 1000;
    if (!runtime_with(&cfg)) return;
    const char *rid = unique_id("flood");
    task_rec *rec = rec_new("ping flood");
    const char *fmt = read ? "/pingflood?id=%s&ms=2000&read=1" : "/pingflood?id=%s&ms=2000&read=0";
    int64_t id = connect_peer(peer_url(tls, fmt, rid), rec, false);
    if (id <= 0 || !WAIT_OPEN(rec)) {
        runtime_with(NULL);
        return;
    }
    long long rss0 = rss_bytes(), peak = rss0;
    for (int waited = 0; waited < WAIT_MS && rec_get(rec).messages + rec_get(rec).closes == 0; waited += 50) {
        sleep_ms(50);
        long long now = rss_bytes();
        if (now > peak) peak = now;
    }
    if (!WAIT_MESSAGES(rec, 1)) {
        runtime_with(NULL);
        return;
    }
    printf("    (%s, peer %s: RSS grew by at most %lld KiB during the flood)\n", tls ? "wss" : "ws",
           read ? "reading after it" : "never reading", (peak - rss0) / 1024);
    if (!g_valgrind)
        check_report(peak - rss0 < 32LL * MIB, __FILE__, __LINE__, "RSS grew by less than 32 MiB (got %lld KiB)",
                     (peak - rss0) / 1024);
    CHECK_EQ(ws_ready_state(id), WS_OPEN);
    CHECK_EQ(ws_close(id, 1000, "enough", NULL, NULL), WS_OK);
    if (!WAIT_CLOSE(rec)) {
        runtime_with(NULL);
        return;
    }
    CHECK_SEQUENCE(rec, id);
    if (read) {
        CHECK_EQ(rec_get(rec).errors, 0);
        CHECK_CLOSE(rec, 1000, true, NULL);
        char *json = peer_json("/report?id=%s", rid);
        char last[32];
        CHECK_STREQ(json_str(json, "last_pong", last, sizeof last), "last-ping");
        CHECK_GT(json_int(json, "pings", 0), 16384);
        CHECK_EQ(json_int(json, "close_code", -1), 1000);
        printf("    (the peer sent %lld pings and got %lld pongs)\n", json_int(json, "pings", 0),
               json_int(json, "pongs", 0));
        free(json);
    } else {
        CHECK_ERROR(rec, WS_ERR_TIMEOUT, "onSocketError:fail");
        CHECK_CLOSE(rec, 1006, false, NULL);
    }
    runtime_with(NULL);
}

/* Bounding pongs must not drop answers a well-behaved peer waits for: ten pings in one write
 * (Autobahn 2.10) get ten pongs, in order. */
static void case_ten_pings_ten_pongs(void) {
    task_rec *rec = rec_new("ten pings");
    int64_t id = connect_peer(peer_url(false, "/tenpings", ""), rec, false);
    if (id <= 0 || !WAIT_MESSAGES(rec, 1) || !WAIT_CLOSE(rec)) return;
    rec_event *m = rec_find(rec, WS_EVENT_MESSAGE, 0);
    char *json = strndup((const char *)m->data, m->len);
    char pongs[256];
    CHECK_STREQ(json_str(json, "pongs", pongs, sizeof pongs),
                "payload-0,payload-1,payload-2,payload-3,payload-4,payload-5,payload-6,payload-7,payload-8,payload-9");
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 1000, true, NULL);
    free(json);
}

static void case_ping_flood_ws_peer_reads_later(void) { ping_flood(false, true); }
static void case_ping_flood_wss_peer_reads_later(void) { ping_flood(true, true); }
static void case_ping_flood_ws_peer_never_reads(void) { ping_flood(false, false); }

/* A hang in libws fails the program instead of hanging it. */
static void *watchdog(void *arg) {
    (void)arg;
    sleep_ms(300 * 1000);
    printf("test_hostile_io: watchdog: still running after 300 s (a hang in libws?)\n0 passed, 1 failed\n");
    fflush(stdout);
    stop_peers();
    _exit(1);
}

int main(int argc, char **argv) {
    /* SIGPIPE keeps its default action: that is the point of half of this program. */
    g_argv0 = argv[0];
    const char *preload = getenv("LD_PRELOAD");
    g_valgrind = preload && strstr(preload, "vgpreload");
    if (argc == 3 && strcmp(argv[1], "--child") == 0) return child_main(argv[2]);

    pthread_t wd;
    pthread_create(&wd, NULL, watchdog, NULL);
    pthread_detach(wd);
    tests_begin("test_hostile_io");
    if (!start_peers() || !load_ca()) {
        stop_peers();
        printf("test_hostile_io: could not start ffi-tests/peers_hostile.py\n0 passed, 1 failed\n");
        return 1;
    }
    char peers[700];
    snprintf(peers, sizeof peers, "%d %d %s", g_plain_port, g_tls_port, g_ca_path);
    setenv("HOSTILE_PEERS", peers, 1);

    /* HOSTILE_ONLY=<part of a case name> runs only the matching cases. */
    const char *only = getenv("HOSTILE_ONLY");
#define RUN(fn) \
    if (!only || strstr(#fn, only)) RUN_CASE(fn)
    RUN(case_sigpipe_ws_slow_callback);
    RUN(case_sigpipe_wss_slow_callback);
    RUN(case_sigpipe_ws_big_send);
    RUN(case_sigpipe_wss_big_send);
    RUN(case_huge_frame_u64_max);
    RUN(case_huge_frame_1_tib);
    RUN(case_huge_frame_over_1_tib);
    RUN(case_huge_frame_u64_max_deflate);
    RUN(case_send_bound_ws);
    RUN(case_send_bound_wss);
    RUN(case_ten_pings_ten_pongs);
    RUN(case_ping_flood_ws_peer_reads_later);
    RUN(case_ping_flood_wss_peer_reads_later);
    RUN(case_ping_flood_ws_peer_never_reads);
    int rc = tests_end();
    stop_peers();
    printf("%d passed, %d failed\n", g_cases_run - g_cases_failed, g_cases_failed);
    return rc;
}
