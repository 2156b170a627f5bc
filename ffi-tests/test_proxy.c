/* Proxies, through the C ABI only: Debian's tinyproxy (HTTP CONNECT) and microsocks (SOCKS5),
 * with and without credentials, for ws:// and wss://, and a hostile proxy of our own (407, 502,
 * garbage, silence, a closed connection, an answer split byte by byte, every SOCKS5 reply code).
 * ffi-tests/peers_proxy.py starts them all and writes their ports into $PROXY_DIR/ports.
 * Every failure is checked for its code and errMsg, and that the password never shows; the
 * process's descriptors are counted before and after, so a leaked socket fails the run.
 */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp, setenv */
#include "common.h"
#include "peer_process.h"
#include "profile_check.h"

#include <dirent.h>
#include <ftw.h>

static peer_process g_peer;
static char g_dir[] = "/tmp/libws-proxy-XXXXXX";
static int p_ws, p_wss, p_tiny, p_tiny_auth, p_socks, p_socks_auth, p_hostile;
static char *g_ca;
static size_t g_ca_len;

static int port_of(const char *ports, const char *name) {
    char key[64];
    snprintf(key, sizeof key, "\n%s=", name);
    const char *p = strstr(ports, key);
    return p ? atoi(p + strlen(key)) : 0;
}

static char *read_all(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf + 1, 1, (1 << 16) - 2, f); /* buf[0] = '\n', so every key follows one */
    buf[0] = '\n';
    fclose(f);
    if (len) *len = n;
    return buf;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static char *fmt(const char *f, ...) {
    char *s = malloc(512);
    va_list ap;
    va_start(ap, f);
    vsnprintf(s, 512, f, ap);
    va_end(ap);
    return s; /* leaked, like recorders */
}

typedef struct via {
    const char *proxy;
    bool no_proxy;
    uint32_t timeout_ms;
} via;

/* The open event's profile of the last task `run` started (the cases run one at a time). */
static profile_copy g_profile;
static void take_profile(task_rec *rec, const ws_event *e) { profile_take(rec->hook_data, e); }

/* Connects to url through `v`; echoes once if it opened, then closes; returns the recorder. */
static task_rec *run(const char *name, const char *url, via v) {
    task_rec *rec = rec_new(name);
    memset(&g_profile, 0, sizeof g_profile);
    rec->hook_data = &g_profile;
    rec->hook = take_profile;
    result_box *box = new_box();
    ws_connect_options o = rec_options(url, rec, box);
    o.proxy = v.proxy;
    o.no_proxy = v.no_proxy;
    if (v.timeout_ms) o.timeout_ms = v.timeout_ms;
    o.ca_pem = (const uint8_t *)g_ca + 1;
    o.ca_pem_len = g_ca_len;
    int64_t id = ws_connect(&o);
    if (!CHECK_RESULT(box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok")) return rec;
    wait_for(rec_has_open_or_close, rec);
    if (rec_get(rec).opens == 1) {
        CHECK_EQ(ws_send(id, (const uint8_t *)"through", 7, WS_TEXT, NULL, NULL), WS_OK);
        if (WAIT_MESSAGES(rec, 1)) CHECK(memcmp(rec_find(rec, WS_EVENT_MESSAGE, 0)->data, "through", 7) == 0);
        CLOSE_AND_WAIT(id, rec);
    } else {
        WAIT_CLOSE(rec);
    }
    CHECK_SEQUENCE(rec, id);
    return rec;
}

static void opens(const char *name, const char *url, via v) {
    task_rec *rec = run(name, url, v);
    WAIT_OPEN(rec);
    CHECK_CLOSE(rec, 1000, true, "done");
    /* The profile shows the proxy phase: connect_start <= proxy_start <= proxy_end <= TLS/connect_end. */
    char why[256];
    const char *problem = profile_problem(&g_profile, strncmp(url, "wss:", 4) == 0, why, sizeof why);
    check_report(!problem, __FILE__, __LINE__, "%s: profile: %s", name, str_or_null(problem));
    if (v.no_proxy) CHECK_EQ(g_profile.p.proxy_start_us, 0);
    else CHECK_GT(g_profile.p.proxy_start_us, 0);
}

/* Fails with `code` and an errMsg starting with `prefix` and holding `also`; no password in it. */
static void fails(const char *name, const char *url, via v, int32_t code, const char *prefix, const char *also) {
    task_rec *rec = run(name, url, v);
    CHECK_EQ(rec_get(rec).opens, 0);
    CHECK_ERROR(rec, code, prefix);
    CHECK_CLOSE(rec, 1006, false, NULL);
    rec_event *e = rec_find(rec, WS_EVENT_ERROR, 0);
    const char *msg = e && e->err_msg ? e->err_msg : "";
    if (also) CHECK_CONTAINS(msg, also);
    CHECK(strstr(msg, "s3cret") == NULL);
}

static char *ws_target(void) { return fmt("ws://127.0.0.1:%d/echo", p_ws); }
static char *wss_target(void) { return fmt("wss://localhost:%d/echo", p_wss); }

/* ------------------------------------------------------------------------------------------ */

static void http_connect_ws_and_wss(void) {
    char *proxy = fmt("http://127.0.0.1:%d", p_tiny);
    opens("tinyproxy ws", ws_target(), (via){proxy, false, 0});
    opens("tinyproxy wss", wss_target(), (via){proxy, false, 0});
}

static void http_connect_credentials(void) {
    opens("right", wss_target(), (via){fmt("http://libws:s3cret-pw@127.0.0.1:%d", p_tiny_auth), false, 0});
    char *wrong = fmt("http://libws:s3cret-wrong@127.0.0.1:%d", p_tiny_auth);
    fails("wrong", ws_target(), (via){wrong, false, 0}, WS_ERR_PROXY,
          fmt("connectSocket:fail proxy http://127.0.0.1:%d: refused the tunnel: \"HTTP/1.", p_tiny_auth),
          "(the proxy refused the credentials)"); /* tinyproxy answers 401, not 407 */
    fails("none", ws_target(), (via){fmt("http://127.0.0.1:%d", p_tiny_auth), false, 0}, WS_ERR_PROXY,
          "connectSocket:fail proxy ", "(the proxy wants credentials");
}

static void socks5_ws_and_wss(void) {
    char *proxy = fmt("socks5://127.0.0.1:%d", p_socks);
    opens("microsocks ws", ws_target(), (via){proxy, false, 0});
    opens("microsocks wss by name", wss_target(), (via){proxy, false, 0});
}

static void socks5_credentials(void) {
    opens("right", wss_target(), (via){fmt("socks5://libws:s3cret@127.0.0.1:%d", p_socks_auth), false, 0});
    fails("wrong", ws_target(), (via){fmt("socks5://libws:s3cret-wrong@127.0.0.1:%d", p_socks_auth), false, 0},
          WS_ERR_PROXY, fmt("connectSocket:fail proxy socks5://127.0.0.1:%d: ", p_socks_auth), NULL);
    fails("none", ws_target(), (via){fmt("socks5://127.0.0.1:%d", p_socks_auth), false, 0}, WS_ERR_PROXY,
          "connectSocket:fail proxy ", "accepts none of the authentication methods offered (no authentication)");
}

/* The server's name goes to the proxy: libws itself could not resolve it (.test). */
static void socks5_resolves_the_name_remotely(void) {
    opens("remote name", "ws://echo.libws.test/echo", (via){fmt("socks5://127.0.0.1:%d", p_hostile), false, 0});
}

static void hostile_http_proxy(void) {
    char *proxy = fmt("http://127.0.0.1:%d", p_hostile);
    char *prefix = fmt("connectSocket:fail proxy %s: ", proxy);
    fails("407", "ws://407.hostile/", (via){proxy, false, 0}, WS_ERR_PROXY, prefix,
          "refused the tunnel: \"HTTP/1.1 407 Proxy Authentication Required\"");
    fails("502", "wss://502.hostile/", (via){proxy, false, 0}, WS_ERR_PROXY, prefix,
          "refused the tunnel: \"HTTP/1.1 502 Bad Gateway\"");
    fails("garbage", "ws://garbage.hostile/", (via){proxy, false, 0}, WS_ERR_PROXY, prefix,
          "not an HTTP answer: \"....junk\"");
    fails("close", "ws://close.hostile/", (via){proxy, false, 0}, WS_ERR_PROXY, prefix,
          "connection closed before the proxy answered");
    fails("silence", "ws://silence.hostile/", (via){proxy, false, 1500}, WS_ERR_PROXY, prefix,
          "timeout: no answer from the proxy");
    opens("split byte by byte", "ws://split.hostile/echo", (via){proxy, false, 0});
}

static void hostile_socks5_reply_codes(void) {
    const char *names[] = {"", "general SOCKS server failure (1)", "connection not allowed by ruleset (2)",
                           "network unreachable (3)", "host unreachable (4)", "connection refused (5)",
                           "TTL expired (6)", "command not supported (7)", "address type not supported (8)",
                           "unassigned reply code 9"};
    char *proxy = fmt("socks5://127.0.0.1:%d", p_hostile);
    for (int code = 1; code <= 9; code++)
        fails(names[code], fmt("ws://rep%d.hostile:81/", code), (via){proxy, false, 0}, WS_ERR_PROXY,
              fmt("connectSocket:fail proxy %s: could not connect to rep%d.hostile:81: ", proxy, code), names[code]);
}

static void proxy_not_listening(void) {
    fails("refused", ws_target(), (via){"http://libws:s3cret@127.0.0.1:1", false, 0}, WS_ERR_CONNECT,
          "connectSocket:fail could not connect to proxy http://127.0.0.1:1 at 127.0.0.1:1: connection refused", NULL);
}

static void bad_proxy_urls_are_refused_at_the_call(void) {
    const char *cases[][2] = {
        {"ftp://u:s3cret@h", "connectSocket:fail proxy: scheme must be http://, socks5:// or socks5h://"},
        {"127.0.0.1:3128", "connectSocket:fail proxy: missing scheme"},
        {"http://u:s3cret@h:99999", "connectSocket:fail proxy: bad host or port"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result_box *box = new_box();
        ws_connect_options o = rec_options(ws_target(), NULL, box);
        o.proxy = cases[i][0];
        CHECK_RESULT(box, ws_connect(&o), WS_ERR_INVALID_ARGUMENT, cases[i][1]);
        CHECK(strstr(box_get(box).err_msg ? box_get(box).err_msg : "", "s3cret") == NULL);
    }
    CHECK_BOXES_CALLED_ONCE();
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.proxy = "gopher://x";
    CHECK_EQ(ws_shutdown(), WS_OK);
    CHECK_EQ(ws_init(&cfg), WS_ERR_INVALID_ARGUMENT);
}

/* A runtime-wide proxy applies to every task; a task may name its own or none. */
static void runtime_proxy_and_overrides(void) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.proxy = fmt("http://127.0.0.1:%d", p_hostile);
    if (!runtime_with(&cfg)) return;
    fails("runtime's", "ws://407.hostile/", (via){NULL, false, 0}, WS_ERR_PROXY, "connectSocket:fail proxy ", "407");
    opens("runtime's tunnels", ws_target(), (via){NULL, false, 0});
    opens("no_proxy", ws_target(), (via){NULL, true, 0});
    opens("task's own", "ws://echo.libws.test/echo", (via){fmt("socks5://127.0.0.1:%d", p_hostile), false, 0});
    runtime_with(NULL);
}

static int g_fds_before;
static void fds_are_not_leaked(void) {
    loop_barrier();
    int after = count_fds();
    CHECK_EQ(after, g_fds_before);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

int main(void) {
    tests_begin("test_proxy");
    if (!mkdtemp(g_dir)) return 1;
    setenv("PROXY_DIR", g_dir, 1);
    if (!peer_start(&g_peer, "peers_proxy.py")) return 1;
    char *ports = read_all("ports", NULL);
    g_ca = read_all("ca.pem", &g_ca_len);
    if (!ports || !g_ca) return 1;
    p_ws = port_of(ports, "ws"), p_wss = port_of(ports, "wss"), p_hostile = port_of(ports, "hostile");
    p_tiny = port_of(ports, "tinyproxy"), p_tiny_auth = port_of(ports, "tinyproxy_auth");
    p_socks = port_of(ports, "microsocks"), p_socks_auth = port_of(ports, "microsocks_auth");

    /* The runtime's own descriptors (poller, waker) exist from here on. */
    CHECK_EQ(ws_init(NULL), WS_OK);
    g_fds_before = count_fds();

    RUN_CASE(http_connect_ws_and_wss);
    RUN_CASE(http_connect_credentials);
    RUN_CASE(socks5_ws_and_wss);
    RUN_CASE(socks5_credentials);
    RUN_CASE(socks5_resolves_the_name_remotely);
    RUN_CASE(hostile_http_proxy);
    RUN_CASE(hostile_socks5_reply_codes);
    RUN_CASE(proxy_not_listening);
    RUN_CASE(fds_are_not_leaked);
    RUN_CASE(bad_proxy_urls_are_refused_at_the_call);
    RUN_CASE(runtime_proxy_and_overrides);

    int rc = tests_end();
    peer_stop(&g_peer);
    nftw(g_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return rc;
}
