package io.libws;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything {@code connectSocket} takes ({@code ws_connect_options}): immutable once built, so one
 * instance may be reused for many {@link WebSocketTask#connect(ConnectOptions, WebSocketTask.Listener)}
 * calls and shared between threads.
 *
 * <pre>{@code
 * ConnectOptions options = new ConnectOptions.Builder("wss://example.com/chat")
 *     .header("X-App", "demo")
 *     .protocols("chat.v2")
 *     .group(miniProgramId)          // counts against this group's limit; closeGroup(miniProgramId, ...)
 *     .timeoutMs(10_000)             // DNS + TCP + handshake
 *     .tcpNoDelay(true)
 *     .heartbeat(20_000, 5_000)      // ping after 20 s of silence; dead if nothing 5 s later
 *     .perMessageDeflate(true)
 *     .socketHook((taskId, fd) -> { cellular.bindSocket(fd); return true; })
 *     .dispatcher(jsThread)          // listeners run on this Dispatcher's Executor
 *     .addresses("203.0.113.7")      // from the app's HTTP DNS: no lookup of its own
 *     .certificatePins("sha256/pgt+DyC5sV+h03at+B+dUp5st0LsYfgU4OB5pNCQWak=")
 *     .proxy("http://10.0.0.2:8888") // e.g. the system proxy the host read
 *     .build();
 * }</pre>
 *
 * Every option left unset keeps libws's default (shown on each setter).
 */
public final class ConnectOptions {
    final String url;
    final Map<String, String> headers;
    final List<String> protocols;
    final long group;
    final int timeoutMs;
    final boolean tcpNoDelay;
    final int pingIntervalMs;
    final int pongTimeoutMs;
    final boolean perMessageDeflate;
    final byte[] caPem;
    final boolean dangerousSkipCertificateVerification;
    final WebSocketTask.SocketHook socketHook;
    final Dispatcher dispatcher;
    final List<String> addresses;
    final List<String> certificatePins;
    final byte[] clientCertPem;
    final byte[] clientKeyPem;
    final String proxy;
    final boolean noProxy;

    private ConnectOptions(Builder b) {
        url = b.url;
        headers = Collections.unmodifiableMap(new LinkedHashMap<>(b.headers));
        protocols = Collections.unmodifiableList(new ArrayList<>(b.protocols));
        group = b.group;
        timeoutMs = b.timeoutMs;
        tcpNoDelay = b.tcpNoDelay;
        pingIntervalMs = b.pingIntervalMs;
        pongTimeoutMs = b.pongTimeoutMs;
        perMessageDeflate = b.perMessageDeflate;
        caPem = b.caPem == null ? null : b.caPem.clone();
        dangerousSkipCertificateVerification = b.dangerousSkipCertificateVerification;
        socketHook = b.socketHook;
        dispatcher = b.dispatcher;
        addresses = Collections.unmodifiableList(new ArrayList<>(b.addresses));
        certificatePins = Collections.unmodifiableList(new ArrayList<>(b.certificatePins));
        clientCertPem = b.clientCertPem == null ? null : b.clientCertPem.clone();
        clientKeyPem = b.clientKeyPem == null ? null : b.clientKeyPem.clone();
        proxy = b.proxy;
        noProxy = b.noProxy;
    }

    public String url() {
        return url;
    }

    /** The extra request headers, in the order they were added. */
    public Map<String, String> headers() {
        return headers;
    }

    public List<String> protocols() {
        return protocols;
    }

    public long group() {
        return group;
    }

    public int timeoutMs() {
        return timeoutMs;
    }

    public boolean tcpNoDelay() {
        return tcpNoDelay;
    }

    public int pingIntervalMs() {
        return pingIntervalMs;
    }

    public int pongTimeoutMs() {
        return pongTimeoutMs;
    }

    public boolean perMessageDeflate() {
        return perMessageDeflate;
    }

    public boolean dangerousSkipCertificateVerification() {
        return dangerousSkipCertificateVerification;
    }

    public WebSocketTask.SocketHook socketHook() {
        return socketHook;
    }

    /** The dispatcher whose executor runs this task's listener and results; null: libws's thread. */
    public Dispatcher dispatcher() {
        return dispatcher;
    }

    /** The host's own addresses for the URL's host (no lookup is made); empty: libws resolves it. */
    public List<String> addresses() {
        return addresses;
    }

    /** wss://: this task's public key pins ({@code sha256/<base64>}), added to the runtime's. */
    public List<String> certificatePins() {
        return certificatePins;
    }

    /** This task's proxy URL; null: the runtime's, if any. */
    public String proxy() {
        return proxy;
    }

    public boolean noProxy() {
        return noProxy;
    }

    /** A builder holding these options, to derive a changed copy. */
    public Builder newBuilder() {
        Builder b = new Builder(url);
        b.headers.putAll(headers);
        b.protocols.addAll(protocols);
        b.group = group;
        b.timeoutMs = timeoutMs;
        b.tcpNoDelay = tcpNoDelay;
        b.pingIntervalMs = pingIntervalMs;
        b.pongTimeoutMs = pongTimeoutMs;
        b.perMessageDeflate = perMessageDeflate;
        b.caPem = caPem;
        b.dangerousSkipCertificateVerification = dangerousSkipCertificateVerification;
        b.socketHook = socketHook;
        b.dispatcher = dispatcher;
        b.addresses.addAll(addresses);
        b.certificatePins.addAll(certificatePins);
        b.clientCertPem = clientCertPem;
        b.clientKeyPem = clientKeyPem;
        b.proxy = proxy;
        b.noProxy = noProxy;
        return b;
    }

    /** Builds {@link ConnectOptions}; not thread-safe (the built options are). */
    public static final class Builder {
        private String url;
        private final Map<String, String> headers = new LinkedHashMap<>();
        private final List<String> protocols = new ArrayList<>();
        private long group;
        private int timeoutMs;
        private boolean tcpNoDelay;
        private int pingIntervalMs;
        private int pongTimeoutMs;
        private boolean perMessageDeflate;
        private byte[] caPem;
        private boolean dangerousSkipCertificateVerification;
        private WebSocketTask.SocketHook socketHook;
        private Dispatcher dispatcher;
        private final List<String> addresses = new ArrayList<>();
        private final List<String> certificatePins = new ArrayList<>();
        private byte[] clientCertPem;
        private byte[] clientKeyPem;
        private String proxy;
        private boolean noProxy;

        /** {@code url}: {@code ws://} or {@code wss://} (checked by libws at connect time). */
        public Builder(String url) {
            url(url);
        }

        public Builder url(String url) {
            if (url == null) {
                throw new IllegalArgumentException("url is null");
            }
            this.url = url;
            return this;
        }

        /**
         * Adds (or replaces) an extra request header. Host, Referer, Upgrade, Connection and
         * Sec-WebSocket-* are refused by libws at connect time ({@code WS_ERR_INVALID_HEADER}).
         */
        public Builder header(String name, String value) {
            if (name == null || value == null) {
                throw new IllegalArgumentException("null header name or value");
            }
            headers.put(name, value);
            return this;
        }

        /** Adds each of {@code headers} as {@link #header} does. */
        public Builder headers(Map<String, String> headers) {
            for (Map.Entry<String, String> h : headers.entrySet()) {
                header(h.getKey(), h.getValue());
            }
            return this;
        }

        /** Subprotocols to offer, in order of preference (added to any given before). */
        public Builder protocols(String... protocols) {
            for (String p : protocols) {
                if (p == null) {
                    throw new IllegalArgumentException("null protocol");
                }
                this.protocols.add(p);
            }
            return this;
        }

        /**
         * The mini-program instance this socket belongs to: it counts against that group's limit
         * ({@link Libws.Config.Builder#maxConnectionsPerGroup}, default 5) and is closed by
         * {@link Libws#closeGroup}. Any value; default 0, a group like the others.
         */
        public Builder group(long group) {
            this.group = group;
            return this;
        }

        /** Connect timeout covering DNS, TCP and the handshake; 0 (the default) = the runtime's (60 s unless configured). */
        public Builder timeoutMs(int timeoutMs) {
            this.timeoutMs = nonNegative(timeoutMs, "timeoutMs");
            return this;
        }

        /** Sets TCP_NODELAY on the socket once it is connected (Nagle off). Default false, as WeChat. */
        public Builder tcpNoDelay(boolean on) {
            this.tcpNoDelay = on;
            return this;
        }

        /**
         * Heartbeat: after {@code pingIntervalMs} without any frame from the server, libws sends a
         * ping; if nothing arrives within {@code pongTimeoutMs} (0 = the ping interval), the
         * connection is dead: {@code onError(WS_ERR_TIMEOUT, "onSocketError:fail heartbeat timeout ...")}
         * then {@code onClose(1006)}. Default off ({@code pingIntervalMs} 0).
         */
        public Builder heartbeat(int pingIntervalMs, int pongTimeoutMs) {
            this.pingIntervalMs = nonNegative(pingIntervalMs, "pingIntervalMs");
            this.pongTimeoutMs = nonNegative(pongTimeoutMs, "pongTimeoutMs");
            return this;
        }

        /**
         * perMessageDeflate: offer permessage-deflate (RFC 7692). When the server agrees, messages
         * are compressed transparently and {@link WebSocketTask.Open#compressed} is true. Default false.
         */
        public Builder perMessageDeflate(boolean on) {
            this.perMessageDeflate = on;
            return this;
        }

        /** wss://: extra CA certificates (PEM, one or more CERTIFICATE blocks) trusted for this task only, on top of the runtime's. */
        public Builder caPem(byte[] pem) {
            this.caPem = pem == null ? null : pem.clone();
            return this;
        }

        /** {@link #caPem(byte[])} from a PEM string. */
        public Builder caPem(String pem) {
            return caPem(pem == null ? null : pem.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        }

        /**
         * DANGEROUS, development only: accept any server certificate for this task (unknown
         * issuer, wrong host, expired), like the "don't verify" switch of WeChat's developer
         * tools. Anyone on the network path can then read and change the traffic. Default false.
         */
        public Builder dangerousSkipCertificateVerification(boolean on) {
            this.dangerousSkipCertificateVerification = on;
            return this;
        }

        /**
         * Called with each TCP socket of the task before it connects (forceCellularNetwork:
         * {@code network.bindSocket(fd)}); may refuse it. See {@link WebSocketTask.SocketHook}.
         */
        public Builder socketHook(WebSocketTask.SocketHook hook) {
            this.socketHook = hook;
            return this;
        }

        /**
         * Runs the task's listener, its result callbacks and global listeners' calls about it on
         * {@code dispatcher}'s executor, in order, instead of libws's thread (null, the default:
         * libws's thread). See {@link Dispatcher}.
         */
        public Builder dispatcher(Dispatcher dispatcher) {
            this.dispatcher = dispatcher;
            return this;
        }

        /**
         * The host's own addresses for the URL's host (added to any given before), e.g. from its
         * HTTP DNS service or cache: IP addresses with or without a port ({@code "1.2.3.4"},
         * {@code "1.2.3.4:8443"}, {@code "::1"}, {@code "[::1]:8443"}; without one, the URL's
         * port). libws then makes no lookup and tries them with Happy Eyeballs
         * ({@link Libws.Config.Builder#connectionAttemptDelayMs}), in this order, families
         * interleaved. The URL's host stays the TLS server name and the Host header. A string
         * that is not an IP address is refused by {@code connect} ({@code WS_ERR_INVALID_ARGUMENT},
         * {@code "connectSocket:fail addresses[1]: "x" is not an IP address ..."}). Not used
         * through a proxy. Default none: the runtime's {@link Libws.Resolver}, else the system's.
         */
        public Builder addresses(String... addresses) {
            for (String a : addresses) {
                if (a == null) {
                    throw new IllegalArgumentException("null address");
                }
                this.addresses.add(a);
            }
            return this;
        }

        /**
         * wss://: public key pins for this task (added to any given before and to the runtime's
         * {@link Libws.Config.Builder#certificatePins}), each {@code "sha256/<base64>"}: the
         * SHA-256 of a certificate's SubjectPublicKeyInfo, as OkHttp's {@code CertificatePinner}
         * writes it. The chain is verified as usual first; then one certificate of it (the
         * server's, an intermediate, or the trusted root) must match a pin, or the task fails
         * with {@code onError(WS_ERR_TLS, "connectSocket:fail certificate: pinning failed: ...
         * the chain's pins (server first): sha256/..., ...; pinned: sha256/...")}. A string that
         * is not a pin is refused by {@code connect} ({@code WS_ERR_INVALID_ARGUMENT}). Default none.
         */
        public Builder certificatePins(String... pins) {
            for (String p : pins) {
                if (p == null) {
                    throw new IllegalArgumentException("null pin");
                }
                this.certificatePins.add(p);
            }
            return this;
        }

        /**
         * wss://, mutual TLS: this task's client certificate (PEM: the certificate, then any
         * intermediates) and its unencrypted private key (PEM: PKCS#8, SEC1 or PKCS#1), presented
         * when the server asks, instead of the runtime's. A key that does not parse or does not
         * match, a certificate that does not parse, or one without the other is refused by
         * {@code connect} ({@code WS_ERR_INVALID_ARGUMENT}, {@code "connectSocket:fail client
         * certificate: the private key does not match the certificate"}). Both null (the
         * default): the runtime's, if any. The arrays are copied.
         */
        public Builder clientCertificate(byte[] certPem, byte[] keyPem) {
            this.clientCertPem = certPem == null ? null : certPem.clone();
            this.clientKeyPem = keyPem == null ? null : keyPem.clone();
            return this;
        }

        /**
         * This task's proxy, instead of the runtime's: {@code "http://[user:password@]host[:port]"}
         * (HTTP CONNECT, port 80 by default) or {@code "socks5://[user:password@]host[:port]"}
         * ({@code socks5h://} the same; port 1080). ws:// and wss:// both go through the tunnel;
         * the proxy resolves the server's name ({@link #addresses} are not used). A proxy that
         * refuses, answers garbage, closes or does not answer in time fails the task with
         * {@code onError(WS_ERR_PROXY, "connectSocket:fail proxy http://host:port: ...")}; one
         * that does not accept TCP with {@code WS_ERR_CONNECT} ("could not connect to proxy ...").
         * Credentials never appear in errMsgs or logs. A URL that does not parse is refused by
         * {@code connect} ({@code WS_ERR_INVALID_ARGUMENT}). Null or "" (the default): the runtime's.
         * On Android the host passes the system proxy it reads (see jni/README.md).
         */
        public Builder proxy(String url) {
            this.proxy = url;
            return this;
        }

        /** Connect directly even if the runtime has a proxy (e.g. a server on the local network). Default false. */
        public Builder noProxy(boolean on) {
            this.noProxy = on;
            return this;
        }

        public ConnectOptions build() {
            return new ConnectOptions(this);
        }

        private static int nonNegative(int v, String what) {
            if (v < 0) {
                throw new IllegalArgumentException(what + " is negative: " + v);
            }
            return v;
        }
    }
}
