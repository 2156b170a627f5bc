package io.libws;

import java.io.FileDescriptor;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One WebSocket connection over libws: the mini-program {@code SocketTask}.
 *
 * <h2>Threads</h2>
 * Every method may be called from any thread. Every {@link Listener} and {@link ResultCallback}
 * call runs on libws's own thread (named "libws", attached to the JVM as a daemon thread), one at a
 * time, so listeners must not block for long. A listener may call any method of this class,
 * including {@link #close} on its own task and {@link #connect}; only {@link #shutdown} is refused
 * there. Events can arrive before {@link #connect} returns: a listener that needs its task gets it
 * in {@link Listener#onCreate}.
 *
 * <h2>Events</h2>
 * Per task, in order: {@code onOpen} or {@code onError}, then messages, then exactly one
 * {@code onClose}, and nothing after it. {@code onError} is always followed by {@code onClose}.
 * An exception thrown by a listener or result callback is caught and handed to the
 * {@linkplain #setExceptionHandler exception handler}; it never reaches libws.
 *
 * <h2>Results</h2>
 * {@link #send} and {@link #close} return the libws code at once ({@code 0} = queued/accepted,
 * negative = refused; see {@link #strerror}) and, when given a {@link ResultCallback}, call it exactly
 * once with the outcome and the mini-program errMsg: {@code "sendSocketMessage:ok"} when the whole
 * message reached the kernel, {@code "sendSocketMessage:fail socket is not OPEN ..."},
 * {@code "closeSocket:ok"}, {@code "closeSocket:fail invalid close code 999 ..."}.
 * {@link #connect} throws a {@link WebSocketException} carrying the {@code "connectSocket:fail ..."}
 * errMsg when libws refuses the call (bad URL, forbidden header, too many connections); network
 * failures after that (refused, DNS, timeout, handshake) arrive as {@code onError} then
 * {@code onClose(1006)}.
 *
 * <h2>Strings</h2>
 * Strings go to libws as UTF-8 and text messages come back decoded from UTF-8, so every Unicode
 * character (including non-BMP ones such as emoji) round-trips exactly. A text message holding an
 * unpaired surrogate is not valid UTF-8: libws refuses it ({@code WS_ERR_INVALID_UTF8}). The URL,
 * header names and values, protocols and the close reason are C strings for libws: a NUL character
 * in them is an {@link IllegalArgumentException}.
 */
public final class WebSocketTask {
    /** readyState: connecting (DNS, TCP, handshake). */
    public static final int CONNECTING = 0;
    /** readyState: open; messages flow both ways. */
    public static final int OPEN = 1;
    /** readyState: a close frame was sent or received. */
    public static final int CLOSING = 2;
    /** readyState: closed; {@code onClose} was (or is being) delivered. */
    public static final int CLOSED = 3;

    /** Result code: success. Negative codes are libws's {@code WS_ERR_*}; see {@link #strerror}. */
    public static final int WS_OK = 0;
    public static final int WS_ERR_INVALID_ARGUMENT = -1;
    public static final int WS_ERR_INVALID_URL = -2;
    public static final int WS_ERR_INVALID_HEADER = -3;
    public static final int WS_ERR_TOO_MANY_CONNECTIONS = -4;
    public static final int WS_ERR_UNKNOWN_TASK = -5;
    public static final int WS_ERR_CLOSED = -6;
    public static final int WS_ERR_NOT_OPEN = -7;
    public static final int WS_ERR_INVALID_CLOSE_CODE = -8;
    public static final int WS_ERR_REASON_TOO_LONG = -9;
    public static final int WS_ERR_INVALID_UTF8 = -10;
    public static final int WS_ERR_MESSAGE_TOO_BIG = -11;
    public static final int WS_ERR_QUEUE_FULL = -12;
    public static final int WS_ERR_TIMEOUT = -13;
    public static final int WS_ERR_DNS = -14;
    public static final int WS_ERR_CONNECT = -15;
    public static final int WS_ERR_HANDSHAKE = -16;
    public static final int WS_ERR_IO = -17;
    public static final int WS_ERR_PROTOCOL = -18;
    public static final int WS_ERR_TLS = -19;
    public static final int WS_ERR_SHUTTING_DOWN = -20;
    public static final int WS_ERR_RUNTIME = -21;
    public static final int WS_ERR_PANIC = -22;
    public static final int WS_ERR_ABORTED = -23;
    public static final int WS_ERR_WRONG_THREAD = -24;
    public static final int WS_ERR_UNKNOWN_LISTENER = -25;
    public static final int WS_ERR_ALREADY_RUNNING = -26;
    /** A {@link Dispatcher} still needed was closed (its tasks' onClose not run yet, items queued). */
    public static final int WS_ERR_BUSY = -27;
    /**
     * The proxy ({@link ConnectOptions.Builder#proxy}, {@link Libws.Config.Builder#proxy}) did not
     * open the tunnel: it refused, answered garbage, closed, or did not answer in time. The errMsg
     * names the proxy ({@code "proxy http://127.0.0.1:3128: ..."}), never its credentials.
     */
    public static final int WS_ERR_PROXY = -28;

    /** How long {@link #connect} waits for libws's errMsg of a refused call (never on the libws thread). */
    private static final long CONNECT_FAIL_WAIT_MS = 10_000;

    static {
        // -Dio.libws.library=/path/to/libws_jni.so wins; otherwise java.library.path (Android:
        // jniLibs/<abi>/libws_jni.so).
        String path = System.getProperty("io.libws.library");
        if (path != null && !path.isEmpty()) {
            System.load(path);
        } else {
            System.loadLibrary("ws_jni");
        }
    }

    /**
     * The events of one task. Every method runs on the libws thread, except {@link #onCreate};
     * all default to doing nothing.
     */
    public interface Listener {
        /**
         * Called once by {@link #connect}, on the calling thread, with the new task before it
         * starts: events may arrive before {@code connect} returns, so a listener that wants to use
         * its task (send in onOpen, close in onMessage) keeps it from here. An exception thrown here
         * is thrown by {@code connect}, and the task is never started.
         */
        default void onCreate(WebSocketTask task) {}

        /**
         * The handshake succeeded, with everything the server said: response headers, the chosen
         * subprotocol, the extensions in effect. By default calls {@link #onOpen(String, Map)}.
         */
        default void onOpen(Open open) {
            onOpen(open.protocol, open.headers);
        }

        /** The handshake succeeded. {@code protocol} is the chosen subprotocol ("" if none); header names are case-insensitive. */
        default void onOpen(String protocol, Map<String, String> headers) {}

        /** A whole text message arrived. */
        default void onMessage(String text) {}

        /** A whole binary message arrived (a new array the listener may keep). */
        default void onMessage(byte[] data) {}

        /** The connection failed ({@code code} a negative WS_ERR_*; errMsg "connectSocket:fail ..." or "onSocketError:fail ..."). onClose follows. */
        default void onError(int code, String errMsg) {}

        /** The task is CLOSED: the last event. 1005 = no code, 1006 = dropped or aborted. */
        default void onClose(int code, String reason, boolean wasClean) {}
    }

    /** What the open event carries (the server's handshake response). */
    public static final class Open {
        /** The subprotocol the server chose, "" if none. */
        public final String protocol;
        /** The response headers; names case-insensitive, repeated headers joined with ", ". */
        public final Map<String, String> headers;
        /**
         * The extensions in effect as the server's Sec-WebSocket-Extensions named them ("" if none),
         * like the browser's {@code WebSocket.extensions}: e.g. {@code "permessage-deflate; client_max_window_bits=15"}.
         */
        public final String extensions;
        /** True when permessage-deflate was negotiated ({@link ConnectOptions.Builder#perMessageDeflate} and the server agreed). */
        public final boolean compressed;
        /** The connection profile (libws.h's {@code ws_profile}); null only if it could not be copied. */
        public final Profile profile;

        Open(String protocol, Map<String, String> headers, String extensions, boolean compressed, Profile profile) {
            this.protocol = protocol;
            this.headers = headers;
            this.extensions = extensions;
            this.compressed = compressed;
            this.profile = profile;
        }

        @Override
        public String toString() {
            return "Open{protocol=" + protocol + ", extensions=" + extensions + ", compressed=" + compressed
                    + ", headers=" + headers + "}";
        }
    }

    /**
     * The connection profile of the open event (libws.h's {@code ws_profile}): timestamps in
     * microseconds on libws's monotonic clock, in order {@code fetchStartUs <= domainLookupStartUs <=
     * domainLookupEndUs <= connectStartUs <= tlsStartUs <= tlsEndUs == connectEndUs <= openUs} (the
     * TLS times are 0 for ws://; a phase that did not happen has the time of the one before).
     * {@link #toWeChat()} gives WeChat's {@code SocketTask.onOpen} {@code res.profile}.
     */
    public static final class Profile {
        public final long fetchStartUs, domainLookupStartUs, domainLookupEndUs, connectStartUs, tlsStartUs, tlsEndUs,
                connectEndUs, openUs;
        /** The wall-clock time at {@link #fetchStartUs}, microseconds since the Unix epoch. */
        public final long fetchStartUnixUs;
        /** The TCP connection attempts made (Happy Eyeballs), the winner included. */
        public final int attempts;
        /** wss://: the TLS session was resumed. */
        public final boolean tlsResumed;
        /** wss://: "TLSv1.3" or "TLSv1.2"; the cipher suite's IANA name; "" for ws://. */
        public final String tlsVersion, tlsCipher;
        /** The address connected to, "127.0.0.1:8080" or "[::1]:8080" (with a proxy: the proxy's). */
        public final String peerAddress;
        /**
         * With a proxy: the tunnel exchange began (TCP to the proxy connected) and the proxy opened
         * the tunnel, on the same clock ({@code connectStartUs <= proxyStartUs <= proxyEndUs <=
         * tlsStartUs / connectEndUs}); both 0 without a proxy.
         */
        public final long proxyStartUs, proxyEndUs;

        Profile(long[] p, String tlsVersion, String tlsCipher, String peerAddress) {
            fetchStartUs = p[0];
            domainLookupStartUs = p[1];
            domainLookupEndUs = p[2];
            connectStartUs = p[3];
            tlsStartUs = p[4];
            tlsEndUs = p[5];
            connectEndUs = p[6];
            openUs = p[7];
            fetchStartUnixUs = p[8];
            attempts = (int) p[9];
            tlsResumed = p[10] != 0;
            proxyStartUs = p[11];
            proxyEndUs = p[12];
            this.tlsVersion = tlsVersion;
            this.tlsCipher = tlsCipher;
            this.peerAddress = peerAddress;
        }

        /** A timestamp as WeChat gives it: Unix epoch milliseconds. */
        public double unixMs(long us) {
            return (fetchStartUnixUs + (us - fetchStartUs)) / 1000.0;
        }

        /**
         * WeChat's {@code res.profile}: fetchStart, domainLookUpStart, domainLookUpEnd, connectStart,
         * connectEnd (Unix ms), rtt (connectEnd - connectStart), handshakeCost (open - connectEnd) and
         * cost (open - fetchStart), in ms, as libws.h maps them.
         */
        public Map<String, Double> toWeChat() {
            Map<String, Double> m = new java.util.LinkedHashMap<>();
            m.put("fetchStart", unixMs(fetchStartUs));
            m.put("domainLookUpStart", unixMs(domainLookupStartUs));
            m.put("domainLookUpEnd", unixMs(domainLookupEndUs));
            m.put("connectStart", unixMs(connectStartUs));
            m.put("connectEnd", unixMs(connectEndUs));
            m.put("rtt", (connectEndUs - connectStartUs) / 1000.0);
            m.put("handshakeCost", (openUs - connectEndUs) / 1000.0);
            m.put("cost", (openUs - fetchStartUs) / 1000.0);
            return java.util.Collections.unmodifiableMap(m);
        }

        @Override
        public String toString() {
            return "Profile" + toWeChat() + "{attempts=" + attempts + ", tls=" + tlsVersion + " " + tlsCipher
                    + (tlsResumed ? " resumed" : "") + ", peer=" + peerAddress
                    + (proxyStartUs != 0 ? ", proxy " + (proxyEndUs - proxyStartUs) + " us" : "") + "}";
        }
    }

    /**
     * The socket hook ({@code ws_connect_options.on_socket}, WeChat's forceCellularNetwork): called
     * on libws's thread with each TCP socket of a task after it is created and before it connects
     * (once per address tried). On Android, bind it to a network:
     * <pre>{@code
     * .socketHook((taskId, fd) -> { cellular.bindSocket(fd); return true; })
     * }</pre>
     * Return true to go on; return false or throw to refuse the socket: it is closed and the task
     * fails with {@code onError(WS_ERR_CONNECT, ...)} then {@code onClose(1006)} (a thrown exception
     * also goes to the {@linkplain #setExceptionHandler exception handler}). libws owns the socket:
     * never close {@code fd}, and do not use it after the task's onClose.
     */
    @FunctionalInterface
    public interface SocketHook {
        boolean onSocket(long socketTaskId, FileDescriptor fd) throws Exception;
    }

    /** The outcome of one connect/send/close call, delivered exactly once on the libws thread. */
    @FunctionalInterface
    public interface ResultCallback {
        void onResult(Result result);
    }

    /** One call's outcome: {@code code} 0 (success) or a negative WS_ERR_*, and the mini-program errMsg. */
    public static final class Result {
        public final long socketTaskId;
        public final int code;
        public final String errMsg;

        Result(long socketTaskId, int code, String errMsg) {
            this.socketTaskId = socketTaskId;
            this.code = code;
            this.errMsg = errMsg;
        }

        public boolean isOk() {
            return code == WS_OK;
        }

        @Override
        public String toString() {
            return "Result{socketTaskId=" + socketTaskId + ", code=" + code + ", errMsg=" + errMsg + "}";
        }
    }

    /** {@link #connect} was refused by libws: {@link #code} and the {@code "connectSocket:fail ..."} errMsg. */
    public static final class WebSocketException extends Exception {
        private static final long serialVersionUID = 1L;
        public final int code;
        public final String errMsg;

        WebSocketException(int code, String errMsg) {
            super(errMsg);
            this.code = code;
            this.errMsg = errMsg;
        }
    }

    private static volatile Consumer<Throwable> exceptionHandler = t -> {
        System.err.println("io.libws: exception thrown by a listener or result callback:");
        t.printStackTrace();
    };

    /** Where exceptions thrown by listeners and result callbacks go (default: printed to stderr). */
    public static void setExceptionHandler(Consumer<Throwable> handler) {
        exceptionHandler = handler == null ? t -> {} : handler;
    }

    private final Listener listener;
    private final SocketHook socketHook;
    private volatile long id;

    private WebSocketTask(Listener listener, SocketHook socketHook) {
        this.listener = listener;
        this.socketHook = socketHook;
    }

    /** Same as {@link #connect(String, Map, String[], Listener, ResultCallback)} without a result callback. */
    public static WebSocketTask connect(String url, Map<String, String> headers, String[] protocols, Listener listener)
            throws WebSocketException {
        return connect(url, headers, protocols, listener, null);
    }

    /**
     * Opens a WebSocket ({@code connectSocket}). Returns once the attempt has started; events go to
     * {@code listener} (may be null), which may run before this method returns.
     *
     * @param url       {@code ws://} or {@code wss://} URL
     * @param headers   extra request headers, or null (Host, Referer, Upgrade, Connection and
     *                  Sec-WebSocket-* are refused)
     * @param protocols subprotocols to offer, or null
     * @param onResult  if not null, called once with {@code "connectSocket:ok"} or the fail errMsg
     * @throws WebSocketException when libws refuses the call; its errMsg is libws's
     *         {@code "connectSocket:fail ..."} (called on the libws thread, where the exact text is
     *         not yet available, it is {@code "connectSocket:fail " + strerror(code)})
     */
    public static WebSocketTask connect(String url, Map<String, String> headers, String[] protocols, Listener listener,
            ResultCallback onResult) throws WebSocketException {
        ConnectOptions.Builder b = new ConnectOptions.Builder(url);
        if (headers != null) {
            b.headers(headers);
        }
        if (protocols != null) {
            b.protocols(protocols);
        }
        return connect(b.build(), listener, onResult);
    }

    /** Same as {@link #connect(ConnectOptions, Listener, ResultCallback)} without a result callback. */
    public static WebSocketTask connect(ConnectOptions options, Listener listener) throws WebSocketException {
        return connect(options, listener, null);
    }

    /**
     * Opens a WebSocket ({@code connectSocket}) with every option of {@link ConnectOptions}. Returns
     * once the attempt has started; events go to {@code listener} (may be null), which may run
     * before this method returns.
     *
     * @param onResult if not null, called once with {@code "connectSocket:ok"} or the fail errMsg
     * @throws WebSocketException when libws refuses the call (bad URL or header, the group's limit
     *         reached); see {@link #connect(String, Map, String[], Listener, ResultCallback)}
     */
    public static WebSocketTask connect(ConnectOptions options, Listener listener, ResultCallback onResult)
            throws WebSocketException {
        byte[] cUrl = cString(options.url, "url");
        byte[][] cHeaders = new byte[options.headers.size() * 2][];
        int i = 0;
        for (Map.Entry<String, String> h : options.headers.entrySet()) {
            cHeaders[i++] = cString(h.getKey(), "header name");
            cHeaders[i++] = cString(h.getValue(), "header value");
        }
        byte[][] cProtocols = new byte[options.protocols.size()][];
        for (i = 0; i < cProtocols.length; i++) {
            cProtocols[i] = cString(options.protocols.get(i), "protocol");
        }

        byte[][] cAddresses = cStrings(options.addresses, "address");
        byte[][] cPins = cStrings(options.certificatePins, "certificate pin");
        byte[] cProxy = options.proxy == null ? null : cString(options.proxy, "proxy");

        WebSocketTask task = new WebSocketTask(listener, options.socketHook);
        if (listener != null) {
            listener.onCreate(task);
        }
        ConnectResult waiter = new ConnectResult(onResult);
        long id = nativeConnect(task, cUrl, cHeaders, cProtocols, waiter, options.group, options.timeoutMs,
                options.tcpNoDelay, options.pingIntervalMs, options.pongTimeoutMs, options.perMessageDeflate,
                options.caPem, options.dangerousSkipCertificateVerification, options.socketHook != null,
                options.dispatcher == null ? 0 : options.dispatcher.handle(), cAddresses, cPins, options.clientCertPem,
                options.clientKeyPem, cProxy, options.noProxy);
        if (id > 0) {
            task.id = id;
            return task;
        }
        int code = (int) id;
        String errMsg;
        if (nativeOnCallbackThread()) {
            // libws queues the result behind the callback we are in: waiting would deadlock.
            errMsg = "connectSocket:fail " + strerror(code);
        } else {
            Result r = waiter.await(CONNECT_FAIL_WAIT_MS);
            errMsg = r != null ? r.errMsg : "connectSocket:fail " + strerror(code);
        }
        throw new WebSocketException(code, errMsg);
    }

    /** The socketTaskId libws gave this task (> 0, never reused; 0 in {@link Listener#onCreate}). */
    public long socketTaskId() {
        return id;
    }

    /** {@link #CONNECTING}, {@link #OPEN}, {@link #CLOSING} or {@link #CLOSED}. */
    public int readyState() {
        return nativeReadyState(id);
    }

    /**
     * The browser's {@code bufferedAmount} (OkHttp's {@code queueSize()}): bytes of the messages
     * {@code send} accepted that have not reached the kernel yet (UTF-8 bytes for text; no frame
     * headers; before compression). A message leaves it before its send result is called. 0 once
     * the task is CLOSED. Any thread; never waits for the libws thread ({@code ws_buffered_amount}).
     */
    public long bufferedAmount() {
        return nativeBufferedAmount(id);
    }

    /** Sends a text message; returns 0 if queued or the negative code of the failure. */
    public int send(String text) {
        return send(text, null);
    }

    /** Sends a text message; {@code onResult} (may be null) gets "sendSocketMessage:ok" or the fail errMsg. */
    public int send(String text, ResultCallback onResult) {
        if (text == null) {
            throw new IllegalArgumentException("text is null");
        }
        return nativeSend(id, utf8(text), true, onResult);
    }

    /** Sends a binary message (the bytes are copied before this returns). */
    public int send(byte[] data) {
        return send(data, null);
    }

    /** Sends a binary message; {@code onResult} (may be null) gets "sendSocketMessage:ok" or the fail errMsg. */
    public int send(byte[] data, ResultCallback onResult) {
        if (data == null) {
            throw new IllegalArgumentException("data is null");
        }
        return nativeSend(id, data, false, onResult);
    }

    /** Closes the task: code 1000 or 3000–4999, reason up to 123 UTF-8 bytes (null for none). */
    public int close(int code, String reason) {
        return close(code, reason, null);
    }

    /** Closes the task; {@code onResult} (may be null) gets "closeSocket:ok" or the fail errMsg. */
    public int close(int code, String reason, ResultCallback onResult) {
        return nativeClose(id, code, reason == null ? null : cString(reason, "reason"), onResult);
    }

    /** A static English text for a result code ({@link Libws#strerror}). */
    public static String strerror(int code) {
        return nativeStrerror(code);
    }

    /** The linked libws version, e.g. "0.1.0" ({@link Libws#version}). */
    public static String version() {
        return nativeVersion();
    }

    /** {@link Libws#shutdown}: closes every task (1001), removes global listeners, ends libws's thread. */
    public static int shutdown() {
        return Libws.shutdown();
    }

    // ---- called by the shim on the libws thread -------------------------------------------------

    private Listener listenerFor(long taskId) {
        if (id == 0) {
            id = taskId; // an event can arrive before nativeConnect returned
        }
        return listener;
    }

    /** One event of this task (slots as in {@link Event}); the adapter below hands it to the listener. */
    private void onEvent(int kind, long taskId, int code, byte[] a, byte[] b, byte[] c, boolean flag, long[] p,
            byte[] s) {
        try {
            Listener l = listenerFor(taskId);
            if (l != null) {
                Event.deliver(new ListenerAdapter(l), kind, taskId, code, a, b, c, flag, p, s);
            }
        } catch (Throwable t) {
            report(t);
        }
    }

    /** The socket hook's call: true = go on, false = refuse (also when the hook throws). */
    private boolean onSocketEvent(long taskId, FileDescriptor fd) {
        try {
            listenerFor(taskId);
            return socketHook == null || socketHook.onSocket(taskId, fd);
        } catch (Throwable t) {
            report(t);
            return false;
        }
    }

    /** A task's Listener seen as a GlobalListener (its events carry no task id). */
    private static final class ListenerAdapter implements Libws.GlobalListener {
        private final Listener l;

        ListenerAdapter(Listener l) {
            this.l = l;
        }

        @Override
        public void onOpen(long taskId, Open open) {
            l.onOpen(open);
        }

        @Override
        public void onMessage(long taskId, String text) {
            l.onMessage(text);
        }

        @Override
        public void onMessage(long taskId, byte[] data) {
            l.onMessage(data);
        }

        @Override
        public void onError(long taskId, int code, String errMsg) {
            l.onError(code, errMsg);
        }

        @Override
        public void onClose(long taskId, int code, String reason, boolean wasClean) {
            l.onClose(code, reason, wasClean);
        }
    }

    private static void onResultEvent(ResultCallback cb, long taskId, int code, byte[] errMsg) {
        try {
            cb.onResult(new Result(taskId, code, Event.decode(errMsg)));
        } catch (Throwable t) {
            report(t);
        }
    }

    static void report(Throwable t) {
        try {
            exceptionHandler.accept(t);
        } catch (Throwable ignored) {
            // the handler itself failed: nothing more we can do on the libws thread
        }
    }

    /** Forwards connect's result to the caller's callback and keeps it for a refused connect. */
    private static final class ConnectResult implements ResultCallback {
        private final ResultCallback user;
        private final CountDownLatch done = new CountDownLatch(1);
        private volatile Result result;

        ConnectResult(ResultCallback user) {
            this.user = user;
        }

        @Override
        public void onResult(Result r) {
            result = r;
            done.countDown();
            if (user != null) {
                user.onResult(r);
            }
        }

        Result await(long ms) {
            try {
                done.await(ms, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return result;
        }
    }

    // ---- strings ---------------------------------------------------------------------------------

    /** UTF-8 plus a terminating NUL, for libws's C strings. */
    static byte[] cString(String s, String what) {
        if (s.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(what + " contains a NUL character");
        }
        byte[] b = utf8(s);
        byte[] c = new byte[b.length + 1];
        System.arraycopy(b, 0, c, 0, b.length);
        return c;
    }

    /** {@link #cString} of each of {@code strings}. */
    static byte[][] cStrings(java.util.List<String> strings, String what) {
        byte[][] c = new byte[strings.size()][];
        for (int i = 0; i < c.length; i++) {
            c[i] = cString(strings.get(i), what);
        }
        return c;
    }

    /**
     * UTF-8 of {@code s}. Unlike {@code getBytes(UTF_8)}, an unpaired surrogate is not silently
     * replaced by '?': it is encoded as its 3-byte form, which is not valid UTF-8, so libws refuses
     * the text with its own errMsg instead of sending something else than what was asked.
     */
    static byte[] utf8(String s) {
        int n = s.length();
        boolean wellFormed = true;
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                wellFormed = false;
                break;
            }
        }
        if (wellFormed) {
            return s.getBytes(StandardCharsets.UTF_8);
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(n * 3);
        for (int i = 0; i < n; i++) {
            int cp = s.charAt(i);
            if (Character.isHighSurrogate((char) cp) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                cp = Character.toCodePoint((char) cp, s.charAt(++i));
            }
            if (cp < 0x80) {
                out.write(cp);
            } else if (cp < 0x800) {
                out.write(0xC0 | (cp >> 6));
                out.write(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                out.write(0xE0 | (cp >> 12));
                out.write(0x80 | ((cp >> 6) & 0x3F));
                out.write(0x80 | (cp & 0x3F));
            } else {
                out.write(0xF0 | (cp >> 18));
                out.write(0x80 | ((cp >> 12) & 0x3F));
                out.write(0x80 | ((cp >> 6) & 0x3F));
                out.write(0x80 | (cp & 0x3F));
            }
        }
        return out.toByteArray();
    }

    // ---- the shim (jni/c/libws_jni.c); the runtime-wide ones are used by Libws ---------------------

    private static native long nativeConnect(WebSocketTask task, byte[] url, byte[][] headers, byte[][] protocols,
            ResultCallback onResult, long group, int timeoutMs, boolean tcpNoDelay, int pingIntervalMs,
            int pongTimeoutMs, boolean perMessageDeflate, byte[] caPem, boolean dangerousSkipCertificateVerification,
            boolean socketHook, long dispatcher, byte[][] addresses, byte[][] certificatePins, byte[] clientCertPem,
            byte[] clientKeyPem, byte[] proxy, boolean noProxy);

    /** ws_dispatcher_new with a wake callback calling {@code d.onWake()}: a handle, or a negative code. */
    static native long nativeDispatcherNew(Dispatcher d);

    /** ws_dispatch(handle, 0): the number of items run, or a negative code. */
    static native long nativeDispatch(long handle);

    /** ws_dispatcher_free; on WS_OK the handle and its reference to the Dispatcher are gone. */
    static native int nativeDispatcherFree(long handle);

    private static native int nativeSend(long taskId, byte[] data, boolean text, ResultCallback onResult);

    private static native int nativeClose(long taskId, int code, byte[] reason, ResultCallback onResult);

    static native int nativeReadyState(long taskId);

    static native long nativeBufferedAmount(long taskId);

    static native String nativeStrerror(int code);

    static native String nativeVersion();

    static native int nativeShutdown();

    /**
     * ws_init; {@code hasConfig} false = NULL (the defaults). {@code resolverKey} > 0: the shim's
     * resolver, whose calls go to Libws.onResolve(resolverKey, ...); 0: none.
     */
    static native int nativeInit(boolean hasConfig, int maxConnectionsPerGroup, long maxMessageSize, long maxSendQueue,
            int connectTimeoutMs, int closeTimeoutMs, byte[] caPem, boolean useSystemRoots,
            boolean dangerousSkipCertificateVerification, int connectionAttemptDelayMs, byte[][] certificatePins,
            byte[] clientCertPem, byte[] clientKeyPem, byte[] proxy, long resolverKey);

    /** ws_resolve_answer: {@code errMsg} (a C string) when not null, else the addresses. */
    static native int nativeResolveAnswer(long requestId, byte[][] addresses, byte[] errMsg);

    /** ws_network_changed. */
    static native int nativeNetworkChanged(long group, boolean allGroups, int probeTimeoutMs);

    static native int nativeCloseGroup(long group, int code, byte[] reason, ResultCallback onResult);

    /** ws_on_event(0, ...) with {@code key} as user_data; events go to Libws.onGlobalEvent(key, ...). */
    static native long nativeOnEvent(long key);

    static native int nativeOffEvent(long handle);

    /** ws_set_logger: the shim's logger (to Libws.onLog) at {@code maxLevel}, or off at 0. */
    static native int nativeSetLogger(int maxLevel);

    /** True on a thread the shim attached (libws's), where waiting for a libws result would deadlock. */
    private static native boolean nativeOnCallbackThread();
}
