package io.libws;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The libws runtime as a whole: configuration ({@link #init}), {@link #shutdown}, mini-program
 * groups ({@link #closeGroup}), the global {@code onSocket*} listeners, the logger, and the small
 * static helpers. One task's calls are on {@link WebSocketTask}.
 *
 * <pre>{@code
 * // Application.onCreate
 * Libws.setLogger((level, msg) -> Log.println(Libws.androidPriority(level), "libws", msg), Libws.LOG_INFO);
 * Libws.init(new Libws.Config.Builder().maxConnectionsPerGroup(5).connectTimeoutMs(15_000).build());
 * }</pre>
 *
 * Every method may be called from any thread; {@link #init} and {@link #shutdown} are refused
 * ({@link WebSocketTask#WS_ERR_WRONG_THREAD}) inside a listener or callback.
 */
public final class Libws {
    /** Logger levels: a logger set at level N gets messages of levels 1..N. */
    public static final int LOG_OFF = 0;
    public static final int LOG_ERROR = 1;
    public static final int LOG_WARN = 2;
    public static final int LOG_INFO = 3;
    public static final int LOG_DEBUG = 4;

    private Libws() {}

    // ---- configuration -------------------------------------------------------------------------

    /** Runtime configuration ({@code ws_config}); immutable. Every option left unset keeps libws's default. */
    public static final class Config {
        final int maxConnectionsPerGroup;
        final long maxMessageSize;
        final long maxSendQueue;
        final int connectTimeoutMs;
        final int closeTimeoutMs;
        final byte[] caPem;
        final boolean useSystemRoots;
        final boolean dangerousSkipCertificateVerification;

        private Config(Builder b) {
            maxConnectionsPerGroup = b.maxConnectionsPerGroup;
            maxMessageSize = b.maxMessageSize;
            maxSendQueue = b.maxSendQueue;
            connectTimeoutMs = b.connectTimeoutMs;
            closeTimeoutMs = b.closeTimeoutMs;
            caPem = b.caPem == null ? null : b.caPem.clone();
            useSystemRoots = b.useSystemRoots;
            dangerousSkipCertificateVerification = b.dangerousSkipCertificateVerification;
        }

        public static final class Builder {
            private int maxConnectionsPerGroup;
            private long maxMessageSize;
            private long maxSendQueue;
            private int connectTimeoutMs;
            private int closeTimeoutMs;
            private byte[] caPem;
            private boolean useSystemRoots;
            private boolean dangerousSkipCertificateVerification;

            /** Open-or-connecting sockets per group; more are refused ({@code WS_ERR_TOO_MANY_CONNECTIONS}). Default 5 (WeChat's limit). */
            public Builder maxConnectionsPerGroup(int n) {
                maxConnectionsPerGroup = positive(n, "maxConnectionsPerGroup");
                return this;
            }

            /** Largest message sent or received, in bytes. Default 64 MiB. */
            public Builder maxMessageSize(long bytes) {
                maxMessageSize = positive(bytes, "maxMessageSize");
                return this;
            }

            /** Bytes a task may have queued but not yet written; a send past it fails with {@code WS_ERR_QUEUE_FULL}. Default 64 MiB. */
            public Builder maxSendQueue(long bytes) {
                maxSendQueue = positive(bytes, "maxSendQueue");
                return this;
            }

            /** Connect timeout (DNS + TCP + handshake) of tasks that set none. Default 60000. */
            public Builder connectTimeoutMs(int ms) {
                connectTimeoutMs = positive(ms, "connectTimeoutMs");
                return this;
            }

            /** How long to wait for the server's side of the close handshake (also in shutdown). Default 5000. */
            public Builder closeTimeoutMs(int ms) {
                closeTimeoutMs = positive(ms, "closeTimeoutMs");
                return this;
            }

            /** wss://: extra CA certificates (PEM) trusted by every task, beside the built-in Mozilla roots. */
            public Builder caPem(byte[] pem) {
                caPem = pem == null ? null : pem.clone();
                return this;
            }

            public Builder caPem(String pem) {
                return caPem(pem == null ? null : pem.getBytes(StandardCharsets.US_ASCII));
            }

            /** wss://: also trust the OS certificate store where libws can read it (Linux, Apple, Windows; not Android). Default false. */
            public Builder useSystemRoots(boolean on) {
                useSystemRoots = on;
                return this;
            }

            /**
             * DANGEROUS, development only: accept any server certificate for every wss:// task.
             * Anyone on the network path can then read and change the traffic. Default false.
             */
            public Builder dangerousSkipCertificateVerification(boolean on) {
                dangerousSkipCertificateVerification = on;
                return this;
            }

            public Config build() {
                return new Config(this);
            }

            private static int positive(int v, String what) {
                return (int) positive((long) v, what);
            }

            private static long positive(long v, String what) {
                if (v <= 0) {
                    throw new IllegalArgumentException(what + " must be > 0: " + v);
                }
                return v;
            }
        }
    }

    /**
     * Starts libws with {@code config} (null = the defaults). Optional: any other call starts libws
     * with the defaults. Returns {@link WebSocketTask#WS_OK}, {@link WebSocketTask#WS_ERR_ALREADY_RUNNING}
     * when libws runs already (call {@link #shutdown} first), {@link WebSocketTask#WS_ERR_WRONG_THREAD}
     * inside a listener, or {@link WebSocketTask#WS_ERR_RUNTIME}.
     */
    public static int init(Config config) {
        if (config == null) {
            return WebSocketTask.nativeInit(false, 0, 0, 0, 0, 0, null, false, false);
        }
        return WebSocketTask.nativeInit(true, config.maxConnectionsPerGroup, config.maxMessageSize, config.maxSendQueue,
                config.connectTimeoutMs, config.closeTimeoutMs, config.caPem, config.useSystemRoots,
                config.dangerousSkipCertificateVerification);
    }

    /**
     * Stops libws: every task not CLOSED is closed (1001) and delivers onClose, global listeners are
     * removed, libws's thread ends. Blocks until done. Any later call starts libws again (with the
     * defaults unless {@link #init} is called first). Returns 0, or
     * {@link WebSocketTask#WS_ERR_WRONG_THREAD} inside a listener.
     */
    public static int shutdown() {
        List<Long> registered = new ArrayList<>(globals.keySet());
        int rc = WebSocketTask.nativeShutdown();
        if (rc == WebSocketTask.WS_OK) {
            // libws removed its global listeners: forget those registered before the shutdown.
            for (Long key : registered) {
                globals.remove(key);
            }
            handles.values().removeAll(registered);
        }
        return rc;
    }

    // ---- groups ---------------------------------------------------------------------------------

    /** {@link #closeGroup(long, int, String, WebSocketTask.ResultCallback)} without a result callback. */
    public static int closeGroup(long group, int code, String reason) {
        return closeGroup(group, code, reason, null);
    }

    /**
     * Closes every task of {@code group} (the mini-program went to the background or exited) as
     * {@link WebSocketTask#close} would each one: code 1000, 1001 ("going away": the mini-program
     * leaves; close refuses it for one task) or 3000–4999, reason up to 123 UTF-8 bytes (null for
     * none). Each task delivers its own onClose. Returns 0 or the negative code of the failure (then
     * nothing is closed); {@code onResult} (may be null) gets "closeSocket:ok" or the fail errMsg,
     * with socketTaskId 0.
     */
    public static int closeGroup(long group, int code, String reason, WebSocketTask.ResultCallback onResult) {
        return WebSocketTask.nativeCloseGroup(group, code, reason == null ? null : WebSocketTask.cString(reason, "reason"),
                onResult);
    }

    // ---- global listeners -------------------------------------------------------------------------

    /**
     * The global {@code wx.onSocketOpen/onSocketMessage/onSocketError/onSocketClose}: the events of
     * every task, after the task's own listener, on libws's thread. All default to doing nothing; an
     * exception thrown goes to {@link WebSocketTask#setExceptionHandler}.
     */
    public interface GlobalListener {
        default void onOpen(long socketTaskId, WebSocketTask.Open open) {}

        default void onMessage(long socketTaskId, String text) {}

        default void onMessage(long socketTaskId, byte[] data) {}

        default void onError(long socketTaskId, int code, String errMsg) {}

        default void onClose(long socketTaskId, int code, String reason, boolean wasClean) {}
    }

    /** Our key (libws's user_data) -> listener. Keys are never reused, so a stale key finds nothing. */
    private static final Map<Long, GlobalListener> globals = new ConcurrentHashMap<>();
    /** libws's handle -> our key. */
    private static final Map<Long, Long> handles = new ConcurrentHashMap<>();
    private static final AtomicLong nextKey = new AtomicLong(1);

    /**
     * Adds a global listener. Returns its handle (> 0) for {@link #removeGlobalListener}, or a
     * negative code. It stays until removed or until {@link #shutdown}.
     */
    public static long addGlobalListener(GlobalListener listener) {
        if (listener == null) {
            throw new IllegalArgumentException("listener is null");
        }
        long key = nextKey.getAndIncrement();
        globals.put(key, listener); // before libws can call it
        long handle = WebSocketTask.nativeOnEvent(key);
        if (handle > 0) {
            handles.put(handle, key);
        } else {
            globals.remove(key);
        }
        return handle;
    }

    /**
     * Removes a global listener. Once this returns it is not called again (from another thread it
     * first waits for a call in progress). Returns 0 or {@link WebSocketTask#WS_ERR_UNKNOWN_LISTENER}.
     */
    public static int removeGlobalListener(long handle) {
        int rc = WebSocketTask.nativeOffEvent(handle);
        Long key = handles.remove(handle);
        if (key != null) {
            globals.remove(key);
        }
        return rc;
    }

    /** Called by the shim on the libws thread for a global listener's event (see {@link Event}). */
    private static void onGlobalEvent(long key, int kind, long taskId, int code, byte[] a, byte[] b, byte[] c,
            boolean flag, long[] p, byte[] s) {
        try {
            GlobalListener l = globals.get(key);
            if (l != null) {
                Event.deliver(l, kind, taskId, code, a, b, c, flag, p, s);
            }
        } catch (Throwable t) {
            WebSocketTask.report(t);
        }
    }

    // ---- the logger -------------------------------------------------------------------------------

    /**
     * Receives libws's diagnostics, one line at a time, from several threads (libws's thread,
     * resolver threads, threads calling libws) possibly at once: it must be thread-safe and quick.
     * An exception thrown goes to {@link WebSocketTask#setExceptionHandler}.
     */
    @FunctionalInterface
    public interface Logger {
        void log(int level, String message);
    }

    private static volatile Logger logger;
    private static final ThreadLocal<Boolean> inLogger = ThreadLocal.withInitial(() -> false);

    /**
     * Routes libws's diagnostics to {@code logger} for levels up to {@code maxLevel}
     * ({@link #LOG_ERROR} .. {@link #LOG_DEBUG}); null or {@link #LOG_OFF} turns logging off (the
     * default). libws never writes to stdout or stderr. Returns 0, or
     * {@link WebSocketTask#WS_ERR_INVALID_ARGUMENT} for a level outside 0..4.
     *
     * @throws IllegalStateException when called from inside a logger
     */
    public static int setLogger(Logger logger, int maxLevel) {
        if (inLogger.get()) {
            throw new IllegalStateException("setLogger inside a logger");
        }
        if (maxLevel < LOG_OFF || maxLevel > LOG_DEBUG) {
            return WebSocketTask.WS_ERR_INVALID_ARGUMENT;
        }
        boolean on = logger != null && maxLevel > LOG_OFF;
        Libws.logger = on ? logger : null;
        return WebSocketTask.nativeSetLogger(on ? maxLevel : LOG_OFF);
    }

    /** android.util.Log's priority for a libws level (ERROR 6, WARN 5, INFO 4, DEBUG 3). */
    public static int androidPriority(int level) {
        switch (level) {
            case LOG_ERROR: return 6;
            case LOG_WARN: return 5;
            case LOG_INFO: return 4;
            default: return 3;
        }
    }

    /** Called by the shim, on any thread, for each log line. */
    private static void onLog(int level, byte[] message) {
        Logger l = logger;
        if (l == null) {
            return; // turned off while the line was on its way
        }
        inLogger.set(true);
        try {
            l.log(level, new String(message, StandardCharsets.UTF_8));
        } catch (Throwable t) {
            WebSocketTask.report(t);
        } finally {
            inLogger.set(false);
        }
    }

    // ---- helpers ----------------------------------------------------------------------------------

    /** The readyState of any socketTaskId libws issued, or {@link WebSocketTask#WS_ERR_UNKNOWN_TASK}. */
    public static int readyState(long socketTaskId) {
        return WebSocketTask.nativeReadyState(socketTaskId);
    }

    /** A static English text for a result code. */
    public static String strerror(int code) {
        return WebSocketTask.nativeStrerror(code);
    }

    /** The linked libws version, e.g. "0.1.0". */
    public static String version() {
        return WebSocketTask.nativeVersion();
    }
}
