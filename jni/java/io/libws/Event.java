package io.libws;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns one libws event, as the shim hands it over (copied bytes in generic slots), into a call of
 * a listener. The slots by kind (libws.h's WS_EVENT_*):
 * <ul>
 * <li>OPEN (1): a = protocol, b = headers ("name\0value\0..."), c = extensions, flag = compressed;
 * p = the profile's numbers (ws_profile's eight timestamps in order, fetch_start_unix_us, attempts,
 * tls_resumed as 0/1, proxy_start_us, proxy_end_us), s = its strings ("tls_version\0tls_cipher\0peer_address\0")</li>
 * <li>MESSAGE (2): a = data, flag = text</li>
 * <li>ERROR (3): code, a = errMsg</li>
 * <li>CLOSE (4): code, a = reason, flag = wasClean</li>
 * </ul>
 */
final class Event {
    static final int OPEN = 1;
    static final int MESSAGE = 2;
    static final int ERROR = 3;
    static final int CLOSE = 4;

    private Event() {}

    static void deliver(Libws.GlobalListener l, int kind, long taskId, int code, byte[] a, byte[] b, byte[] c,
            boolean flag, long[] p, byte[] s) {
        switch (kind) {
            case OPEN:
                l.onOpen(taskId, new WebSocketTask.Open(decode(a), headers(b), decode(c), flag, profile(p, s)));
                break;
            case MESSAGE:
                if (flag) {
                    l.onMessage(taskId, decode(a));
                } else {
                    l.onMessage(taskId, a == null ? new byte[0] : a);
                }
                break;
            case ERROR:
                l.onError(taskId, code, decode(a));
                break;
            case CLOSE:
                l.onClose(taskId, code, decode(a), flag);
                break;
            default:
                break; // a kind newer than this binding
        }
    }

    /** The open event's profile; null if the shim could not copy it. */
    private static WebSocketTask.Profile profile(long[] p, byte[] s) {
        if (p == null || p.length < 13) {
            return null;
        }
        List<String> strings = splitNul(s);
        while (strings.size() < 3) {
            strings.add("");
        }
        return new WebSocketTask.Profile(p, strings.get(0), strings.get(1), strings.get(2));
    }

    static String decode(byte[] utf8) {
        return utf8 == null ? "" : new String(utf8, StandardCharsets.UTF_8);
    }

    /** Header names are case-insensitive; repeated headers are joined with ", ". */
    private static Map<String, String> headers(byte[] block) {
        Map<String, String> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        List<String> parts = splitNul(block);
        for (int i = 0; i + 1 < parts.size(); i += 2) {
            headers.merge(parts.get(i), parts.get(i + 1), (x, y) -> x + ", " + y);
        }
        return Collections.unmodifiableMap(headers);
    }

    private static List<String> splitNul(byte[] block) {
        List<String> out = new ArrayList<>();
        if (block == null) {
            return out;
        }
        int start = 0;
        for (int i = 0; i < block.length; i++) {
            if (block[i] == 0) {
                out.add(new String(block, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        return out;
    }
}
