package jvmbench;

import io.libws.ConnectOptions;
import io.libws.Libws;
import io.libws.WebSocketTask;

/** libws through its Java binding (jni/): callbacks on the libws thread. */
final class LibwsContender implements Contender {
    LibwsContender() {
        int rc = Libws.init(new Libws.Config.Builder().maxConnectionsPerGroup(100_000).build());
        if (rc != 0) {
            throw new IllegalStateException("Libws.init: " + Libws.strerror(rc));
        }
    }

    @Override
    public String name() {
        return "libws";
    }

    @Override
    public String version() {
        return "libws " + Libws.version() + " (jni)";
    }

    @Override
    public Connection open(String url, Runnable opened, Echo echo) throws Exception {
        WebSocketTask.Listener listener = new WebSocketTask.Listener() {
            @Override
            public void onOpen(WebSocketTask.Open open) {
                opened.run();
            }

            @Override
            public void onMessage(byte[] data) {
                echo.received(data);
            }

            @Override
            public void onMessage(String text) {
                echo.received(text);
            }
        };
        ConnectOptions options = new ConnectOptions.Builder(url).tcpNoDelay(true).group(1).build();
        WebSocketTask task = WebSocketTask.connect(options, listener);
        return new Connection() {
            @Override
            public void send(byte[] data) {
                int rc = task.send(data);
                if (rc != 0) {
                    throw new IllegalStateException("send: " + Libws.strerror(rc));
                }
            }

            @Override
            public void close() {
                task.close(1000, "");
            }
        };
    }

    @Override
    public void shutdown() {
        Libws.shutdown();
    }
}
