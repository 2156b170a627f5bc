package io.libws;

import static io.libws.WebSocketTaskTest.WAIT_S;
import static io.libws.WebSocketTaskTest.await;
import static io.libws.WebSocketTaskTest.check;
import static io.libws.WebSocketTaskTest.checkEq;
import static io.libws.WebSocketTaskTest.closeAndWait;
import static io.libws.WebSocketTaskTest.open;
import static io.libws.WebSocketTaskTest.poll;
import static io.libws.WebSocketTaskTest.run;
import static io.libws.WebSocketTaskTest.sendText;

import java.io.FileDescriptor;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import io.libws.WebSocketTask.Open;
import io.libws.WebSocketTask.Result;
import io.libws.WebSocketTask.WebSocketException;
import io.libws.WebSocketTaskTest.Recorder;

/**
 * The cases of the runtime-wide API and every connect option (Libws, ConnectOptions, SocketHook,
 * Open), run by WebSocketTaskTest's harness against the same echo server, plus a few peers of
 * their own on 127.0.0.1 (a silent TCP listener, a WebSocket peer that never answers pings) and,
 * when run.sh started it, ffi-tests/tls_server.py's wss:// echo.
 */
final class LibwsTest {
    private LibwsTest() {}

    private static String url() {
        return WebSocketTaskTest.url;
    }

    private static int port() {
        return URI.create(url()).getPort();
    }

    static void runAll() {
        run("config: 1,000 sockets in one group with a raised limit; closeGroup closes exactly that group",
            LibwsTest::configAndGroups);
        run("config: connectTimeoutMs for tasks with none; shutdown restores the defaults (limit 5)",
            LibwsTest::configTimeoutAndReset);
        run("timeoutMs: a server that never answers the handshake fails the task with WS_ERR_TIMEOUT",
            LibwsTest::taskTimeout);
        run("tcpNoDelay: TCP_NODELAY as getsockopt sees it on the hook's fd, on and off", LibwsTest::tcpNoDelay);
        run("socket hook refusing (false, throw): onError(WS_ERR_CONNECT), onClose(1006)", LibwsTest::hookRefuses);
        run("heartbeat: a peer that never answers pings is dead; a live one stays open", LibwsTest::heartbeat);
        run("perMessageDeflate: extensions and compressed in onOpen, messages round-trip", LibwsTest::deflate);
        run("global listeners: every task's events after its own; removed and shut down ones get none",
            LibwsTest::globalListeners);
        run("logger: lines arrive in Java at the levels asked; off; a throwing logger is contained",
            LibwsTest::logger);
        run("wss://: per-task and runtime CA PEM, the dangerous switches", LibwsTest::tls);
        run("the open event's profile: ordered for ws:// and wss://, TLS resumed on the second wss://",
            LibwsTest::profile);
        run("readyState(id), strerror, version", LibwsTest::statics);
    }

    // ---- config and groups -------------------------------------------------------------------------

    /** Records the group's close events by task id and counts opens; no per-event lists (1,000 tasks). */
    private static final class GroupListener implements WebSocketTask.Listener {
        private final CountDownLatch opened;
        private final CountDownLatch closed;
        private final Map<Long, String> closes;
        private final List<String> errors;
        private WebSocketTask task;

        GroupListener(CountDownLatch opened, CountDownLatch closed, Map<Long, String> closes, List<String> errors) {
            this.opened = opened;
            this.closed = closed;
            this.closes = closes;
            this.errors = errors;
        }

        @Override
        public void onCreate(WebSocketTask t) {
            task = t;
        }

        @Override
        public void onOpen(Open open) {
            opened.countDown();
        }

        @Override
        public void onError(int code, String errMsg) {
            errors.add(errMsg);
        }

        @Override
        public void onClose(int code, String reason, boolean wasClean) {
            closes.put(task.socketTaskId(), code + " " + reason + " " + wasClean);
            closed.countDown();
        }
    }

    static void configAndGroups() throws Exception {
        final long appA = 7;
        final long appB = 8;
        final int n = 1000;
        checkEq(0, Libws.shutdown(), "shutdown");
        Libws.Config config = new Libws.Config.Builder().maxConnectionsPerGroup(n).build();
        checkEq(0, Libws.init(config), "init");
        try {
            checkEq(WebSocketTask.WS_ERR_ALREADY_RUNNING, Libws.init(config), "init while running");
            CountDownLatch opened = new CountDownLatch(n + 3);
            CountDownLatch closedA = new CountDownLatch(n);
            CountDownLatch closedB = new CountDownLatch(3);
            Map<Long, String> closes = new ConcurrentHashMap<>();
            List<String> errors = new CopyOnWriteArrayList<>();
            ConnectOptions inA = new ConnectOptions.Builder(url()).group(appA).build();
            ConnectOptions inB = inA.newBuilder().group(appB).build();
            List<WebSocketTask> a = new ArrayList<>();
            List<WebSocketTask> b = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                a.add(WebSocketTask.connect(inA, new GroupListener(opened, closedA, closes, errors)));
            }
            for (int i = 0; i < 3; i++) {
                b.add(WebSocketTask.connect(inB, new GroupListener(opened, closedB, closes, errors)));
            }
            if (!opened.await(60, java.util.concurrent.TimeUnit.SECONDS)) {
                throw new AssertionError(opened.getCount() + " of " + (n + 3) + " tasks not open after 60 s; errors: "
                        + errors.subList(0, Math.min(3, errors.size())));
            }
            checkEq(0, errors.size(), "onError count");
            // The group holds its limit: the 1,001st is refused; group B is not concerned.
            try {
                WebSocketTask.connect(inA, null);
                throw new AssertionError("the 1,001st connect in a group of limit 1,000 was not refused");
            } catch (WebSocketException e) {
                checkEq(WebSocketTask.WS_ERR_TOO_MANY_CONNECTIONS, e.code, "code of the 1,001st");
                check(e.errMsg.contains("(1000)"), "errMsg names the configured limit: " + e.errMsg);
            }
            // A code a client may not send (999) is refused and closes nothing.
            CompletableFuture<Result> refused = new CompletableFuture<>();
            checkEq(WebSocketTask.WS_ERR_INVALID_CLOSE_CODE, Libws.closeGroup(appA, 999, "background", refused::complete),
                    "closeGroup(999) return");
            check(await(refused, "closeGroup(999) result").errMsg.startsWith("closeSocket:fail"), "closeGroup(999) errMsg");

            CompletableFuture<Result> res = new CompletableFuture<>();
            // 1001 ("going away"): the mini-program leaves; a group close takes it (a task's close does not).
            checkEq(0, Libws.closeGroup(appA, 1001, "background", res::complete), "closeGroup return");
            Result r = await(res, "closeGroup result");
            checkEq("closeSocket:ok", r.errMsg, "closeGroup errMsg");
            checkEq(0L, r.socketTaskId, "closeGroup result's socketTaskId");
            await(closedA, "onClose of the 1,000 tasks of group A");
            for (WebSocketTask t : a) {
                checkEq("1001 background true", closes.get(t.socketTaskId()), "close of task " + t.socketTaskId());
                checkEq(WebSocketTask.CLOSED, t.readyState(), "readyState in A");
            }
            for (WebSocketTask t : b) {
                checkEq(null, closes.get(t.socketTaskId()), "group B task closed by closeGroup(A)");
                checkEq(WebSocketTask.OPEN, t.readyState(), "readyState in B");
            }
            checkEq(3L, closedB.getCount(), "group B tasks not closed");
            // B still works, and A has room again.
            Recorder echo = new Recorder();
            WebSocketTask again = WebSocketTask.connect(inA, echo);
            await(echo.opened, "a new task in group A opens");
            await(sendText(again, "after closeGroup"), "send");
            checkEq("after closeGroup", poll(echo.messages, "echo"), "echo in group A");
            closeAndWait(again, echo);
            checkEq(0, Libws.closeGroup(appB, 3000, "done"), "closeGroup(B)");
            await(closedB, "onClose of group B");
        } finally {
            Libws.shutdown(); // later cases run with the defaults
        }
    }

    /** A TCP listener that never accepts: the kernel completes TCP, nobody ever answers the handshake. */
    private static ServerSocket silentListener() throws IOException {
        return new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
    }

    private static void expectTimeout(Recorder r, String what) throws Exception {
        await(r.closed, what + ": onClose");
        checkEq(Arrays.asList("error", "close"), new ArrayList<>(r.order), what + ": events");
        checkEq(WebSocketTask.WS_ERR_TIMEOUT, r.errorCode, what + ": error code (" + r.errorMsg + ")");
        check(r.errorMsg.startsWith("connectSocket:fail"), what + ": errMsg " + r.errorMsg);
        checkEq(1006, r.closeCode, what + ": close code");
    }

    static void configTimeoutAndReset() throws Exception {
        checkEq(0, Libws.shutdown(), "shutdown");
        checkEq(0, Libws.init(new Libws.Config.Builder().connectTimeoutMs(300).build()), "init");
        try (ServerSocket silent = silentListener()) {
            Recorder r = new Recorder();
            // No timeoutMs: the runtime's 300 ms applies (the default of 60 s would outlast WAIT_S).
            WebSocketTask.connect("ws://127.0.0.1:" + silent.getLocalPort() + "/", null, null, r);
            expectTimeout(r, "runtime connectTimeoutMs");
        } finally {
            checkEq(0, Libws.shutdown(), "shutdown");
        }
        // A fresh runtime started by a call has the defaults again: 5 per group.
        ConnectOptions inGroup = new ConnectOptions.Builder(url()).group(42).build();
        List<WebSocketTask> tasks = new ArrayList<>();
        List<Recorder> recs = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            Recorder r = new Recorder();
            recs.add(r);
            tasks.add(WebSocketTask.connect(inGroup, r));
        }
        try {
            WebSocketTask.connect(inGroup, null);
            throw new AssertionError("a 6th connect in a group was not refused after shutdown reset the config");
        } catch (WebSocketException e) {
            checkEq(WebSocketTask.WS_ERR_TOO_MANY_CONNECTIONS, e.code, "6th connect code");
            check(e.errMsg.contains("(5)"), "errMsg names the default limit: " + e.errMsg);
        }
        for (int i = 0; i < 5; i++) {
            await(recs.get(i).opened, "onOpen");
            closeAndWait(tasks.get(i), recs.get(i));
        }
    }

    static void taskTimeout() throws Exception {
        try (ServerSocket silent = silentListener()) {
            Recorder r = new Recorder();
            WebSocketTask.connect(new ConnectOptions.Builder("ws://127.0.0.1:" + silent.getLocalPort() + "/")
                    .timeoutMs(300).build(), r);
            expectTimeout(r, "timeoutMs(300)");
        }
    }

    // ---- the socket hook -----------------------------------------------------------------------------

    static void tcpNoDelay() throws Exception {
        // The hook runs before connect, before libws sets TCP_NODELAY (it does once connected), so
        // the hook only keeps the FileDescriptor; onOpen (on the libws thread, the socket surely
        // alive and connected) asks the kernel through a test-only getsockopt. The peer port proves
        // the hook's fd is the task's own socket.
        for (boolean on : new boolean[] {true, false}) {
            List<Long> hookCalls = new CopyOnWriteArrayList<>();
            AtomicReference<FileDescriptor> hookFd = new AtomicReference<>();
            AtomicReference<String> hookThread = new AtomicReference<>();
            CompletableFuture<int[]> seen = new CompletableFuture<>();
            Recorder r = new Recorder() {
                @Override
                public void onOpen(Open open) {
                    try {
                        seen.complete(TestNative.socketInfo(hookFd.get()));
                    } catch (Throwable t) {
                        seen.completeExceptionally(t);
                    }
                    super.onOpen(open); // the default: onOpen(protocol, headers)
                }
            };
            ConnectOptions o = new ConnectOptions.Builder(url()).tcpNoDelay(on).socketHook((taskId, fd) -> {
                hookCalls.add(taskId);
                hookFd.set(fd);
                hookThread.set(Thread.currentThread().getName());
                return true;
            }).build();
            WebSocketTask t = WebSocketTask.connect(o, r);
            int[] info = await(seen, "socket info in onOpen");
            await(r.opened, "onOpen(protocol, headers) called by the default onOpen(Open)");
            checkEq(Arrays.asList(t.socketTaskId()), new ArrayList<>(hookCalls), "hook calls (task ids)");
            checkEq("libws", hookThread.get(), "hook thread");
            checkEq(port(), info[1], "peer port of the hook's fd");
            checkEq(on ? 1 : 0, info[0], "TCP_NODELAY with tcpNoDelay(" + on + ")");
            closeAndWait(t, r);
        }
    }

    static void hookRefuses() throws Exception {
        List<Throwable> caught = new CopyOnWriteArrayList<>();
        WebSocketTask.setExceptionHandler(caught::add);
        try {
            for (String how : new String[] {"false", "throw"}) {
                Recorder r = new Recorder();
                ConnectOptions o = new ConnectOptions.Builder(url()).socketHook((taskId, fd) -> {
                    if (how.equals("throw")) {
                        throw new IOException("no cellular network");
                    }
                    return false;
                }).build();
                WebSocketTask t = WebSocketTask.connect(o, r);
                await(r.closed, how + ": onClose");
                checkEq(Arrays.asList("error", "close"), new ArrayList<>(r.order), how + ": events");
                checkEq(WebSocketTask.WS_ERR_CONNECT, r.errorCode, how + ": error code");
                check(r.errorMsg.startsWith("connectSocket:fail") && r.errorMsg.contains("socket hook refused"),
                      how + ": errMsg " + r.errorMsg);
                checkEq(1006, r.closeCode, how + ": close code");
                checkEq(WebSocketTask.CLOSED, t.readyState(), how + ": readyState");
            }
            checkEq(1, caught.size(), "exceptions handed to the handler: " + caught);
            checkEq("no cellular network", caught.get(0).getMessage(), "the hook's exception");
        } finally {
            WebSocketTask.setExceptionHandler(null);
        }
    }

    // ---- heartbeat -----------------------------------------------------------------------------------

    /**
     * A WebSocket peer that completes one handshake and then never sends anything (no pong), and
     * reports the opcode of the first frame the client sends it.
     */
    static final class MutePeer implements AutoCloseable {
        final ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"));
        final CompletableFuture<Integer> firstOpcode = new CompletableFuture<>();

        MutePeer() throws IOException {
            Thread th = new Thread(this::serve, "mute-peer");
            th.setDaemon(true);
            th.start();
        }

        private void serve() {
            try (Socket s = server.accept()) {
                InputStream in = s.getInputStream();
                String request = readHead(in);
                String key = null;
                for (String line : request.split("\r\n")) {
                    if (line.toLowerCase().startsWith("sec-websocket-key:")) {
                        key = line.substring(line.indexOf(':') + 1).trim();
                    }
                }
                byte[] sha1 = MessageDigest.getInstance("SHA-1").digest(
                        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").getBytes(StandardCharsets.US_ASCII));
                OutputStream out = s.getOutputStream();
                out.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Accept: " + Base64.getEncoder().encodeToString(sha1) + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                int b0 = in.read();
                firstOpcode.complete(b0 < 0 ? -1 : b0 & 0x0f);
                while (in.read() >= 0) {
                    // never answer; hold the connection until the client drops it
                }
            } catch (Exception e) {
                firstOpcode.completeExceptionally(e);
            }
        }

        static String readHead(InputStream in) throws IOException {
            StringBuilder b = new StringBuilder();
            int c;
            while ((c = in.read()) >= 0) {
                b.append((char) c);
                if (b.length() >= 4 && b.substring(b.length() - 4).equals("\r\n\r\n")) {
                    break;
                }
            }
            return b.toString();
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }

    static void heartbeat() throws Exception {
        try (MutePeer peer = new MutePeer()) {
            Recorder r = new Recorder();
            WebSocketTask.connect(new ConnectOptions.Builder("ws://127.0.0.1:" + peer.server.getLocalPort() + "/")
                    .heartbeat(200, 300).build(), r);
            await(r.opened, "onOpen from the mute peer");
            checkEq(9, await(peer.firstOpcode, "the client's first frame"), "opcode of the client's first frame (ping)");
            await(r.closed, "onClose of the dead connection");
            checkEq(Arrays.asList("open", "error", "close"), new ArrayList<>(r.order), "events");
            checkEq(WebSocketTask.WS_ERR_TIMEOUT, r.errorCode, "error code");
            check(r.errorMsg.startsWith("onSocketError:fail") && r.errorMsg.contains("heartbeat"), "errMsg " + r.errorMsg);
            checkEq(1006, r.closeCode, "close code");
        }
        // The echo server answers pings: several intervals later the task is still open and works.
        Recorder live = new Recorder();
        WebSocketTask t = WebSocketTask.connect(new ConnectOptions.Builder(url()).heartbeat(100, 1000).build(), live);
        await(live.opened, "onOpen");
        Thread.sleep(700);
        checkEq(WebSocketTask.OPEN, t.readyState(), "readyState after 7 ping intervals");
        await(sendText(t, "alive"), "send");
        checkEq("alive", poll(live.messages, "echo"), "echo");
        checkEq(Arrays.asList("open", "text"), new ArrayList<>(live.order), "events of the live task");
        closeAndWait(t, live);
    }

    // ---- perMessageDeflate -------------------------------------------------------------------------

    static void deflate() throws Exception {
        for (boolean on : new boolean[] {true, false}) {
            AtomicReference<Open> got = new AtomicReference<>();
            Recorder r = new Recorder() {
                @Override
                public void onOpen(Open open) {
                    got.set(open);
                    super.onOpen(open);
                }
            };
            WebSocketTask t = WebSocketTask.connect(new ConnectOptions.Builder(url()).perMessageDeflate(on).build(), r);
            await(r.opened, "onOpen");
            Open o = got.get();
            checkEq(on, o.compressed, "compressed with perMessageDeflate(" + on + "): " + o);
            if (on) {
                check(o.extensions.startsWith("permessage-deflate"), "extensions: " + o);
                checkEq(o.extensions, o.headers.get("sec-websocket-extensions"), "extensions = the response header");
            } else {
                checkEq("", o.extensions, "extensions");
                checkEq(null, o.headers.get("Sec-WebSocket-Extensions"), "no extensions header");
            }
            checkEq("", o.protocol, "protocol");
            String big = "compress me ".repeat(20_000) + "✓";
            await(sendText(t, big), "send");
            check(big.equals(poll(r.messages, "echo")), "240 KB text round trip");
            closeAndWait(t, r);
        }
    }

    // ---- global listeners ------------------------------------------------------------------------------

    /** Writes every event as "global <kind> <task id> ..." into a shared list. */
    private static final class Journal implements Libws.GlobalListener {
        final List<String> seen;
        final Map<Long, CountDownLatch> closed = new ConcurrentHashMap<>();

        Journal(List<String> seen) {
            this.seen = seen;
        }

        CountDownLatch closeOf(long id) {
            return closed.computeIfAbsent(id, k -> new CountDownLatch(1));
        }

        @Override
        public void onOpen(long id, Open open) {
            seen.add("global open " + id);
        }

        @Override
        public void onMessage(long id, String text) {
            seen.add("global text " + id + " " + text);
        }

        @Override
        public void onMessage(long id, byte[] data) {
            seen.add("global binary " + id + " " + data.length);
        }

        @Override
        public void onError(long id, int code, String errMsg) {
            seen.add("global error " + id + " " + code);
        }

        @Override
        public void onClose(long id, int code, String reason, boolean wasClean) {
            seen.add("global close " + id + " " + code + " " + reason);
            closeOf(id).countDown();
        }
    }

    private static Recorder journaled(List<String> seen) {
        return new Recorder() {
            @Override
            public void onOpen(String protocol, Map<String, String> headers) {
                seen.add("task open");
                super.onOpen(protocol, headers);
            }

            @Override
            public void onMessage(String text) {
                seen.add("task text");
                super.onMessage(text);
            }

            @Override
            public void onClose(int code, String reason, boolean wasClean) {
                seen.add("task close");
                super.onClose(code, reason, wasClean);
            }
        };
    }

    static void globalListeners() throws Exception {
        List<Throwable> caught = new CopyOnWriteArrayList<>();
        WebSocketTask.setExceptionHandler(caught::add);
        try {
            List<String> seen = new CopyOnWriteArrayList<>();
            Journal g = new Journal(seen);
            long h = Libws.addGlobalListener(g);
            check(h > 0, "handle > 0: " + h);
            long thrower = Libws.addGlobalListener(new Libws.GlobalListener() {
                @Override
                public void onOpen(long id, Open open) {
                    throw new IllegalStateException("global onOpen throws");
                }
            });
            check(thrower > 0, "second handle > 0");

            Recorder r = journaled(seen);
            WebSocketTask t = open(r);
            long id = t.socketTaskId();
            await(sendText(t, "g"), "send");
            poll(r.messages, "echo");
            closeAndWait(t, r);
            await(g.closeOf(id), "global onClose");
            checkEq(Arrays.asList("task open", "global open " + id, "task text", "global text " + id + " g", "task close",
                    "global close " + id + " 1000 done"), new ArrayList<>(seen), "events, the task's own listener first");
            checkEq(1, caught.size(), "exceptions of the throwing global listener: " + caught);

            checkEq(0, Libws.removeGlobalListener(h), "remove");
            checkEq(WebSocketTask.WS_ERR_UNKNOWN_LISTENER, Libws.removeGlobalListener(h), "remove twice");
            checkEq(0, Libws.removeGlobalListener(thrower), "remove the thrower");
            // A listener added now runs after any older one would: once it saw the close, g would have too.
            List<String> later = new CopyOnWriteArrayList<>();
            Journal probe = new Journal(later);
            long hp = Libws.addGlobalListener(probe);
            seen.clear();
            Recorder r2 = new Recorder();
            WebSocketTask t2 = open(r2);
            closeAndWait(t2, r2);
            await(probe.closeOf(t2.socketTaskId()), "the probe's onClose");
            checkEq(new ArrayList<String>(), new ArrayList<>(seen), "events of a removed listener");
            checkEq(2, later.size(), "the probe saw open and close: " + later);
            checkEq(1, caught.size(), "no more exceptions from the removed thrower");

            // shutdown removes global listeners: the handle is gone, a new runtime does not call it.
            checkEq(0, Libws.shutdown(), "shutdown");
            checkEq(WebSocketTask.WS_ERR_UNKNOWN_LISTENER, Libws.removeGlobalListener(hp), "remove after shutdown");
            later.clear();
            Recorder r3 = new Recorder();
            closeAndWait(open(r3), r3);
            checkEq(new ArrayList<String>(), new ArrayList<>(later), "events after shutdown");
        } finally {
            WebSocketTask.setExceptionHandler(null);
        }
    }

    // ---- the logger --------------------------------------------------------------------------------------

    private static void awaitLine(List<String> lines, String prefix) throws InterruptedException {
        long end = System.nanoTime() + WAIT_S * 1_000_000_000L;
        while (System.nanoTime() < end) {
            for (String l : lines) {
                if (l.startsWith(prefix)) {
                    return;
                }
            }
            Thread.sleep(10);
        }
        throw new AssertionError("no log line starting \"" + prefix + "\" in " + lines);
    }

    static void logger() throws Exception {
        List<String> lines = new CopyOnWriteArrayList<>();
        Libws.Logger l = (level, message) -> lines.add(level + " " + message);
        try {
            checkEq(WebSocketTask.WS_ERR_INVALID_ARGUMENT, Libws.setLogger(l, 5), "level 5");
            checkEq(0, Libws.setLogger(l, Libws.LOG_DEBUG), "setLogger(DEBUG)");
            // A runtime started by a Java thread's call logs on that thread.
            checkEq(0, Libws.shutdown(), "shutdown");
            Recorder r = new Recorder();
            WebSocketTask t = open(r);
            long id = t.socketTaskId();
            closeAndWait(t, r);
            awaitLine(lines, Libws.LOG_INFO + " libws " + Libws.version() + " runtime started");
            awaitLine(lines, Libws.LOG_DEBUG + " task " + id + " connecting to 127.0.0.1:" + port());
            awaitLine(lines, Libws.LOG_INFO + " task " + id + " open");
            awaitLine(lines, Libws.LOG_INFO + " task " + id + " closed: code 1000");

            checkEq(0, Libws.setLogger(l, Libws.LOG_INFO), "setLogger(INFO)");
            Recorder r2 = new Recorder();
            WebSocketTask t2 = open(r2);
            closeAndWait(t2, r2);
            awaitLine(lines, Libws.LOG_INFO + " task " + t2.socketTaskId() + " closed");
            for (String line : lines) {
                check(!line.startsWith(Libws.LOG_DEBUG + " task " + t2.socketTaskId() + " "), "DEBUG line at INFO: " + line);
            }

            checkEq(0, Libws.setLogger(null, Libws.LOG_OFF), "logger off");
            int before = lines.size();
            Recorder r3 = new Recorder();
            closeAndWait(open(r3), r3);
            checkEq(before, lines.size(), "lines once off");

            List<Throwable> caught = new CopyOnWriteArrayList<>();
            WebSocketTask.setExceptionHandler(caught::add);
            checkEq(0, Libws.setLogger((level, message) -> {
                throw new IllegalStateException("logger throws");
            }, Libws.LOG_INFO), "a throwing logger");
            Recorder r4 = new Recorder();
            WebSocketTask t4 = open(r4);
            await(sendText(t4, "still fine"), "send with a throwing logger");
            checkEq("still fine", poll(r4.messages, "echo"), "echo");
            closeAndWait(t4, r4);
            check(caught.size() >= 2, "the logger's exceptions reached the handler: " + caught.size());
            try {
                Libws.setLogger((level, message) -> Libws.setLogger(null, 0), Libws.LOG_INFO);
                Recorder r5 = new Recorder();
                caught.clear();
                closeAndWait(open(r5), r5);
                check(!caught.isEmpty() && caught.get(0) instanceof IllegalStateException,
                      "setLogger inside a logger refused: " + caught);
            } finally {
                Libws.setLogger(null, 0);
            }
        } finally {
            Libws.setLogger(null, 0);
            WebSocketTask.setExceptionHandler(null);
        }
    }

    // ---- TLS ------------------------------------------------------------------------------------------

    private static Recorder connectWss(ConnectOptions o) throws Exception {
        Recorder r = new Recorder();
        WebSocketTask.connect(o, r);
        return r;
    }

    static void expectOpen(Recorder r, String what) throws Exception {
        long end = System.nanoTime() + WAIT_S * 1_000_000_000L;
        while (r.opened.getCount() > 0 && r.closed.getCount() > 0 && System.nanoTime() < end) {
            Thread.sleep(10); // open, or closed (failed): whichever comes first
        }
        check(r.opened.getCount() == 0, what + ": not open: " + r.order + " " + r.errorMsg);
    }

    static void tls() throws Exception {
        String wss = System.getProperty("io.libws.test.wss");
        String caPath = System.getProperty("io.libws.test.ca");
        check(wss != null && caPath != null, "run.sh passes -Dio.libws.test.wss and -Dio.libws.test.ca");
        byte[] ca = Files.readAllBytes(Paths.get(caPath));
        ConnectOptions plain = new ConnectOptions.Builder(wss).build();

        Recorder untrusted = connectWss(plain);
        await(untrusted.closed, "onClose without the CA");
        checkEq(WebSocketTask.WS_ERR_TLS, untrusted.errorCode, "error code without the CA (" + untrusted.errorMsg + ")");

        Recorder perTask = connectWss(plain.newBuilder().caPem(ca).build());
        expectOpen(perTask, "per-task caPem");
        Recorder skip = connectWss(plain.newBuilder().dangerousSkipCertificateVerification(true).build());
        expectOpen(skip, "per-task dangerous switch");

        checkEq(0, Libws.shutdown(), "shutdown");
        try {
            checkEq(0, Libws.init(new Libws.Config.Builder().caPem(ca).useSystemRoots(true).build()), "init with CA");
            Recorder runtimeCa = connectWss(plain);
            expectOpen(runtimeCa, "runtime caPem");
            checkEq(0, Libws.shutdown(), "shutdown");
            checkEq(0, Libws.init(new Libws.Config.Builder().dangerousSkipCertificateVerification(true).build()),
                    "init dangerous");
            Recorder runtimeSkip = connectWss(plain);
            expectOpen(runtimeSkip, "runtime dangerous switch");
        } finally {
            Libws.shutdown();
        }
    }

    // ---- the connection profile -----------------------------------------------------------------------

    /** A Recorder that keeps the Open it got. */
    private static final class Profiled extends Recorder {
        volatile Open open;

        @Override
        public void onOpen(Open o) {
            open = o;
            super.onOpen(o);
        }
    }

    private static WebSocketTask.Profile checkProfile(Profiled r, boolean tls, String what) throws Exception {
        expectOpen(r, what);
        WebSocketTask.Profile p = r.open.profile;
        check(p != null, what + ": Open.profile is set");
        long[] t = {p.fetchStartUs, p.domainLookupStartUs, p.domainLookupEndUs, p.connectStartUs,
                    tls ? p.tlsStartUs : p.connectStartUs, tls ? p.tlsEndUs : p.connectEndUs, p.connectEndUs, p.openUs};
        for (int i = 1; i < t.length; i++) {
            check(t[i] >= t[i - 1], what + ": timestamps in order: " + Arrays.toString(t));
        }
        check(t[0] > 0, what + ": fetchStartUs > 0");
        checkEq(1, p.attempts, what + ": attempts");
        check(Math.abs(p.fetchStartUnixUs / 1000 - System.currentTimeMillis()) < 60_000, what + ": the Unix anchor");
        Map<String, Double> w = p.toWeChat();
        checkEq(Arrays.asList("fetchStart", "domainLookUpStart", "domainLookUpEnd", "connectStart", "connectEnd", "rtt",
                              "handshakeCost", "cost"), new ArrayList<>(w.keySet()), what + ": WeChat's fields");
        check(w.get("cost") >= w.get("rtt") && w.get("connectEnd") >= w.get("fetchStart"), what + ": " + w);
        if (tls) {
            checkEq("TLSv1.3", p.tlsVersion, what + ": TLS version");
            check(p.tlsCipher.startsWith("TLS_"), what + ": cipher " + p.tlsCipher);
            checkEq(p.tlsEndUs, p.connectEndUs, what + ": connectEnd includes TLS");
        } else {
            check(p.tlsStartUs == 0 && p.tlsEndUs == 0 && !p.tlsResumed && p.tlsVersion.isEmpty()
                  && p.tlsCipher.isEmpty(), what + ": no TLS fields for ws://: " + p);
        }
        return p;
    }

    static void profile() throws Exception {
        Profiled r = new Profiled();
        WebSocketTask t = WebSocketTask.connect(url(), null, null, r);
        WebSocketTask.Profile p = checkProfile(r, false, "ws://");
        checkEq("127.0.0.1:" + port(), p.peerAddress, "ws://: peer address");
        checkEq(p.fetchStartUs, p.domainLookupEndUs, "ws:// to an IP: no lookup");
        closeAndWait(t, r);

        String wss = System.getProperty("io.libws.test.wss");
        byte[] ca = Files.readAllBytes(Paths.get(System.getProperty("io.libws.test.ca")));
        checkEq(0, Libws.shutdown(), "shutdown"); // a fresh TLS session cache
        ConnectOptions o = new ConnectOptions.Builder(wss).caPem(ca).build();
        boolean[] resumed = new boolean[2];
        for (int i = 0; i < 2; i++) {
            Profiled w = new Profiled();
            WebSocketTask s = WebSocketTask.connect(o, w);
            resumed[i] = checkProfile(w, true, "wss:// #" + (i + 1)).tlsResumed;
            closeAndWait(s, w);
        }
        checkEq("[false, true]", Arrays.toString(resumed), "wss://: full, then resumed");
    }

    // ---- statics -----------------------------------------------------------------------------------------

    static void statics() throws Exception {
        Recorder r = new Recorder();
        WebSocketTask t = open(r);
        checkEq(WebSocketTask.OPEN, Libws.readyState(t.socketTaskId()), "readyState(id) of an open task");
        closeAndWait(t, r);
        checkEq(WebSocketTask.CLOSED, Libws.readyState(t.socketTaskId()), "readyState(id) of a closed task");
        checkEq(WebSocketTask.WS_ERR_UNKNOWN_TASK, Libws.readyState(Long.MAX_VALUE), "readyState of an id never issued");
        check(Libws.strerror(WebSocketTask.WS_ERR_TIMEOUT).toLowerCase().contains("time"),
              "strerror(WS_ERR_TIMEOUT): " + Libws.strerror(WebSocketTask.WS_ERR_TIMEOUT));
        checkEq("unknown error code", Libws.strerror(-999), "strerror of an unknown code");
        check(Libws.version().matches("\\d+\\.\\d+\\.\\d+.*"), "version: " + Libws.version());
    }
}
