package jvmbench;

/**
 * One WebSocket client library under test. Every event arrives on the library's own thread(s);
 * the benchmark hands each echo back to the application thread that sends.
 */
interface Contender {
    /** Short name for the table ("libws", "OkHttp"). */
    String name();

    /** The library's version as the table shows it. */
    String version();

    /**
     * Starts opening one connection to {@code url}; {@code opened} runs once it is open,
     * {@code echo} for every message that comes back (both on the library's thread).
     */
    Connection open(String url, Runnable opened, Echo echo) throws Exception;

    /** Closes what is left and stops the library's threads. */
    void shutdown() throws Exception;

    interface Connection {
        /** Queues one binary message; sent from the application thread. */
        void send(byte[] data);

        void close();
    }

    interface Echo {
        /** A message came back: the library's own message object (not copied). */
        void received(Object message);
    }
}
