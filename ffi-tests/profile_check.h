/* The connection profile of the open event (ws_event.profile), for the tests that check it:
 * a copy that outlives the callback, and the rules every profile must keep. Header-only; include
 * after libws.h. */
#ifndef FFI_TESTS_PROFILE_CHECK_H
#define FFI_TESTS_PROFILE_CHECK_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "libws.h"

typedef struct profile_copy {
    bool got; /* the open event carried a profile */
    ws_profile p;
    char tls_version[32], tls_cipher[96], peer_address[96];
} profile_copy;

/* Copies the open event's profile (call from the event callback). */
static inline void profile_take(profile_copy *c, const ws_event *e) {
    if (e->kind != WS_EVENT_OPEN || !e->profile) return;
    c->p = *e->profile;
    snprintf(c->tls_version, sizeof c->tls_version, "%s", e->profile->tls_version ? e->profile->tls_version : "(null)");
    snprintf(c->tls_cipher, sizeof c->tls_cipher, "%s", e->profile->tls_cipher ? e->profile->tls_cipher : "(null)");
    snprintf(c->peer_address, sizeof c->peer_address, "%s", e->profile->peer_address ? e->profile->peer_address : "(null)");
    c->p.tls_version = c->p.tls_cipher = c->p.peer_address = NULL; /* dead after the callback */
    c->got = true;
}

/* NULL when the profile keeps the header's rules (ordered timestamps, TLS fields set exactly for
 * wss://), else what is wrong, in `why`. */
static inline const char *profile_problem(const profile_copy *c, bool tls, char *why, size_t n) {
    const ws_profile *p = &c->p;
    if (!c->got) return snprintf(why, n, "the open event had no profile"), why;
    const unsigned long long t[] = {p->fetch_start_us, p->domain_lookup_start_us, p->domain_lookup_end_us,
                                    p->connect_start_us, tls ? p->tls_start_us : p->connect_start_us,
                                    tls ? p->tls_end_us : p->connect_end_us, p->connect_end_us, p->open_us};
    static const char *const names[] = {"fetch_start", "domain_lookup_start", "domain_lookup_end", "connect_start",
                                        "tls_start", "tls_end", "connect_end", "open"};
    if (t[0] == 0) return snprintf(why, n, "fetch_start_us is 0"), why;
    for (int i = 1; i < 8; i++)
        if (t[i] < t[i - 1])
            return snprintf(why, n, "%s_us %llu < %s_us %llu", names[i], t[i], names[i - 1], t[i - 1]), why;
    if (tls && p->tls_end_us != p->connect_end_us)
        return snprintf(why, n, "wss://: connect_end_us %llu != tls_end_us %llu", (unsigned long long)p->connect_end_us,
                        (unsigned long long)p->tls_end_us), why;
    if (!tls && (p->tls_start_us || p->tls_end_us || p->tls_resumed || c->tls_version[0] || c->tls_cipher[0]))
        return snprintf(why, n, "ws:// has TLS fields (%llu, %llu, \"%s\", \"%s\")", (unsigned long long)p->tls_start_us,
                        (unsigned long long)p->tls_end_us, c->tls_version, c->tls_cipher), why;
    if (tls && (strcmp(c->tls_version, "TLSv1.3") != 0 || strncmp(c->tls_cipher, "TLS_", 4) != 0))
        return snprintf(why, n, "wss://: TLS version \"%s\", cipher \"%s\"", c->tls_version, c->tls_cipher), why;
    if ((p->proxy_start_us == 0) != (p->proxy_end_us == 0))
        return snprintf(why, n, "proxy_start_us %llu and proxy_end_us %llu: both set or both 0",
                        (unsigned long long)p->proxy_start_us, (unsigned long long)p->proxy_end_us), why;
    if (p->proxy_start_us) {
        const unsigned long long q[] = {p->connect_start_us, p->proxy_start_us, p->proxy_end_us,
                                        tls ? p->tls_start_us : p->connect_end_us};
        const char *const qn[] = {"connect_start", "proxy_start", "proxy_end", tls ? "tls_start" : "connect_end"};
        for (int i = 1; i < 4; i++)
            if (q[i] < q[i - 1])
                return snprintf(why, n, "%s_us %llu < %s_us %llu", qn[i], q[i], qn[i - 1], q[i - 1]), why;
    }
    if (p->attempts < 1) return snprintf(why, n, "attempts %u", p->attempts), why;
    if (p->fetch_start_unix_us < 1600000000LL * 1000000LL)
        return snprintf(why, n, "fetch_start_unix_us %lld is no wall-clock time", (long long)p->fetch_start_unix_us), why;
    return NULL;
}

#endif
