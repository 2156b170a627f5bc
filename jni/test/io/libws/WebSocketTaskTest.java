package io.libws;

import java.lang.ref.WeakReference;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import io.libws.WebSocketTask.Result;
import io.libws.WebSocketTask.WebSocketException;

/**
 * The JVM test of the JNI binding against a real echo server (demo/echo_server.py).
 * Usage: java -Djava.library.path=build/jni -cp build/jni/classes io.libws.WebSocketTaskTest ws://127.0.0.1:PORT/
 * Prints PASS/FAIL per case and a last line "N passed, N failed"; exits 1 on any failure.
 */
public final class WebSocketTaskTest {
    static final long WAIT_S = 10;
    static String url;

    // ---- a tiny harness ---------------------------------------------------------------------------

    interface Case {
        void run() throws Exception;
    }

    private static int passed;
    private static int failed;

    static void run(String name, Case c) {
        long t0 = System.nanoTime();
        try {
            c.run();
            passed++;
            System.out.printf("PASS %s (%d ms)%n", name, (System.nanoTime() - t0) / 1_000_000);
        } catch (Throwable t) {
            failed++;
            System.out.printf("FAIL %s: %s%n", name, t);
            if (!(t instanceof AssertionError)) {
                t.printStackTrace(System.out);
            }
        }
        System.out.flush();
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static void checkEq(Object expected, Object actual, String what) {
        if (expected == null ? actual != null : !expected.equals(actual)) {
            throw new AssertionError(what + ": expected <" + expected + "> but was <" + actual + ">");
        }
    }

    static void await(CountDownLatch latch, String what) throws InterruptedException {
        if (!latch.await(WAIT_S, TimeUnit.SECONDS)) {
            throw new AssertionError("timed out after " + WAIT_S + " s waiting for " + what);
        }
    }

    static <T> T await(CompletableFuture<T> f, String what) throws Exception {
        try {
            return f.get(WAIT_S, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError("timed out after " + WAIT_S + " s waiting for " + what);
        }
    }

    static <T> T poll(BlockingQueue<T> q, String what) throws InterruptedException {
        T v = q.poll(WAIT_S, TimeUnit.SECONDS);
        if (v == null) {
            throw new AssertionError("timed out after " + WAIT_S + " s waiting for " + what);
        }
        return v;
    }

    private static String escape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c > 0x7e) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    // ---- a recording listener -----------------------------------------------------------------------

    /** Records every event in order ("open", "text", "binary", "error", "close") with its payload. */
    static class Recorder implements WebSocketTask.Listener {
        final List<String> order = new CopyOnWriteArrayList<>();
        final CountDownLatch opened = new CountDownLatch(1);
        final CountDownLatch closed = new CountDownLatch(1);
        final BlockingQueue<Object> messages = new LinkedBlockingQueue<>();
        final AtomicInteger closeCount = new AtomicInteger();
        final AtomicInteger eventsAfterClose = new AtomicInteger();
        volatile String protocol;
        volatile Map<String, String> headers;
        volatile int errorCode;
        volatile String errorMsg;
        volatile int closeCode = -1;
        volatile String closeReason;
        volatile boolean wasClean;
        volatile String callbackThread;

        private void event(String kind) {
            if (closeCount.get() > 0) {
                eventsAfterClose.incrementAndGet();
            }
            order.add(kind);
            callbackThread = Thread.currentThread().getName();
        }

        @Override
        public void onOpen(String protocol, Map<String, String> headers) {
            event("open");
            this.protocol = protocol;
            this.headers = headers;
            opened.countDown();
        }

        @Override
        public void onMessage(String text) {
            event("text");
            messages.add(text);
        }

        @Override
        public void onMessage(byte[] data) {
            event("binary");
            messages.add(data);
        }

        @Override
        public void onError(int code, String errMsg) {
            event("error");
            errorCode = code;
            errorMsg = errMsg;
        }

        @Override
        public void onClose(int code, String reason, boolean wasClean) {
            event("close");
            closeCode = code;
            closeReason = reason;
            this.wasClean = wasClean;
            closeCount.incrementAndGet();
            closed.countDown();
        }
    }

    static WebSocketTask open(Recorder r) throws Exception {
        WebSocketTask t = WebSocketTask.connect(url, null, null, r);
        await(r.opened, "onOpen");
        checkEq(WebSocketTask.OPEN, t.readyState(), "readyState after onOpen");
        return t;
    }

    static void closeAndWait(WebSocketTask t, Recorder r) throws Exception {
        CompletableFuture<Result> res = new CompletableFuture<>();
        t.close(1000, "done", res::complete);
        checkEq("closeSocket:ok", await(res, "close result").errMsg, "close errMsg");
        await(r.closed, "onClose");
    }

    static CompletableFuture<Result> sendText(WebSocketTask t, String text) {
        CompletableFuture<Result> f = new CompletableFuture<>();
        int rc = t.send(text, f::complete);
        if (rc != 0) {
            throw new AssertionError("send returned " + rc);
        }
        return f;
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            return s.getLocalPort();
        }
    }

    // ---- the cases ---------------------------------------------------------------------------------

    static void textEcho() throws Exception {
        Recorder r = new Recorder();
        WebSocketTask t = open(r);
        String[] texts = {
            "hello",
            "",
            "héllo wörld — ½ € 日本語 Ελληνικά",
            "emoji \uD83D\uDE00 and \uD83C\uDF89 and math \uD835\uDD38", // U+1F600, U+1F389, U+1D538
            "\uD83D\uDE00", // a lone non-BMP character
            "nul\u0000inside", // NUL is a valid character in a text message
            "\u0800\uFFFD\uFFFF",
        };
        for (String s : texts) {
            Result res = await(sendText(t, s), "send result");
            checkEq("sendSocketMessage:ok", res.errMsg, "send errMsg");
            checkEq(0, res.code, "send code");
            checkEq(t.socketTaskId(), res.socketTaskId, "send result task id");
            Object echo = poll(r.messages, "echo of " + escape(s));
            check(echo instanceof String, "echo is text, got " + echo.getClass());
            checkEq(escape(s), escape((String) echo), "text round trip");
            check(s.equals(echo), "text round trip exact");
        }
        // 100 KiB of mixed 1- to 4-byte characters.
        StringBuilder big = new StringBuilder();
        Random rnd = new Random(7);
        while (big.length() < 100_000) {
            int cp;
            switch (rnd.nextInt(4)) {
                case 0: cp = 0x20 + rnd.nextInt(0x5f); break;
                case 1: cp = 0x80 + rnd.nextInt(0x780); break;
                case 2: cp = 0x800 + rnd.nextInt(0xD000 - 0x800); break;
                default: cp = 0x10000 + rnd.nextInt(0x10FFFF - 0x10000); break;
            }
            big.appendCodePoint(cp);
        }
        String bigText = big.toString();
        await(sendText(t, bigText), "big send result");
        check(bigText.equals(poll(r.messages, "big text echo")), "100 KiB mixed text round trip");
        closeAndWait(t, r);
    }

    static void binaryEcho() throws Exception {
        Recorder r = new Recorder();
        WebSocketTask t = open(r);
        byte[] mib = new byte[1 << 20];
        new Random(42).nextBytes(mib);
        byte[][] payloads = {new byte[0], {0}, {(byte) 0xff, 0, (byte) 0x80, 1}, mib};
        for (byte[] p : payloads) {
            CompletableFuture<Result> f = new CompletableFuture<>();
            checkEq(0, t.send(p, f::complete), "send return");
            checkEq("sendSocketMessage:ok", await(f, "send result").errMsg, "send errMsg");
            Object echo = poll(r.messages, "echo of " + p.length + " bytes");
            check(echo instanceof byte[], "echo is binary, got " + echo.getClass());
            checkEq(p.length, ((byte[]) echo).length, "binary length");
            check(Arrays.equals(p, (byte[]) echo), "binary round trip of " + p.length + " bytes");
        }
        // The caller may reuse its array at once: libws copied it.
        byte[] reused = "first".getBytes(StandardCharsets.US_ASCII);
        t.send(reused);
        Arrays.fill(reused, (byte) 'x');
        check(Arrays.equals("first".getBytes(StandardCharsets.US_ASCII), (byte[]) poll(r.messages, "reused echo")),
              "bytes copied at send time");
        closeAndWait(t, r);
    }

    static void openThenMessagesThenOneClose() throws Exception {
        Recorder r = new Recorder();
        CompletableFuture<Result> connectResult = new CompletableFuture<>();
        Map<String, String> headers = Collections.singletonMap("X-Libws-Test", "jni ✓");
        WebSocketTask t = WebSocketTask.connect(url, headers, null, r, res -> {
            r.order.add("result:" + res.errMsg); // the connect result comes first, before onOpen
            connectResult.complete(res);
        });
        check(t.socketTaskId() > 0, "socketTaskId > 0");
        Result cr = await(connectResult, "connect result");
        checkEq("connectSocket:ok", cr.errMsg, "connect errMsg");
        checkEq(t.socketTaskId(), cr.socketTaskId, "connect result task id");
        await(r.opened, "onOpen");
        checkEq("", r.protocol, "protocol");
        check(r.headers.containsKey("sec-websocket-accept") && r.headers.containsKey("Upgrade"),
              "open headers (case-insensitive) hold Sec-WebSocket-Accept and Upgrade: " + r.headers);
        checkEq("libws", r.callbackThread, "callbacks run on the thread named");
        t.send("one");
        t.send(new byte[] {1, 2});
        t.send("three");
        checkEq("one", poll(r.messages, "message 1"), "message 1");
        check(Arrays.equals(new byte[] {1, 2}, (byte[]) poll(r.messages, "message 2")), "message 2");
        checkEq("three", poll(r.messages, "message 3"), "message 3");
        CompletableFuture<Result> closeResult = new CompletableFuture<>();
        checkEq(0, t.close(1000, "bye", closeResult::complete), "close return");
        checkEq("closeSocket:ok", await(closeResult, "close result").errMsg, "close errMsg");
        await(r.closed, "onClose");
        checkEq(1000, r.closeCode, "close code");
        checkEq("bye", r.closeReason, "close reason");
        check(r.wasClean, "wasClean");
        checkEq(WebSocketTask.CLOSED, t.readyState(), "readyState after onClose");
        Thread.sleep(300); // anything late would show up now
        checkEq(1, r.closeCount.get(), "onClose count");
        checkEq(0, r.eventsAfterClose.get(), "events after onClose");
        checkEq(Arrays.asList("result:connectSocket:ok", "open", "text", "binary", "text", "close"), new ArrayList<>(r.order),
                "event order");
    }

    static void badUrl() throws Exception {
        Recorder r = new Recorder();
        CompletableFuture<Result> res = new CompletableFuture<>();
        try {
            WebSocketTask.connect("http://x", null, null, r, res::complete);
            throw new AssertionError("connect(\"http://x\") did not throw");
        } catch (WebSocketException e) {
            check(e.errMsg.startsWith("connectSocket:fail"), "errMsg starts connectSocket:fail: " + e.errMsg);
            checkEq(WebSocketTask.WS_ERR_INVALID_URL, e.code, "code");
            check(e.errMsg.contains("http://x"), "errMsg names the url: " + e.errMsg);
        }
        Result cb = await(res, "connect result callback");
        check(cb.errMsg.startsWith("connectSocket:fail"), "callback errMsg: " + cb.errMsg);
        try {
            WebSocketTask.connect(url, Collections.singletonMap("Host", "evil"), null, r);
            throw new AssertionError("connect with a Host header did not throw");
        } catch (WebSocketException e) {
            checkEq(WebSocketTask.WS_ERR_INVALID_HEADER, e.code, "forbidden header code");
            check(e.errMsg.startsWith("connectSocket:fail"), "forbidden header errMsg: " + e.errMsg);
        }
        Thread.sleep(200);
        checkEq(0, r.order.size(), "no events for a refused connect");
    }

    static void invalidCloseCode() throws Exception {
        Recorder r = new Recorder();
        WebSocketTask t = open(r);
        CompletableFuture<Result> res = new CompletableFuture<>();
        checkEq(WebSocketTask.WS_ERR_INVALID_CLOSE_CODE, t.close(999, "nope", res::complete), "close(999) return");
        Result cr = await(res, "close(999) result");
        check(cr.errMsg.startsWith("closeSocket:fail"), "errMsg starts closeSocket:fail: " + cr.errMsg);
        check(cr.errMsg.contains("999"), "errMsg names the code: " + cr.errMsg);
        checkEq(WebSocketTask.WS_ERR_INVALID_CLOSE_CODE, cr.code, "result code");
        String tooLong = "ü".repeat(62); // 124 bytes of UTF-8
        CompletableFuture<Result> res2 = new CompletableFuture<>();
        checkEq(WebSocketTask.WS_ERR_REASON_TOO_LONG, t.close(1000, tooLong, res2::complete), "long reason return");
        check(await(res2, "long reason result").errMsg.startsWith("closeSocket:fail"), "long reason errMsg");
        checkEq(WebSocketTask.OPEN, t.readyState(), "still OPEN after failed closes");
        await(sendText(t, "still works"), "send after failed close");
        checkEq("still works", poll(r.messages, "echo"), "echo after failed close");
        closeAndWait(t, r);
    }

    static void sendAfterClose() throws Exception {
        Recorder r = new Recorder();
        WebSocketTask t = open(r);
        closeAndWait(t, r);
        CompletableFuture<Result> res = new CompletableFuture<>();
        int rc = t.send("late", res::complete);
        checkEq(WebSocketTask.WS_ERR_CLOSED, rc, "send after close return");
        Result sr = await(res, "send result");
        check(sr.errMsg.startsWith("sendSocketMessage:fail"), "errMsg starts sendSocketMessage:fail: " + sr.errMsg);
        checkEq(rc, sr.code, "result code equals return");
        CompletableFuture<Result> res2 = new CompletableFuture<>();
        t.send(new byte[] {1}, res2::complete);
        check(await(res2, "binary send result").errMsg.startsWith("sendSocketMessage:fail"), "binary send after close");
        CompletableFuture<Result> res3 = new CompletableFuture<>();
        checkEq(WebSocketTask.WS_ERR_CLOSED, t.close(1000, "again", res3::complete), "close after close return");
        check(await(res3, "close result").errMsg.startsWith("closeSocket:fail"), "close after close errMsg");
    }

    /**
     * bufferedAmount: a send's bytes leave it before its result is called; while a result callback
     * holds the libws thread, a send from this thread is counted at once (no waiting for that
     * thread); back to 0 once written; 0 once CLOSED; unknown ids are WS_ERR_UNKNOWN_TASK.
     */
    static void bufferedAmount() throws Exception {
        Recorder r = new Recorder();
        WebSocketTask t = open(r);
        checkEq(0L, t.bufferedAmount(), "bufferedAmount when nothing was sent");
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch go = new CountDownLatch(1);
        long[] inside = {-1};
        int rc = t.send("first", res -> {
            inside[0] = t.bufferedAmount();
            entered.countDown();
            try {
                go.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        checkEq(0, rc, "first send");
        try {
            await(entered, "first send's result (holding the libws thread)");
            checkEq(0L, inside[0], "bufferedAmount inside the written message's result");
            CompletableFuture<Result> second = new CompletableFuture<>();
            checkEq(0, t.send(new byte[1000], second::complete), "second send");
            checkEq(1000L, t.bufferedAmount(), "bufferedAmount while the libws thread is held");
            checkEq(1000L, Libws.bufferedAmount(t.socketTaskId()), "Libws.bufferedAmount(id)");
            check(!second.isDone(), "the second send waits behind the held thread");
            go.countDown();
            checkEq(0, await(second, "second send result").code, "second send code");
            checkEq(0L, t.bufferedAmount(), "bufferedAmount after the write");
        } finally {
            go.countDown();
        }
        closeAndWait(t, r);
        checkEq(0L, t.bufferedAmount(), "bufferedAmount once CLOSED");
        checkEq((long) WebSocketTask.WS_ERR_UNKNOWN_TASK, Libws.bufferedAmount(Long.MAX_VALUE), "unknown id");
    }

    static void stateRightAfterClose() throws Exception {
        // close() of an OPEN task starts the close handshake: readyState is CLOSING when it returns
        // (as a browser's or WeChat's SocketTask), and a send() made then is refused, its return
        // value the same code as its result ("Their return value gives the same code
        // synchronously", libws.h). Done inside onMessage, so the libws thread is busy with us and
        // cannot have processed the close yet: the outcome does not depend on timing.
        AtomicInteger stateAfterClose = new AtomicInteger(42);
        AtomicInteger sendReturn = new AtomicInteger(42);
        CompletableFuture<Result> sendResult = new CompletableFuture<>();
        Recorder r = new Recorder() {
            WebSocketTask task;

            @Override
            public void onCreate(WebSocketTask t) {
                task = t;
            }

            @Override
            public void onMessage(String text) {
                super.onMessage(text);
                task.close(1000, "bye");
                stateAfterClose.set(task.readyState());
                sendReturn.set(task.send("after close()", sendResult::complete));
            }
        };
        WebSocketTask t = open(r);
        t.send("trigger");
        Result sr = await(sendResult, "send result");
        await(r.closed, "onClose");
        check(sr.errMsg.startsWith("sendSocketMessage:fail"), "send after close() fails: " + sr.errMsg);
        String seen = " (send() returned " + sendReturn.get() + ", its result: " + sr.errMsg + ")";
        checkEq(WebSocketTask.CLOSING, stateAfterClose.get(), "readyState right after close() returned" + seen);
        checkEq(sr.code, sendReturn.get(), "send() return value vs its result code" + seen);
    }

    static void connectionRefused() throws Exception {
        int port = freePort();
        Recorder r = new Recorder();
        CompletableFuture<Result> cr = new CompletableFuture<>();
        WebSocketTask t = WebSocketTask.connect("ws://127.0.0.1:" + port + "/", null, null, r, cr::complete);
        checkEq("connectSocket:ok", await(cr, "connect result").errMsg, "connect result (the attempt started)");
        await(r.closed, "onClose");
        checkEq(Arrays.asList("error", "close"), new ArrayList<>(r.order), "events");
        checkEq(WebSocketTask.WS_ERR_CONNECT, r.errorCode, "error code");
        check(r.errorMsg.startsWith("connectSocket:fail"), "error errMsg: " + r.errorMsg);
        checkEq(1006, r.closeCode, "close code");
        check(!r.wasClean, "wasClean false");
        checkEq(WebSocketTask.CLOSED, t.readyState(), "readyState");
        Thread.sleep(200);
        checkEq(1, r.closeCount.get(), "onClose count");
    }

    static void closeFromOnMessage() throws Exception {
        // The listener gets its task in onCreate, sends in onOpen and closes in onMessage: every
        // call made on the libws thread, from inside a callback.
        CountDownLatch closed = new CountDownLatch(1);
        AtomicInteger sendReturn = new AtomicInteger(42);
        AtomicInteger closeReturn = new AtomicInteger(42);
        AtomicReference<String> echoed = new AtomicReference<>();
        CompletableFuture<String> closeErrMsg = new CompletableFuture<>();
        AtomicReference<String> closeEvent = new AtomicReference<>();
        WebSocketTask.Listener l = new WebSocketTask.Listener() {
            WebSocketTask task;

            @Override
            public void onCreate(WebSocketTask t) {
                task = t;
            }

            @Override
            public void onOpen(String protocol, Map<String, String> headers) {
                sendReturn.set(task.send("from onOpen"));
            }

            @Override
            public void onMessage(String text) {
                echoed.set(text);
                closeReturn.set(task.close(1000, "closed in onMessage", res -> closeErrMsg.complete(res.errMsg)));
            }

            @Override
            public void onClose(int code, String reason, boolean wasClean) {
                closeEvent.set(code + " " + reason + " " + wasClean);
                closed.countDown();
            }
        };
        WebSocketTask t = WebSocketTask.connect(url, null, null, l);
        await(closed, "onClose after close() in onMessage");
        checkEq(0, sendReturn.get(), "send() return inside onOpen");
        checkEq("from onOpen", echoed.get(), "echo");
        checkEq(0, closeReturn.get(), "close() return inside onMessage");
        checkEq("closeSocket:ok", await(closeErrMsg, "close result"), "close result");
        checkEq("1000 closed in onMessage true", closeEvent.get(), "close event");
        checkEq(WebSocketTask.CLOSED, t.readyState(), "readyState");
    }

    static void connectFromCallback() throws Exception {
        // connect() inside a listener: a good one opens; a refused one throws at once (no wait on
        // the libws thread, which would deadlock).
        Recorder inner = new Recorder();
        AtomicReference<WebSocketTask> innerTask = new AtomicReference<>();
        CompletableFuture<String> outcome = new CompletableFuture<>();
        Recorder outer = new Recorder() {
            @Override
            public void onOpen(String protocol, Map<String, String> headers) {
                super.onOpen(protocol, headers);
                try {
                    WebSocketTask.connect("http://x", null, null, null);
                    outcome.complete("no exception");
                } catch (WebSocketException e) {
                    try {
                        innerTask.set(WebSocketTask.connect(url, null, null, inner));
                        outcome.complete(e.errMsg);
                    } catch (WebSocketException e2) {
                        outcome.complete("inner connect failed: " + e2.errMsg);
                    }
                }
            }
        };
        WebSocketTask t = WebSocketTask.connect(url, null, null, outer);
        String errMsg = await(outcome, "connect inside onOpen");
        check(errMsg.startsWith("connectSocket:fail"), "errMsg of bad connect inside a callback: " + errMsg);
        await(inner.opened, "inner task onOpen");
        closeAndWait(t, outer);
        closeAndWait(innerTask.get(), inner);
    }

    static void listenerExceptionsAreContained() throws Exception {
        List<Throwable> caught = new CopyOnWriteArrayList<>();
        WebSocketTask.setExceptionHandler(caught::add);
        try {
            Recorder r = new Recorder() {
                @Override
                public void onMessage(String text) {
                    super.onMessage(text);
                    throw new IllegalStateException("thrown by onMessage: " + text);
                }
            };
            WebSocketTask t = open(r);
            CompletableFuture<Result> res = new CompletableFuture<>();
            t.send("boom", x -> {
                res.complete(x);
                throw new RuntimeException("thrown by a result callback");
            });
            await(res, "send result");
            poll(r.messages, "first echo");
            // libws and the binding go on: more messages, then the close.
            t.send("again");
            checkEq("again", poll(r.messages, "second echo"), "message after an exception");
            closeAndWait(t, r);
            checkEq(1000, r.closeCode, "close code");
            Thread.sleep(100);
            checkEq(3, caught.size(), "exceptions handed to the handler: " + caught);
        } finally {
            WebSocketTask.setExceptionHandler(null);
        }
    }

    static void unpairedSurrogateIsRefused() throws Exception {
        Recorder r = new Recorder();
        WebSocketTask t = open(r);
        CompletableFuture<Result> res = new CompletableFuture<>();
        int rc = t.send("bad \uD800 text", res::complete);
        checkEq(WebSocketTask.WS_ERR_INVALID_UTF8, rc, "send return");
        check(await(res, "result").errMsg.startsWith("sendSocketMessage:fail"), "errMsg");
        try {
            t.close(1000, "a\u0000b");
            throw new AssertionError("NUL in reason not refused");
        } catch (IllegalArgumentException expected) {
            // a C string cannot hold it
        }
        closeAndWait(t, r);
    }

    private static WeakReference<Object> closedTaskListener() throws Exception {
        Recorder r = new Recorder();
        WebSocketTask t = open(r);
        closeAndWait(t, r);
        return new WeakReference<>(r);
    }

    static void listenerReleasedAfterClose() throws Exception {
        WeakReference<Object> ref = closedTaskListener();
        Thread.sleep(100); // the shim deletes its global ref right after onClose returns
        for (int i = 0; i < 50 && ref.get() != null; i++) {
            System.gc();
            Thread.sleep(20);
        }
        check(ref.get() == null, "listener still reachable after onClose: the global ref was not deleted");
    }

    private static long libwsThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(th -> th.getName().equals("libws")).count();
    }

    static void shutdownClosesAndRestarts() throws Exception {
        Recorder r = new Recorder();
        open(r);
        checkEq(0, WebSocketTask.shutdown(), "shutdown return");
        checkEq(0L, r.closed.getCount(), "onClose delivered before shutdown returned");
        checkEq(1001, r.closeCode, "close code on shutdown");
        checkEq(0L, libwsThreads(), "JVM threads named libws after shutdown (the shim detaches its thread)");
        // a fresh runtime, a fresh libws thread (attached anew)
        Recorder r2 = new Recorder();
        WebSocketTask t2 = open(r2);
        await(sendText(t2, "after restart \uD83D\uDE80"), "send after restart");
        checkEq("after restart \uD83D\uDE80", poll(r2.messages, "echo after restart"), "echo after restart");
        closeAndWait(t2, r2);
        checkEq("libws", r2.callbackThread, "callback thread name after restart");
        checkEq(1L, libwsThreads(), "JVM threads named libws while running");
    }

    /**
     * A Dispatcher on a single-thread executor: the connect result, the listener's events, the send
     * and close results all run on the executor's thread (never libws's), in order; the wake posts
     * from libws's thread; the dispatcher is refused free (WS_ERR_BUSY) while its task is open and
     * freed after onClose.
     */
    static void listenersOnTheExecutor() throws Exception {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor(
                r -> new Thread(r, "app-executor"));
        List<String> posters = new CopyOnWriteArrayList<>();
        List<String> calls = new CopyOnWriteArrayList<>();
        try {
            Dispatcher d = new Dispatcher(task -> {
                posters.add(Thread.currentThread().getName());
                pool.execute(task);
            });
            CountDownLatch closed = new CountDownLatch(1);
            WebSocketTask.ResultCallback result = r -> calls.add(Thread.currentThread().getName() + " " + r.errMsg);
            WebSocketTask.Listener listener = new WebSocketTask.Listener() {
                final List<String> got = new ArrayList<>();
                WebSocketTask task;

                @Override public void onCreate(WebSocketTask t) { task = t; }

                @Override public void onOpen(String protocol, Map<String, String> headers) {
                    calls.add(Thread.currentThread().getName() + " open " + task.readyState());
                    for (String m : new String[] {"a", "b", "c"}) {
                        task.send(m, result);
                    }
                }

                @Override public void onMessage(String text) {
                    calls.add(Thread.currentThread().getName() + " message " + text);
                    got.add(text);
                    if (got.size() == 3) {
                        task.close(1000, "done", result);
                    }
                }

                @Override public void onClose(int code, String reason, boolean wasClean) {
                    calls.add(Thread.currentThread().getName() + " close " + code + " " + reason + " " + task.readyState());
                    closed.countDown();
                }
            };
            WebSocketTask task = WebSocketTask.connect(new ConnectOptions.Builder(url).dispatcher(d).build(), listener,
                    result);
            try {
                d.close();
                throw new AssertionError("a dispatcher with an open task was freed");
            } catch (WebSocketException e) {
                checkEq(-27, e.code, "code of freeing a dispatcher still needed (WS_ERR_BUSY)");
            }
            await(closed, "onClose on the executor");
            checkEq(WebSocketTask.CLOSED, task.readyState(), "readyState after onClose");
            CompletableFuture<Void> drained = new CompletableFuture<>();
            pool.execute(() -> drained.complete(null)); // after every drain posted so far
            await(drained, "the executor's queue");
            d.close();
            d.close(); // a second close does nothing
            String ex = "app-executor ";
            List<String> events = new ArrayList<>();
            int sends = 0;
            for (String c : calls) {
                check(c.startsWith(ex), "on the executor's thread: " + c);
                if (c.equals(ex + "sendSocketMessage:ok")) {
                    sends++;
                } else {
                    events.add(c);
                }
            }
            checkEq(3, sends, "send results");
            checkEq(Arrays.asList(ex + "connectSocket:ok", ex + "open 1", ex + "message a", ex + "message b",
                    ex + "message c", ex + "closeSocket:ok", ex + "close 1000 done 3"), events, "order");
            check(!posters.isEmpty(), "the wake posted to the executor");
            for (String p : posters) {
                checkEq("libws", p, "thread that posted the drain (the wake callback)");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: WebSocketTaskTest ws://127.0.0.1:PORT/");
            System.exit(2);
        }
        url = args[0];
        System.out.println("libws " + WebSocketTask.version() + ", server " + url);
        run("text echo (non-ASCII, emoji, NUL, 100 KiB mixed)", WebSocketTaskTest::textEcho);
        run("binary echo (0 bytes .. 1 MiB)", WebSocketTaskTest::binaryEcho);
        run("onOpen before messages, one onClose(1000, bye, clean)", WebSocketTaskTest::openThenMessagesThenOneClose);
        run("bad url and forbidden header fail with connectSocket:fail", WebSocketTaskTest::badUrl);
        run("close(999) and a too long reason fail, task stays OPEN", WebSocketTaskTest::invalidCloseCode);
        run("send after close fails", WebSocketTaskTest::sendAfterClose);
        run("right after close(): readyState CLOSING, send refused", WebSocketTaskTest::stateRightAfterClose);
        run("bufferedAmount: counted until written, never waits for the libws thread", WebSocketTaskTest::bufferedAmount);
        run("connection refused: onError then onClose(1006, not clean)", WebSocketTaskTest::connectionRefused);
        run("close() inside onMessage (no deadlock)", WebSocketTaskTest::closeFromOnMessage);
        run("connect() inside onOpen (no deadlock)", WebSocketTaskTest::connectFromCallback);
        run("listener exceptions are contained", WebSocketTaskTest::listenerExceptionsAreContained);
        run("unpaired surrogate refused as invalid UTF-8", WebSocketTaskTest::unpairedSurrogateIsRefused);
        run("listener released after onClose", WebSocketTaskTest::listenerReleasedAfterClose);
        run("shutdown closes tasks (1001) and libws restarts", WebSocketTaskTest::shutdownClosesAndRestarts);
        run("Dispatcher: listeners and results on the app's executor, in order", WebSocketTaskTest::listenersOnTheExecutor);
        LibwsTest.runAll();
        ConnectPathsTest.runAll();
        WebSocketTask.shutdown();
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
