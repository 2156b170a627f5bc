/* Built against an installed libws with pkg-config: checks the header's version macros against
 * the library it linked, and that a call works end to end without a server. */
#include <libws.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", WS_VERSION_MAJOR, WS_VERSION_MINOR, WS_VERSION_PATCH);
    if (strcmp(ws_version(), expected) != 0) {
        printf("version mismatch: header %s, library %s\n", expected, ws_version());
        return 1;
    }
    ws_connect_options o;
    ws_connect_options_init(&o);
    o.url = "http://example.com/";
    if (ws_connect(&o) != WS_ERR_INVALID_URL) {
        printf("ws_connect with an http:// url did not return WS_ERR_INVALID_URL\n");
        return 1;
    }
    if (ws_shutdown() != WS_OK) return 1;
    printf("consumer ok, libws %s\n", ws_version());
    return 0;
}
