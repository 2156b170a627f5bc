/* The per-group limit (default 5 open-or-connecting sockets): the 6th connect is refused with
 * WS_ERR_TOO_MANY_CONNECTIONS, other groups are not affected, and a slot is free again once a
 * task's close event runs (even from inside that close callback).
 */
#include "common.h"

#define LIMIT 5

typedef struct {
    task_rec *rec[LIMIT];
    int64_t id[LIMIT];
} full_group;

/* Opens LIMIT sockets to url in group; waits for open unless connecting_only. */
static void fill_group(full_group *g, const char *url, uint64_t group, bool connecting_only) {
    for (int i = 0; i < LIMIT; i++) {
        g->rec[i] = rec_new("member");
        g->id[i] = CONNECT(url, g->rec[i], group);
        if (g->id[i] > 0 && !connecting_only) WAIT_OPEN(g->rec[i]);
    }
}

static void empty_group(full_group *g) {
    for (int i = 0; i < LIMIT; i++) {
        if (g->id[i] <= 0) continue;
        if (rec_get(g->rec[i]).closes == 0) CLOSE_AND_WAIT(g->id[i], g->rec[i]);
        CHECK_SEQUENCE(g->rec[i], g->id[i]);
    }
}

/* A connect over the limit: refused synchronously and through its callback, with no event. */
#define EXPECT_REFUSED(url, group, limit_text) expect_refused_at((url), (group), (limit_text), __FILE__, __LINE__)
static void expect_refused_at(const char *url, uint64_t group, const char *limit_text, const char *file, int line) {
    task_rec *rec = rec_new("refused");
    result_box box = {0};
    ws_connect_options o = rec_options(url, rec, &box);
    o.group = group;
    int64_t id = ws_connect(&o);
    check_result(&box, id, WS_ERR_TOO_MANY_CONNECTIONS, "connectSocket:fail", file, line);
    result_box b = box_get(&box);
    check_report(b.err_msg && strstr(b.err_msg, "exceed max concurrent count"), file, line,
                 "err_msg \"%s\" contains \"exceed max concurrent count\"", str_or_null(b.err_msg));
    check_report(b.err_msg && strstr(b.err_msg, limit_text), file, line, "err_msg \"%s\" contains \"%s\"",
                 str_or_null(b.err_msg), limit_text);
    loop_barrier(); /* a second result or a stray event would have come by now */
    check_report(box_get(&box).calls == 1, file, line, "result callback called once (got %d)", box_get(&box).calls);
    check_report(rec_get(rec).n == 0, file, line, "a refused connect delivers no event (got %zu)", rec_get(rec).n);
}

static void case_sixth_connect_refused_then_slot_freed(void) {
    const uint64_t group = 501;
    char *url = ws_url("/echo");
    full_group g;
    fill_group(&g, url, group, false);

    EXPECT_REFUSED(url, group, "connectSocket:fail exceed max concurrent count (5)");

    /* Another group is not affected. */
    task_rec *other = rec_new("other group");
    int64_t other_id = CONNECT(url, other, group + 1);
    if (other_id > 0 && WAIT_OPEN(other)) CLOSE_AND_WAIT(other_id, other);

    /* Once one member is CLOSED (its close event ran), the group has room for exactly one more. */
    CLOSE_AND_WAIT(g.id[0], g.rec[0]);
    CHECK_SEQUENCE(g.rec[0], g.id[0]);
    task_rec *again = rec_new("after close");
    int64_t again_id = CONNECT(url, again, group);
    if (again_id > 0) WAIT_OPEN(again);
    CHECK(again_id > g.id[LIMIT - 1]); /* ids are never reused */
    EXPECT_REFUSED(url, group, "(5)");

    if (again_id > 0) CLOSE_AND_WAIT(again_id, again);
    empty_group(&g);
}

/* CONNECTING sockets count too (here: 5 to a server that never answers the handshake). */
static void case_connecting_sockets_count(void) {
    const uint64_t group = 503;
    full_group g;
    fill_group(&g, silent_url(), group, true);
    for (int i = 0; i < LIMIT; i++) CHECK_EQ(ws_ready_state(g.id[i]), WS_CONNECTING);
    EXPECT_REFUSED(silent_url(), group, "(5)");
    empty_group(&g);
    for (int i = 0; i < LIMIT; i++) CHECK_CLOSE(g.rec[i], 1006, false, NULL);
}

/* Group 0 is a group like the others. */
static void case_group_zero_has_the_limit(void) {
    full_group g;
    fill_group(&g, silent_url(), 0, true);
    EXPECT_REFUSED(silent_url(), 0, "(5)");
    empty_group(&g);
}

/* Connecting from inside a close callback: the closing task's slot is already free. */
typedef struct {
    uint64_t group;
    int64_t new_id;
    task_rec *new_rec;
    result_box *new_box;
    int hook_runs;
} reconnect;

static void reconnect_on_close(task_rec *rec, const ws_event *e) {
    if (e->kind != WS_EVENT_CLOSE) return;
    reconnect *rc = rec->hook_data;
    ws_connect_options o = rec_options(ws_url("/echo"), rc->new_rec, rc->new_box);
    o.group = rc->group;
    int64_t id = ws_connect(&o); /* no g_mu held here: see common.h */
    pthread_mutex_lock(&g_mu);
    rc->new_id = id;
    rc->hook_runs++;
    pthread_mutex_unlock(&g_mu);
}

static void case_connect_from_close_callback(void) {
    const uint64_t group = 504;
    char *url = ws_url("/echo");
    full_group g;
    fill_group(&g, url, group, false);

    reconnect rc = {group, 0, rec_new("reconnected"), calloc(1, sizeof(result_box)), 0};
    pthread_mutex_lock(&g_mu);
    g.rec[0]->hook_data = &rc;
    g.rec[0]->hook = reconnect_on_close;
    pthread_mutex_unlock(&g_mu);

    CLOSE_AND_WAIT(g.id[0], g.rec[0]);
    pthread_mutex_lock(&g_mu);
    int64_t new_id = rc.new_id;
    int runs = rc.hook_runs;
    pthread_mutex_unlock(&g_mu);
    CHECK_EQ(runs, 1);
    if (CHECK_GT(new_id, 0)) {
        CHECK_RESULT(rc.new_box, WS_OK, WS_OK, "connectSocket:ok");
        if (WAIT_OPEN(rc.new_rec)) CLOSE_AND_WAIT(new_id, rc.new_rec);
        CHECK_SEQUENCE(rc.new_rec, new_id);
    } else {
        fprintf(stderr, "  ws_connect from the close callback returned %lld (%s)\n", (long long)new_id,
                ws_strerror((int32_t)new_id));
    }
    empty_group(&g);
}

int main(void) {
    tests_begin("test_limits");
    RUN_CASE(case_sixth_connect_refused_then_slot_freed);
    RUN_CASE(case_connecting_sockets_count);
    RUN_CASE(case_group_zero_has_the_limit);
    RUN_CASE(case_connect_from_close_callback);
    return tests_end();
}
