package jvmbench;

import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.util.concurrent.TimeUnit;

import javax.net.SocketFactory;

import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;
import okhttp3.WebSocket;
import okhttp3.WebSocketListener;
import okio.ByteString;

/**
 * OkHttp's WebSocket and WebSocketListener (Debian's libokhttp-java 3.13): a reader thread per
 * connection (the call's dispatcher thread runs the read loop) and a writer executor per
 * connection (started by the first write).
 */
final class OkHttpContender implements Contender {
    private final OkHttpClient client;

    OkHttpContender() {
        client = new OkHttpClient.Builder()
                .socketFactory(new NoDelaySockets())
                .readTimeout(0, TimeUnit.MILLISECONDS)
                .build();
        // A WebSocket holds its call (and a dispatcher slot) for its whole life: lift the limits
        // of 64 calls and 5 per host, or only 5 connections would open.
        client.dispatcher().setMaxRequests(100_000);
        client.dispatcher().setMaxRequestsPerHost(100_000);
    }

    @Override
    public String name() {
        return "OkHttp";
    }

    @Override
    public String version() {
        return "OkHttp " + okhttp3.internal.Version.userAgent().replace("okhttp/", "") + " (Debian libokhttp-java)";
    }

    @Override
    public Connection open(String url, Runnable opened, Echo echo) {
        WebSocket ws = client.newWebSocket(new Request.Builder().url(url).build(), new WebSocketListener() {
            @Override
            public void onOpen(WebSocket webSocket, Response response) {
                opened.run();
            }

            @Override
            public void onMessage(WebSocket webSocket, ByteString bytes) {
                echo.received(bytes);
            }

            @Override
            public void onMessage(WebSocket webSocket, String text) {
                echo.received(text);
            }
        });
        return new Connection() {
            @Override
            public void send(byte[] data) {
                if (!ws.send(ByteString.of(data))) {
                    throw new IllegalStateException("OkHttp refused the send (closed or queue full)");
                }
            }

            @Override
            public void close() {
                ws.close(1000, null);
            }
        };
    }

    @Override
    public void shutdown() {
        client.dispatcher().cancelAll();
        client.dispatcher().executorService().shutdown();
        client.connectionPool().evictAll();
    }

    /** TCP_NODELAY on every socket, as libws's tcpNoDelay(true): the same wire behaviour. */
    private static final class NoDelaySockets extends SocketFactory {
        private final SocketFactory plain = SocketFactory.getDefault();

        private static Socket noDelay(Socket s) throws IOException {
            s.setTcpNoDelay(true);
            return s;
        }

        @Override
        public Socket createSocket() throws IOException {
            return noDelay(plain.createSocket());
        }

        @Override
        public Socket createSocket(String host, int port) throws IOException {
            return noDelay(plain.createSocket(host, port));
        }

        @Override
        public Socket createSocket(String host, int port, InetAddress local, int localPort) throws IOException {
            return noDelay(plain.createSocket(host, port, local, localPort));
        }

        @Override
        public Socket createSocket(InetAddress host, int port) throws IOException {
            return noDelay(plain.createSocket(host, port));
        }

        @Override
        public Socket createSocket(InetAddress address, int port, InetAddress local, int localPort) throws IOException {
            return noDelay(plain.createSocket(address, port, local, localPort));
        }
    }
}
