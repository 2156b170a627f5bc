package io.libws;

import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs listeners and result callbacks on an {@link Executor} the app chooses (its main thread's
 * {@code Handler::post}, a single-thread executor, OkHttp-style), instead of libws's thread: a
 * libws dispatcher ({@code ws_dispatcher}) whose wake callback posts a task to the executor that
 * calls {@code ws_dispatch}. Tasks connected with
 * {@link ConnectOptions.Builder#dispatcher(Dispatcher)} then get their events, their results (and
 * global listeners' calls about them) on the executor, in the order libws produced them, and
 * their {@link WebSocketTask#readyState()} follows what the listener has seen (OPEN only once
 * onOpen ran, CLOSED once onClose ran).
 *
 * <p>{@code executor.execute} is called on libws's thread and must not block: an executor that
 * queues (any {@code ThreadPoolExecutor} with an unbounded queue, {@code Handler.post}) is right;
 * one that runs the task inline, waits for room or for another thread is a host bug that stalls
 * every socket. Tasks posted to a multi-thread executor never run at the same time: one drains,
 * the others return. A listener must not block the executor for long either: while the queue is
 * not drained, libws stops reading the bound sockets past {@code max_pending_bytes} (16 MiB).
 *
 * <pre>{@code
 * Dispatcher onMain = new Dispatcher(mainHandler::post);
 * WebSocketTask.connect(new ConnectOptions.Builder(url).dispatcher(onMain).build(), listener);
 * }</pre>
 *
 * Free it with {@link #close()} once its tasks have delivered onClose.
 */
public final class Dispatcher implements AutoCloseable {
    private final Executor executor;
    private final AtomicInteger wakes = new AtomicInteger();
    private volatile long handle;

    /** Makes the dispatcher; throws {@link WebSocketTask.WebSocketException} if libws cannot. */
    public Dispatcher(Executor executor) throws WebSocketTask.WebSocketException {
        if (executor == null) {
            throw new NullPointerException("executor");
        }
        this.executor = executor;
        long h = WebSocketTask.nativeDispatcherNew(this);
        if (h <= 0) {
            throw new WebSocketTask.WebSocketException((int) h, "ws_dispatcher_new: " + WebSocketTask.strerror((int) h));
        }
        handle = h;
    }

    long handle() {
        long h = handle;
        if (h == 0) {
            throw new IllegalStateException("the Dispatcher is closed");
        }
        return h;
    }

    /** Called by the shim on libws's thread when the queue gets its first item. Never blocks. */
    @SuppressWarnings("unused")
    private void onWake() {
        if (wakes.getAndIncrement() == 0) {
            executor.execute(this::drain);
        }
    }

    // One drain at a time: a wake that comes while draining makes this drain go round again.
    private void drain() {
        int seen;
        do {
            seen = wakes.get();
            while (dispatchOnce() > 0) {
                // until a call runs nothing
            }
        } while (!wakes.compareAndSet(seen, 0));
    }

    // Under the lock close() takes, so the handle cannot be freed during the call.
    private synchronized long dispatchOnce() {
        return handle == 0 ? 0 : WebSocketTask.nativeDispatch(handle);
    }

    /**
     * Frees the dispatcher (a second call does nothing). Refused with a
     * {@link WebSocketTask.WebSocketException} of code {@code WS_ERR_BUSY}, nothing freed, while a
     * task bound to it has not delivered onClose or items wait: close its tasks, then call this
     * after their onClose.
     */
    @Override
    public synchronized void close() throws WebSocketTask.WebSocketException {
        long h = handle;
        if (h == 0) {
            return;
        }
        int rc = WebSocketTask.nativeDispatcherFree(h);
        if (rc != 0) {
            throw new WebSocketTask.WebSocketException(rc, "ws_dispatcher_free: " + WebSocketTask.strerror(rc));
        }
        handle = 0;
    }
}
