package io.libws;

import static io.libws.LibwsTest.expectOpen;
import static io.libws.WebSocketTaskTest.await;
import static io.libws.WebSocketTaskTest.check;
import static io.libws.WebSocketTaskTest.checkEq;
import static io.libws.WebSocketTaskTest.closeAndWait;
import static io.libws.WebSocketTaskTest.poll;
import static io.libws.WebSocketTaskTest.run;
import static io.libws.WebSocketTaskTest.sendText;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.libws.LibwsTest.MutePeer;
import io.libws.WebSocketTask.Open;
import io.libws.WebSocketTask.WebSocketException;
import io.libws.WebSocketTaskTest.Recorder;

/**
 * The options of issues 14 and 15 through the binding: the host's addresses, the attempt delay,
 * the async resolver, network changes, pins, client certificates and proxies. Peers: the echo
 * server, ffi-tests/tls_server.py's wss:// echo and its certificates (run.sh), and small ones of
 * our own on loopback (a ::1 black hole, a mute WebSocket peer, an HTTP CONNECT proxy).
 */
final class ConnectPathsTest {
    private ConnectPathsTest() {}

    /** A host name that resolves nowhere (RFC 6761's .invalid): a task that opens used what it was given. */
    private static final String NOWHERE = "libws-test.invalid";

    private static int port() {
        return URI.create(WebSocketTaskTest.url).getPort();
    }

    private static String echoAt(String host) {
        return "ws://" + host + ":" + port() + "/";
    }

    static void runAll() {
        run("addresses: an unresolvable host name opens through the host's 127.0.0.1:<port>; a bad one is refused",
            ConnectPathsTest::addresses);
        run("connectionAttemptDelayMs: a black hole first holds back the live address for the configured delay",
            ConnectPathsTest::attemptDelay);
        run("Resolver: answered from another thread, with an error, with a bad address, and by throwing",
            ConnectPathsTest::resolver);
        run("networkChanged: a silent task fails the probe, a healthy one in the group stays open",
            ConnectPathsTest::networkChanged);
        run("certificatePins: a wrong pin fails with WS_ERR_TLS listing the chain's pins; the CA's opens",
            ConnectPathsTest::pins);
        run("clientCertificate: a mismatched or unparsable key is refused (WS_ERR_INVALID_ARGUMENT); a good pair opens",
            ConnectPathsTest::clientCertificate);
        run("proxy: a bad URL refused, a dead proxy named, CONNECT through a proxy, noProxy, a 407 is WS_ERR_PROXY",
            ConnectPathsTest::proxy);
    }

    private static Recorder connect(ConnectOptions o) throws Exception {
        Recorder r = new Recorder();
        WebSocketTask.connect(o, r);
        return r;
    }

    private static void expectFail(Recorder r, int code, String what) throws Exception {
        await(r.closed, what + ": onClose");
        checkEq(Arrays.asList("error", "close"), new ArrayList<>(r.order), what + ": events (" + r.errorMsg + ")");
        checkEq(code, r.errorCode, what + ": error code (" + r.errorMsg + ")");
        check(r.errorMsg.startsWith("connectSocket:fail"), what + ": errMsg " + r.errorMsg);
    }

    private static WebSocketException refused(ConnectOptions o, String what) {
        try {
            WebSocketTask.connect(o, null);
        } catch (WebSocketException e) {
            return e;
        }
        throw new AssertionError(what + ": connect was not refused");
    }

    /** A port that was bound and closed again: connecting to it is refused. */
    private static int refusedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            return s.getLocalPort();
        }
    }

    /** Opens a task with {@code o}, checks an echo through it and closes it; returns its Open. */
    private static Open echoes(ConnectOptions o, String what) throws Exception {
        AtomicRecorder r = new AtomicRecorder();
        WebSocketTask t = WebSocketTask.connect(o, r);
        expectOpen(r, what);
        await(sendText(t, what), what + ": send");
        checkEq(what, poll(r.messages, what + ": echo"), what + ": echo");
        closeAndWait(t, r);
        return r.open;
    }

    /** A Recorder that keeps its Open. */
    private static final class AtomicRecorder extends Recorder {
        volatile Open open;

        @Override
        public void onOpen(Open o) {
            open = o;
            super.onOpen(o);
        }
    }

    // ---- addresses and Happy Eyeballs ---------------------------------------------------------------

    static void addresses() throws Exception {
        // Without addresses the name really does not resolve: the case below proves something.
        Recorder lost = connect(new ConnectOptions.Builder(echoAt(NOWHERE)).timeoutMs(5000).build());
        await(lost.closed, "onClose without addresses");
        check(lost.opened.getCount() == 1 && (lost.errorCode == WebSocketTask.WS_ERR_DNS
                || lost.errorCode == WebSocketTask.WS_ERR_TIMEOUT), "without addresses: " + lost.errorMsg);

        Open open = echoes(new ConnectOptions.Builder(echoAt(NOWHERE)).addresses("127.0.0.1:" + port()).build(),
                "addresses(127.0.0.1:port)");
        checkEq("127.0.0.1:" + port(), open.profile.peerAddress, "peer address");
        checkEq(open.profile.fetchStartUs, open.profile.domainLookupEndUs, "no lookup was made");
        // Without a port, the URL's.
        echoes(new ConnectOptions.Builder(echoAt(NOWHERE)).addresses("127.0.0.1").build(), "addresses(127.0.0.1)");

        WebSocketException e = refused(new ConnectOptions.Builder(echoAt(NOWHERE)).addresses("127.0.0.1", "x").build(),
                "a bad address");
        checkEq(WebSocketTask.WS_ERR_INVALID_ARGUMENT, e.code, "code of a bad address");
        check(e.errMsg.startsWith("connectSocket:fail addresses[1]: \"x\""), "errMsg of a bad address: " + e.errMsg);
    }

    /**
     * A ::1 listener whose accept queue is full: the kernel drops further SYNs, as on a broken IPv6
     * route, so a connect to it neither succeeds nor fails. (Java's backlog cannot be 0, so the
     * queue is filled until a connect gets no answer.)
     */
    private static final class BlackHole implements AutoCloseable {
        final ServerSocket listener = new ServerSocket(0, 1, Inet6Address.getByName("::1"));
        final List<Socket> fillers = new ArrayList<>();

        BlackHole() throws IOException {
            for (int i = 0; i < 8; i++) {
                Socket s = new Socket();
                try {
                    s.connect(new InetSocketAddress(listener.getInetAddress(), listener.getLocalPort()), 1000);
                    fillers.add(s);
                } catch (SocketTimeoutException e) {
                    s.close();
                    return; // no answer: the hole is ready
                }
            }
            close();
            throw new AssertionError("this kernel answers SYNs to a full ::1 listener: no black hole to test with");
        }

        String address() {
            return "[::1]:" + listener.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            for (Socket s : fillers) {
                s.close();
            }
            listener.close();
        }
    }

    static void attemptDelay() throws Exception {
        try (BlackHole hole = new BlackHole()) {
            String live = "127.0.0.1:" + port();
            for (int delay : new int[] {60_000, 10}) {
                checkEq(0, Libws.shutdown(), "shutdown");
                checkEq(0, Libws.init(new Libws.Config.Builder().connectionAttemptDelayMs(delay).build()), "init");
                AtomicInteger sockets = new AtomicInteger();
                ConnectOptions o = new ConnectOptions.Builder(echoAt(NOWHERE)).addresses(hole.address(), live)
                        .timeoutMs(1000).socketHook((id, fd) -> sockets.incrementAndGet() > 0).build();
                if (delay == 60_000) {
                    // The dead first address runs alone for 60 s: the 1 s timeout ends the task
                    // before the live address is tried (with the default 250 ms it would open).
                    Recorder r = connect(o);
                    expectFail(r, WebSocketTask.WS_ERR_TIMEOUT, "delay 60 s");
                    check(r.errorMsg.contains(hole.address()), "errMsg names the dead address: " + r.errorMsg);
                    checkEq(1, sockets.get(), "sockets made with a delay of 60 s");
                } else {
                    Open open = echoes(o, "delay 10 ms");
                    checkEq(2, open.profile.attempts, "attempts: the hole, then the live address");
                    checkEq(live, open.profile.peerAddress, "peer address");
                    checkEq(2, sockets.get(), "sockets made with a delay of 10 ms");
                }
            }
        } finally {
            Libws.shutdown();
        }
    }

    // ---- the host's resolver ----------------------------------------------------------------------

    static void resolver() throws Exception {
        ExecutorService dns = Executors.newSingleThreadExecutor(r -> new Thread(r, "http-dns"));
        List<String> calls = new CopyOnWriteArrayList<>();
        // resolveAnswer's return value per host; the task may close before the answering thread records it.
        Map<String, CompletableFuture<Integer>> answers = new ConcurrentHashMap<>();
        List<Throwable> caught = new CopyOnWriteArrayList<>();
        Libws.Resolver resolver = (id, host, p) -> {
            calls.add(Thread.currentThread().getName() + " " + host + " " + p);
            if (host.startsWith("throw.")) {
                throw new IllegalStateException("the resolver throws");
            }
            dns.execute(() -> { // answered later, from another thread
                int rc;
                if (host.startsWith("good.")) {
                    rc = Libws.resolveAnswer(id, new String[] {"127.0.0.1"}, null);
                } else if (host.startsWith("junk.")) {
                    rc = Libws.resolveAnswer(id, new String[] {"127.0.0.1", "not-an-ip"}, null);
                } else {
                    rc = Libws.resolveAnswer(id, null, "no such host (test)");
                }
                answers.computeIfAbsent(host, h -> new CompletableFuture<>()).complete(rc);
            });
        };
        WebSocketTask.setExceptionHandler(caught::add);
        try {
            checkEq(0, Libws.shutdown(), "shutdown");
            checkEq(0, Libws.init(new Libws.Config.Builder().resolver(resolver).build()), "init with a resolver");

            echoes(new ConnectOptions.Builder(echoAt("good.libws.test")).build(), "resolved by the host");
            checkEq("libws good.libws.test " + port(), calls.get(0), "the resolver's call (thread, host, port)");
            checkEq(0, await(answers.computeIfAbsent("good.libws.test", h -> new CompletableFuture<>()), "answer"),
                    "resolveAnswer of the good name");

            Recorder bad = connect(new ConnectOptions.Builder(echoAt("bad.libws.test")).build());
            expectFail(bad, WebSocketTask.WS_ERR_DNS, "an error answer");
            check(bad.errorMsg.contains("could not resolve host \"bad.libws.test\": no such host (test)"),
                  "errMsg of an error answer: " + bad.errorMsg);

            Recorder junk = connect(new ConnectOptions.Builder(echoAt("junk.libws.test")).build());
            expectFail(junk, WebSocketTask.WS_ERR_DNS, "an answer that is not an IP address");
            check(junk.errorMsg.contains("not-an-ip"), "errMsg names the bad address: " + junk.errorMsg);
            checkEq(WebSocketTask.WS_ERR_INVALID_ARGUMENT,
                    await(answers.computeIfAbsent("junk.libws.test", h -> new CompletableFuture<>()), "answer"),
                    "resolveAnswer of junk");

            Recorder threw = connect(new ConnectOptions.Builder(echoAt("throw.libws.test")).build());
            expectFail(threw, WebSocketTask.WS_ERR_DNS, "a throwing resolver");
            check(threw.errorMsg.contains("IllegalStateException"), "errMsg of a throwing resolver: " + threw.errorMsg);
            checkEq(1, caught.size(), "the resolver's exception went to the handler: " + caught);

            // Addresses of the task's own skip the resolver; an id that waits for nothing is refused.
            int before = calls.size();
            echoes(new ConnectOptions.Builder(echoAt("good.libws.test")).addresses("127.0.0.1").build(), "own addresses");
            checkEq(before, calls.size(), "resolver calls for a task with addresses");
            checkEq(WebSocketTask.WS_ERR_UNKNOWN_TASK, Libws.resolveAnswer(Long.MAX_VALUE, new String[] {"127.0.0.1"}, null),
                    "resolveAnswer for an id never issued");
        } finally {
            Libws.shutdown(); // later cases run with the defaults (no resolver)
            WebSocketTask.setExceptionHandler(null);
            dns.shutdownNow();
        }
    }

    // ---- network changes ------------------------------------------------------------------------

    static void networkChanged() throws Exception {
        final long group = 77;
        try (MutePeer mute = new MutePeer(); MutePeer muteElsewhere = new MutePeer()) {
            Recorder healthy = new Recorder();
            WebSocketTask t = WebSocketTask.connect(new ConnectOptions.Builder(WebSocketTaskTest.url).group(group).build(),
                    healthy);
            Recorder silent = connect(new ConnectOptions.Builder("ws://127.0.0.1:" + mute.server.getLocalPort() + "/")
                    .group(group).build());
            Recorder other = connect(new ConnectOptions.Builder("ws://127.0.0.1:" + muteElsewhere.server.getLocalPort()
                    + "/").group(group + 1).build());
            await(healthy.opened, "healthy onOpen");
            await(silent.opened, "silent onOpen");
            await(other.opened, "other group's onOpen");

            checkEq(0, Libws.networkChanged(group, false, 300), "networkChanged(group)");
            await(silent.closed, "the silent task's onClose");
            checkEq(Arrays.asList("open", "error", "close"), new ArrayList<>(silent.order), "silent task's events");
            checkEq(WebSocketTask.WS_ERR_TIMEOUT, silent.errorCode, "silent task's error code");
            check(silent.errorMsg.startsWith("onSocketError:fail network changed"), "errMsg " + silent.errorMsg);
            checkEq(1006, silent.closeCode, "silent task's close code");
            checkEq(WebSocketTask.OPEN, t.readyState(), "the healthy task after the probe");
            await(sendText(t, "still here"), "send after the probe");
            checkEq("still here", poll(healthy.messages, "echo"), "echo after the probe");
            checkEq(Arrays.asList("open", "text"), new ArrayList<>(healthy.order), "healthy task's events");
            checkEq(Arrays.asList("open"), new ArrayList<>(other.order), "the other group's task was not probed");

            // Every group: now the other group's silent task fails too.
            checkEq(0, Libws.networkChanged(0, true, 300), "networkChanged(all groups)");
            await(other.closed, "the other group's onClose");
            checkEq(WebSocketTask.WS_ERR_TIMEOUT, other.errorCode, "other group's error code");
            checkEq(WebSocketTask.OPEN, t.readyState(), "the healthy task after the second probe");
            closeAndWait(t, healthy);
        }
    }

    // ---- pins and client certificates ------------------------------------------------------------------

    private static Path tlsDir() {
        String ca = System.getProperty("io.libws.test.ca");
        check(ca != null, "run.sh passes -Dio.libws.test.ca");
        return Paths.get(ca).getParent();
    }

    /** The PEM blocks of a file whose BEGIN line names {@code kind} ("CERTIFICATE", "PRIVATE KEY"). */
    private static List<String> pemBlocks(Path file, String kind) throws IOException {
        String text = new String(Files.readAllBytes(file), StandardCharsets.US_ASCII);
        Matcher m = Pattern.compile("-----BEGIN ([A-Z ]+)-----.*?-----END \\1-----\n?", Pattern.DOTALL).matcher(text);
        List<String> blocks = new ArrayList<>();
        while (m.find()) {
            if (m.group(1).endsWith(kind)) {
                blocks.add(m.group());
            }
        }
        check(!blocks.isEmpty(), "no " + kind + " in " + file);
        return blocks;
    }

    /** OkHttp's pin of a certificate: sha256/ and the base64 SHA-256 of its SubjectPublicKeyInfo. */
    private static String pin(String certPem) throws Exception {
        byte[] spki = CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(certPem.getBytes(StandardCharsets.US_ASCII)))
                .getPublicKey().getEncoded();
        return "sha256/" + Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256").digest(spki));
    }

    static void pins() throws Exception {
        String wss = System.getProperty("io.libws.test.wss");
        Path dir = tlsDir();
        byte[] ca = Files.readAllBytes(dir.resolve("ca.pem"));
        String caPin = pin(pemBlocks(dir.resolve("ca.pem"), "CERTIFICATE").get(0));
        String leafPin = pin(pemBlocks(dir.resolve("good.pem"), "CERTIFICATE").get(0));
        String wrong = "sha256/" + Base64.getEncoder().encodeToString(
                MessageDigest.getInstance("SHA-256").digest("nobody's key".getBytes(StandardCharsets.US_ASCII)));
        ConnectOptions trusted = new ConnectOptions.Builder(wss).caPem(ca).build();

        Recorder r = connect(trusted.newBuilder().certificatePins(wrong).build());
        expectFail(r, WebSocketTask.WS_ERR_TLS, "a wrong pin");
        check(r.errorMsg.contains("pinning failed"), "errMsg of a wrong pin: " + r.errorMsg);
        check(r.errorMsg.contains(leafPin + ", " + caPin) && r.errorMsg.contains("pinned: " + wrong),
              "errMsg lists the chain's pins (server first) and ours: " + r.errorMsg);
        echoes(trusted.newBuilder().certificatePins(wrong, caPin).build(), "the CA's pin");
        echoes(trusted.newBuilder().certificatePins(leafPin).build(), "the server's pin");

        WebSocketException e = refused(trusted.newBuilder().certificatePins("sha256/AAAA").build(), "a bad pin");
        checkEq(WebSocketTask.WS_ERR_INVALID_ARGUMENT, e.code, "code of a bad pin");
        check(e.errMsg.contains("certificate_pins[0]"), "errMsg of a bad pin: " + e.errMsg);

        try {
            checkEq(0, Libws.shutdown(), "shutdown");
            checkEq(WebSocketTask.WS_ERR_INVALID_ARGUMENT,
                    Libws.init(new Libws.Config.Builder().certificatePins("sha256/AAAA").build()), "init with a bad pin");
            checkEq(0, Libws.init(new Libws.Config.Builder().caPem(ca).certificatePins(wrong).build()),
                    "init with a wrong pin");
            Recorder runtimeWrong = connect(new ConnectOptions.Builder(wss).build());
            expectFail(runtimeWrong, WebSocketTask.WS_ERR_TLS, "the runtime's wrong pin");
            check(runtimeWrong.errorMsg.contains("pinning failed"), "errMsg " + runtimeWrong.errorMsg);
            // A task's pins are added to the runtime's: one matching pin is enough.
            echoes(new ConnectOptions.Builder(wss).certificatePins(caPin).build(), "the runtime's wrong pin plus the task's");
            checkEq(0, Libws.shutdown(), "shutdown");
            checkEq(0, Libws.init(new Libws.Config.Builder().caPem(ca).certificatePins(caPin).build()), "init with the CA's pin");
            echoes(new ConnectOptions.Builder(wss).build(), "the runtime's pin");
        } finally {
            Libws.shutdown();
        }
    }

    static void clientCertificate() throws Exception {
        String wss = System.getProperty("io.libws.test.wss");
        Path dir = tlsDir();
        byte[] ca = Files.readAllBytes(dir.resolve("ca.pem"));
        byte[] cert = String.join("", pemBlocks(dir.resolve("good.pem"), "CERTIFICATE")).getBytes(StandardCharsets.US_ASCII);
        byte[] key = pemBlocks(dir.resolve("good.pem"), "PRIVATE KEY").get(0).getBytes(StandardCharsets.US_ASCII);
        byte[] otherKey = pemBlocks(dir.resolve("wrongname.pem"), "PRIVATE KEY").get(0).getBytes(StandardCharsets.US_ASCII);
        byte[] junkKey = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".getBytes(StandardCharsets.US_ASCII);
        ConnectOptions trusted = new ConnectOptions.Builder(wss).caPem(ca).build();

        WebSocketException e = refused(trusted.newBuilder().clientCertificate(cert, otherKey).build(), "a mismatched key");
        checkEq(WebSocketTask.WS_ERR_INVALID_ARGUMENT, e.code, "code of a mismatched key");
        check(e.errMsg.contains("the private key does not match the certificate"), "errMsg: " + e.errMsg);
        e = refused(trusted.newBuilder().clientCertificate(cert, junkKey).build(), "a key that does not parse");
        checkEq(WebSocketTask.WS_ERR_INVALID_ARGUMENT, e.code, "code of a key that does not parse");
        check(e.errMsg.startsWith("connectSocket:fail client"), "errMsg: " + e.errMsg);
        e = refused(trusted.newBuilder().clientCertificate(cert, null).build(), "a certificate without its key");
        checkEq(WebSocketTask.WS_ERR_INVALID_ARGUMENT, e.code, "code of a certificate without its key");
        // The right pair is taken (the server does not ask for it, so the task simply opens).
        echoes(trusted.newBuilder().clientCertificate(cert, key).build(), "a good client certificate");

        try {
            checkEq(0, Libws.shutdown(), "shutdown");
            checkEq(WebSocketTask.WS_ERR_INVALID_ARGUMENT,
                    Libws.init(new Libws.Config.Builder().clientCertificate(cert, otherKey).build()),
                    "init with a mismatched key");
            checkEq(0, Libws.init(new Libws.Config.Builder().caPem(ca).clientCertificate(cert, key).build()),
                    "init with a good pair");
            echoes(new ConnectOptions.Builder(wss).build(), "the runtime's client certificate");
        } finally {
            Libws.shutdown();
        }
    }

    // ---- proxies ---------------------------------------------------------------------------------------

    /**
     * An HTTP CONNECT proxy on 127.0.0.1: records each request head, then answers 200 and relays
     * bytes both ways, or, when {@code refuse} is set, answers 407.
     */
    private static final class ConnectProxy implements AutoCloseable {
        final ServerSocket server = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        final List<String> requests = new CopyOnWriteArrayList<>();
        volatile boolean refuse;

        ConnectProxy() throws IOException {
            daemon(this::acceptLoop, "proxy");
        }

        String url(String credentials) {
            return "http://" + credentials + "127.0.0.1:" + server.getLocalPort();
        }

        private static void daemon(Runnable r, String name) {
            Thread th = new Thread(r, name);
            th.setDaemon(true);
            th.start();
        }

        private void acceptLoop() {
            while (!server.isClosed()) {
                try {
                    Socket client = server.accept();
                    daemon(() -> serve(client), "proxy-conn");
                } catch (IOException e) {
                    return; // closed
                }
            }
        }

        private void serve(Socket client) {
            try (Socket c = client) {
                String head = MutePeer.readHead(c.getInputStream());
                requests.add(head);
                OutputStream out = c.getOutputStream();
                String[] target = head.split(" ", 3);
                if (refuse || !target[0].equals("CONNECT")) {
                    out.write("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
                            .getBytes(StandardCharsets.US_ASCII));
                    return;
                }
                int colon = target[1].lastIndexOf(':');
                try (Socket up = new Socket(target[1].substring(0, colon), Integer.parseInt(target[1].substring(colon + 1)))) {
                    out.write("HTTP/1.1 200 Connection established\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    daemon(() -> pump(c, up), "proxy-up");
                    pump(up, c);
                }
            } catch (IOException e) {
                // the client or the server went away
            }
        }

        private static void pump(Socket from, Socket to) {
            byte[] buf = new byte[16384];
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buf)) > 0) {
                    out.write(buf, 0, n);
                }
                to.shutdownOutput();
            } catch (IOException e) {
                // closed
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }

    static void proxy() throws Exception {
        String url = WebSocketTaskTest.url;
        WebSocketException e = refused(new ConnectOptions.Builder(url).proxy("ftp://127.0.0.1:21").build(), "a bad proxy URL");
        checkEq(WebSocketTask.WS_ERR_INVALID_ARGUMENT, e.code, "code of a bad proxy URL");
        check(e.errMsg.startsWith("connectSocket:fail proxy: scheme must be"), "errMsg of a bad proxy URL: " + e.errMsg);

        int dead = refusedPort();
        Recorder r = connect(new ConnectOptions.Builder(url).proxy("http://127.0.0.1:" + dead).build());
        expectFail(r, WebSocketTask.WS_ERR_CONNECT, "a proxy that is not listening");
        check(r.errorMsg.contains("proxy http://127.0.0.1:" + dead), "errMsg names the proxy: " + r.errorMsg);

        try (ConnectProxy proxy = new ConnectProxy()) {
            WebSocketTask.Profile p = echoes(new ConnectOptions.Builder(url).proxy(proxy.url("user:s3cret@")).build(),
                    "through the proxy").profile;
            checkEq(1, proxy.requests.size(), "requests the proxy got");
            check(p.connectStartUs <= p.proxyStartUs && p.proxyStartUs < p.proxyEndUs && p.proxyEndUs <= p.connectEndUs,
                  "profile: connectStart <= proxyStart < proxyEnd <= connectEnd: " + p.connectStartUs + " "
                          + p.proxyStartUs + " " + p.proxyEndUs + " " + p.connectEndUs);
            checkEq("127.0.0.1:" + proxy.server.getLocalPort(), p.peerAddress, "profile: the peer is the proxy");
            WebSocketTask.Profile direct = echoes(new ConnectOptions.Builder(url).build(), "without a proxy").profile;
            check(direct.proxyStartUs == 0 && direct.proxyEndUs == 0,
                  "profile without a proxy: proxy times 0: " + direct.proxyStartUs + " " + direct.proxyEndUs);
            String head = proxy.requests.get(0);
            check(head.startsWith("CONNECT 127.0.0.1:" + port() + " HTTP/1.1\r\n"), "the proxy's request: " + head);
            check(head.contains("Proxy-Authorization: Basic "
                    + Base64.getEncoder().encodeToString("user:s3cret".getBytes(StandardCharsets.US_ASCII))),
                  "credentials sent as Basic: " + head);

            proxy.refuse = true;
            Recorder no = connect(new ConnectOptions.Builder(url).proxy(proxy.url("user:s3cret@")).build());
            expectFail(no, WebSocketTask.WS_ERR_PROXY, "a proxy that answers 407");
            check(no.errorMsg.contains("proxy " + proxy.url("")) && no.errorMsg.contains("407"),
                  "errMsg names the proxy and its answer: " + no.errorMsg);
            check(!no.errorMsg.contains("s3cret"), "no credentials in the errMsg: " + no.errorMsg);
            proxy.refuse = false;

            try {
                checkEq(0, Libws.shutdown(), "shutdown");
                checkEq(WebSocketTask.WS_ERR_INVALID_ARGUMENT,
                        Libws.init(new Libws.Config.Builder().proxy("ftp://127.0.0.1:21").build()), "init with a bad proxy URL");
                checkEq(0, Libws.init(new Libws.Config.Builder().proxy(proxy.url("")).build()), "init with a proxy");
                int before = proxy.requests.size();
                echoes(new ConnectOptions.Builder(url).build(), "the runtime's proxy");
                checkEq(before + 1, proxy.requests.size(), "requests after a task with the runtime's proxy");
                echoes(new ConnectOptions.Builder(url).noProxy(true).build(), "noProxy");
                checkEq(before + 1, proxy.requests.size(), "requests after a task with noProxy");
            } finally {
                Libws.shutdown();
            }
        }
    }
}
