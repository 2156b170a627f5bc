/* Round trips from ws_connect to the open event (issue 14), counted through ffi-tests/relay.py
 * with RELAY_DELAY_MS=25: 25 ms each way, so one round trip (RTT) is 50 ms and loopback's own
 * cost (well under a millisecond per exchange) disappears in it.
 *
 * Count: (open_us - connect_start_us) of the open event's profile / 50 ms. The relay charges
 * TCP's handshake as a real path would (see relay.py: no client byte is forwarded before one
 * RTT after the accept), because the kernel finishes the connect to a local relay at once. So
 * the counts are what the connection costs on a path with that RTT:
 *   ws://          2 RTT  TCP, then the upgrade request and its response
 *   wss:// full    3 RTT  TCP, TLS 1.3 (ClientHello -> ServerHello..Finished), the upgrade
 *   wss:// resumed 3 RTT  the same: a TLS 1.3 resumption saves the certificate work, not a round
 *                         trip (that would need early data, which libws does not send); the
 *                         target is "no more than full"
 * The profile's split inside that total is not the path's: connect_end_us comes at once and the
 * TCP round trip shows in the first exchange. Only the total is counted.
 *
 * Tolerance: each count is the fastest of ROUNDS connections and must lie in
 * [target - 0.05, target + 0.5). The delays are real sleeps, so a count cannot come out lower
 * than the round trips the client waited for (the 0.05 is clock granularity); one RTT more or
 * less than the target fails; the 25 ms of headroom takes Python's TLS and a busy machine.
 *
 * Peers: the test server (ws://, $WS_BASE) and the wss:// echo server of peers_trust.py (its own
 * CA, TLS 1.3 with session tickets), each behind its own relay.
 */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp, setenv */
#include "common.h"
#include "peer_process.h"
#include "profile_check.h"

#include <ftw.h>

#define DELAY_MS 25
#define RTT_US (2 * DELAY_MS * 1000.0)
#define ROUNDS 3

static peer_process g_tls_peer, g_ws_relay, g_wss_relay;
static char g_dir[] = "/tmp/libws-rtt-XXXXXX";
static char g_ws_url[64], g_wss_url[64];
static char *g_ca;
static size_t g_ca_len;

static void take_profile(task_rec *rec, const ws_event *e) { profile_take(rec->hook_data, e); }

/* Opens url (with the test CA for wss://), checks the profile, echoes once, closes; returns the
 * round trips from the connect start to the open event, or -1 if the task did not open. */
static double open_rtts(const char *url, bool tls, bool *resumed) {
    static profile_copy copies[4 * ROUNDS];
    static int used;
    profile_copy *copy = &copies[used++ % (4 * ROUNDS)];
    memset(copy, 0, sizeof *copy);
    task_rec *rec = rec_new(url);
    rec->hook = take_profile;
    rec->hook_data = copy;
    result_box *box = new_box();
    ws_connect_options o = rec_options(url, rec, box);
    if (tls) {
        o.ca_pem = (const uint8_t *)g_ca;
        o.ca_pem_len = g_ca_len;
    }
    int64_t id = ws_connect(&o);
    if (!CHECK_RESULT(box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok") || !WAIT_OPEN(rec)) return -1;
    char why[512];
    const char *problem = profile_problem(copy, tls, why, sizeof why);
    check_report(problem == NULL, __FILE__, __LINE__, "profile: %s", str_or_null(problem));
    CHECK_EQ(ws_send(id, (const uint8_t *)"rtt", 3, WS_TEXT, NULL, NULL), WS_OK);
    WAIT_MESSAGES(rec, 1);
    CLOSE_AND_WAIT(id, rec);
    const ws_profile *p = &copy->p;
    double rtts = (double)(p->open_us - p->connect_start_us) / RTT_US;
    printf("    %-36s %.2f RTT (connect %.1f ms%s, open %.1f ms after connect start)%s\n", url, rtts,
           (p->connect_end_us - p->connect_start_us) / 1000.0, tls ? " incl. TLS" : "",
           (p->open_us - p->connect_start_us) / 1000.0, p->tls_resumed ? " resumed" : "");
    if (resumed) *resumed = p->tls_resumed;
    return rtts;
}

#define CHECK_RTTS(got, target) check_rtts_at((got), (target), __FILE__, __LINE__)
static bool check_rtts_at(double got, double target, const char *file, int line) {
    return check_report(got >= target - 0.05 && got < target + 0.5, file, line,
                        "%.2f RTT, expected %.0f (tolerance -0.05 / +0.5)", got, target);
}

static double min_of(double a, double b) { return a < 0 ? b : b < 0 ? a : a < b ? a : b; }

/* ws://: TCP and the upgrade. */
static void ws_is_two_round_trips(void) {
    double best = -1;
    for (int i = 0; i < ROUNDS; i++) best = min_of(best, open_rtts(g_ws_url, false, NULL));
    printf("    ws:// %.2f RTT (fastest of %d; target 2)\n", best, ROUNDS);
    CHECK_RTTS(best, 2);
}

/* wss://: in a fresh runtime (an empty session cache) the first connection is a full TLS 1.3
 * handshake, the second one to the same server resumes; neither costs more than 3 RTT. */
static void wss_full_three_resumed_no_more(void) {
    double full = -1, again = -1;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK_EQ(ws_shutdown(), WS_OK); /* the next connect starts a runtime with no sessions */
        bool was_resumed = true, now_resumed = false;
        full = min_of(full, open_rtts(g_wss_url, true, &was_resumed));
        again = min_of(again, open_rtts(g_wss_url, true, &now_resumed));
        CHECK(!was_resumed);
        CHECK(now_resumed);
    }
    printf("    wss:// full %.2f RTT (target 3), resumed %.2f RTT (target <= full), fastest of %d\n", full, again,
           ROUNDS);
    CHECK_RTTS(full, 3);
    check_report(again >= 2 - 0.05 && again < 3.5, __FILE__, __LINE__,
                 "resumed: %.2f RTT, expected at least 2 (TCP, upgrade) and no more than full (3)", again);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

/* A relay with DELAY_MS in front of port. */
static bool relay_to(peer_process *relay, int port) {
    char target[16], delay[16];
    snprintf(target, sizeof target, "%d", port);
    snprintf(delay, sizeof delay, "%d", DELAY_MS);
    setenv("RELAY_TARGET", target, 1);
    setenv("RELAY_DELAY_MS", delay, 1);
    return peer_start(relay, "relay.py");
}

int main(void) {
    tests_begin("test_open_rtt");
    if (!mkdtemp(g_dir)) return 1;
    setenv("TRUST_DIR", g_dir, 1);
    if (!peer_start(&g_tls_peer, "peers_trust.py")) return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/ca.pem", g_dir);
    FILE *f = fopen(path, "rb");
    if (!CHECK(f != NULL)) return 1;
    g_ca = calloc(1, 1 << 16);
    g_ca_len = fread(g_ca, 1, (1 << 16) - 1, f);
    fclose(f);
    const char *base = env_or_die("WS_BASE");
    if (!relay_to(&g_ws_relay, atoi(strrchr(base, ':') + 1)) || !relay_to(&g_wss_relay, g_tls_peer.ports[0])) return 1;
    snprintf(g_ws_url, sizeof g_ws_url, "ws://127.0.0.1:%d/echo", g_ws_relay.ports[0]);
    snprintf(g_wss_url, sizeof g_wss_url, "wss://127.0.0.1:%d/echo", g_wss_relay.ports[0]);
    printf("    one-way delay %d ms, one RTT %.0f ms\n", DELAY_MS, RTT_US / 1000);

    RUN_CASE(ws_is_two_round_trips);
    RUN_CASE(wss_full_three_resumed_no_more);

    peer_stop(&g_wss_relay);
    peer_stop(&g_ws_relay);
    peer_stop(&g_tls_peer);
    nftw(g_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return tests_end();
}
