// The header must compile as C++ (extern "C" guards) with warnings as errors, and link.
#include <libws.h>

#include <cstdio>

static void on_event(const ws_event *e, void *) { std::printf("%d\n", static_cast<int>(e->kind)); }

int main() {
    ws_connect_options o;
    ws_connect_options_init(&o);
    o.on_event = on_event;
    return ws_strerror(WS_ERR_CLOSED) != nullptr ? 0 : 1;
}
