/* Host name lookups that hang (issue 11, item 8). This program defines its own getaddrinfo,
 * which the static link puts in front of libc's: names ending in ".slow.test" sleep g_slow_ms and
 * then fail; every other name goes to the real getaddrinfo. So a test can make DNS slow without a
 * slow network or any hook in libws.
 *
 *   - Lookups of tasks already closed do not delay a live task: 16 slow lookups whose tasks were
 *     closed, then ws://localhost opens within its connect timeout (4 s, lookups take 6 s).
 *   - ws_shutdown leaves no libws-dns thread behind: slow lookups in flight when it is called have
 *     finished, and their threads are gone, when it returns (they end within close_timeout_ms).
 *   - A lookup still stuck when close_timeout_ms has passed is left to finish on its own: it ends
 *     later without touching the stopped runtime (valgrind checks that), and libws starts afresh.
 */
#define _GNU_SOURCE
#include "common.h"

#include <dirent.h>
#include <dlfcn.h>
#include <netdb.h>

static atomic_int g_slow_ms = 1000;
static atomic_int g_slow_calls;

static bool slow_name(const char *node) {
    static const char suffix[] = ".slow.test";
    size_t n = node ? strlen(node) : 0, s = sizeof suffix - 1;
    return n >= s && strcmp(node + n - s, suffix) == 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
    if (slow_name(node)) {
        atomic_fetch_add(&g_slow_calls, 1);
        sleep_ms(atomic_load(&g_slow_ms));
        return EAI_NONAME;
    }
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    return real ? real(node, service, hints, res) : EAI_FAIL;
}

/* Threads of this process named libws-dns (the resolver threads). */
static int resolver_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], comm[32] = {0};
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue; /* the thread just ended */
        if (fgets(comm, sizeof comm, f) && strncmp(comm, "libws-dns", 9) == 0) count++;
        fclose(f);
    }
    closedir(d);
    return count;
}

static bool no_resolver_threads(void *arg) {
    (void)arg;
    return resolver_threads() == 0;
}

static char *slow_url(int i) {
    char *url = malloc(64);
    if (!url) abort();
    snprintf(url, 64, "ws://host%d.slow.test:9/", i);
    return url;
}

/* ws://localhost:<port>/echo on the test server. */
static char *localhost_url(void) {
    const char *base = env_or_die("WS_BASE"); /* ws://127.0.0.1:<port> */
    const char *port = strrchr(base, ':');
    char *url = malloc(64);
    if (!url) abort();
    snprintf(url, 64, "ws://localhost%s/echo", port);
    return url;
}

static void init_with_close_timeout(uint32_t ms) {
    ws_config c;
    ws_config_init(&c);
    c.close_timeout_ms = ms;
    runtime_with(&c);
}

#define DEAD 16

static void case_dead_lookups_do_not_delay_a_live_one(void) {
    atomic_store(&g_slow_ms, 6000);
    init_with_close_timeout(WAIT_MS); /* so the final ws_shutdown can wait the lookups out */
    task_rec *dead[DEAD];
    int64_t id[DEAD];
    for (int i = 0; i < DEAD; i++) {
        dead[i] = rec_new("slow lookup, closed");
        id[i] = CONNECT(slow_url(i), dead[i], 100 + i);
    }
    for (int i = 0; i < DEAD; i++) {
        if (id[i] <= 0) continue;
        CHECK_EQ(ws_close(id[i], 1000, NULL, NULL, NULL), WS_OK);
        if (WAIT_CLOSE(dead[i])) CHECK_CLOSE(dead[i], 1006, false, NULL);
    }
    task_rec *live = rec_new("localhost after dead lookups");
    result_box box = {0};
    ws_connect_options o = rec_options(localhost_url(), live, &box);
    o.timeout_ms = 4000;
    int64_t lid = ws_connect(&o);
    CHECK_RESULT(&box, lid > 0 ? WS_OK : lid, WS_OK, "connectSocket:ok");
    if (lid > 0 && WAIT_OPEN(live)) CLOSE_AND_WAIT(lid, live);
    CHECK_EQ(ws_shutdown(), WS_OK);
    CHECK_EQ(resolver_threads(), 0);
}

static void case_no_resolver_thread_outlives_shutdown(void) {
    atomic_store(&g_slow_ms, 1500);
    init_with_close_timeout(WAIT_MS);
    enum { N = 3 };
    task_rec *rec[N];
    int64_t id[N];
    int calls_before = atomic_load(&g_slow_calls);
    for (int i = 0; i < N; i++) {
        rec[i] = rec_new("slow lookup at shutdown");
        id[i] = CONNECT(slow_url(i), rec[i], 200 + i);
    }
    /* Every lookup is inside getaddrinfo before ws_shutdown. */
    for (int waited = 0; atomic_load(&g_slow_calls) - calls_before < N && waited < WAIT_MS; waited += 10) sleep_ms(10);
    CHECK_EQ(atomic_load(&g_slow_calls) - calls_before, N);
    CHECK_EQ(ws_shutdown(), WS_OK);
    CHECK_EQ(resolver_threads(), 0);
    for (int i = 0; i < N; i++)
        if (id[i] > 0) {
            CHECK_SEQUENCE(rec[i], id[i]);
            CHECK_CLOSE(rec[i], 1006, false, NULL);
        }
}

static void case_lookup_stuck_past_close_timeout_is_harmless(void) {
    atomic_store(&g_slow_ms, 2000);
    init_with_close_timeout(100);
    task_rec *rec = rec_new("stuck lookup");
    int calls_before = atomic_load(&g_slow_calls);
    int64_t id = CONNECT(slow_url(0), rec, 300);
    for (int waited = 0; atomic_load(&g_slow_calls) == calls_before && waited < WAIT_MS; waited += 10) sleep_ms(10);
    CHECK_EQ(ws_shutdown(), WS_OK);
    if (id > 0) {
        CHECK_SEQUENCE(rec, id);
        CHECK_CLOSE(rec, 1006, false, NULL);
    }
    /* The stuck thread ends by itself once getaddrinfo returns. */
    CHECK(wait_for(no_resolver_threads, NULL));
    /* A fresh runtime works, with a name lookup. */
    task_rec *again = rec_new("after the stuck lookup");
    int64_t aid = CONNECT(localhost_url(), again, 301);
    if (aid > 0 && WAIT_OPEN(again)) CLOSE_AND_WAIT(aid, again);
    runtime_with(NULL);
}

int main(void) {
    tests_begin("test_dns");
    RUN_CASE(case_dead_lookups_do_not_delay_a_live_one);
    RUN_CASE(case_no_resolver_thread_outlives_shutdown);
    RUN_CASE(case_lookup_stuck_past_close_timeout_is_harmless);
    return tests_end();
}
