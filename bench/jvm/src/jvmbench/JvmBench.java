package jvmbench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * libws (through jni/) against OkHttp on the JVM, same echo server, same measurements:
 *
 * <pre>
 *   java jvmbench.JvmBench [--quick] [--reps N] ws://127.0.0.1:PORT/   the table (markdown, stdout)
 *   java jvmbench.JvmBench child CONTENDER run|idle URL QUICK          one measurement, "RESULT key value" lines
 * </pre>
 *
 * Each measurement runs in a fresh JVM (same flags for both), alternating libws and OkHttp, so one
 * library's threads, heap and JIT state never weigh on the other's numbers.
 */
public final class JvmBench {
    private static final int WINDOW = 64;
    private static final int[] SIZES = {32, 1024};

    public static void main(String[] args) throws Exception {
        if (args.length >= 5 && args[0].equals("child")) {
            child(args[1], args[2], args[3], Boolean.parseBoolean(args[4]));
            return;
        }
        boolean quick = false;
        int reps = 0;
        String url = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick": quick = true; break;
                case "--reps": reps = Integer.parseInt(args[++i]); break;
                default: url = args[i];
            }
        }
        if (url == null) {
            System.err.println("usage: JvmBench [--quick] [--reps N] ws://127.0.0.1:PORT/");
            System.exit(2);
        }
        if (reps <= 0) {
            reps = quick ? 1 : 5;
        }
        System.exit(table(url, quick, reps) ? 0 : 1);
    }

    // ---- the parent: child JVMs, medians, the table ------------------------------------------------

    private static final String[] CONTENDERS = {"libws", "okhttp"};

    private static boolean table(String url, boolean quick, int reps) throws Exception {
        // contender -> key -> one value per repetition
        Map<String, Map<String, List<Double>>> all = new LinkedHashMap<>();
        Map<String, String> versions = new TreeMap<>();
        boolean ok = true;
        for (int rep = 0; rep < reps; rep++) {
            for (String mode : new String[] {"run", "idle"}) {
                for (String who : CONTENDERS) {
                    Map<String, String> out = runChild(who, mode, url, quick);
                    if (out == null) {
                        ok = false;
                        continue;
                    }
                    versions.put(who, out.getOrDefault("version", who));
                    Map<String, List<Double>> mine = all.computeIfAbsent(who, k -> new TreeMap<>());
                    for (Map.Entry<String, String> e : out.entrySet()) {
                        if (!e.getKey().equals("version")) {
                            mine.computeIfAbsent(e.getKey(), k -> new ArrayList<>()).add(Double.parseDouble(e.getValue()));
                        }
                    }
                }
            }
        }
        List<String[]> rows = new ArrayList<>();
        for (int size : SIZES) {
            String s = label(size);
            rows.add(new String[] {"round trip p50 µs, " + s, "lat_p50_" + size, "lower"});
            rows.add(new String[] {"round trip p90 µs, " + s, "lat_p90_" + size, "lower"});
            rows.add(new String[] {"CPU µs per round trip, " + s, "lat_cpu_" + size, "lower"});
        }
        for (int size : SIZES) {
            String s = label(size);
            rows.add(new String[] {"throughput msg/s, " + s + " (window " + WINDOW + ")", "tput_" + size, "higher"});
            rows.add(new String[] {"CPU µs per message, " + s + " (throughput)", "tput_cpu_" + size, "lower"});
        }
        rows.add(new String[] {"idle: Java heap bytes per connection (after GC)", "idle_heap_per_conn", "lower"});
        rows.add(new String[] {"idle: process RSS KiB per connection (heap pre-touched)", "idle_rss_kib_per_conn", "lower"});
        rows.add(new String[] {"idle: threads added by the connections", "idle_threads_added", "lower"});
        rows.add(new String[] {"idle: threads in the process with them open", "idle_threads_total", "lower"});
        rows.add(new String[] {"idle: connections", "idle_connections", "same"});

        StringBuilder md = new StringBuilder();
        md.append("### JVM: libws (jni) vs OkHttp").append(quick ? " (quick mode: tiny counts, not for comparison)" : "")
                .append("\n\n");
        md.append("- ").append(String.join("; ", versions.values())).append("; ").append(System.getProperty("java.vm.name"))
                .append(' ').append(System.getProperty("java.version")).append('\n');
        md.append("- ").append(url).append(" (bench echo server); ").append(reps)
                .append(" repetition(s), each measurement in a fresh JVM, medians shown; ratio = libws ÷ OkHttp\n\n");
        md.append("| measure | libws | OkHttp | libws ÷ OkHttp | better |\n|---|---:|---:|---:|---|\n");
        for (String[] row : rows) {
            Double a = median(all, "libws", row[1]);
            Double b = median(all, "okhttp", row[1]);
            boolean missing = a == null || b == null || (!row[1].equals("idle_threads_added") && (a <= 0 || b <= 0));
            if (missing) {
                ok = false;
            }
            String ratio = a != null && b != null && b != 0 ? String.format("%.2f", a / b) : "n/a";
            md.append("| ").append(row[0]).append(" | ").append(fmt(a)).append(" | ").append(fmt(b)).append(" | ")
                    .append(ratio).append(" | ").append(row[2]).append(" |\n");
        }
        System.out.print(md);
        System.out.flush();
        if (!ok) {
            System.err.println("jvm bench: a measurement failed or is missing (see above)");
        }
        return ok;
    }

    private static String label(int size) {
        return size >= 1024 ? (size / 1024) + " KiB" : size + " B";
    }

    private static Double median(Map<String, Map<String, List<Double>>> all, String who, String key) {
        List<Double> v = all.getOrDefault(who, Map.of()).get(key);
        if (v == null || v.isEmpty()) {
            return null;
        }
        double[] a = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    }

    private static String fmt(Double v) {
        if (v == null) {
            return "missing";
        }
        if (Math.abs(v) >= 1000 || v == Math.rint(v)) {
            return String.format("%,.0f", v);
        }
        return String.format(Math.abs(v) >= 100 ? "%.0f" : "%.1f", v);
    }

    /** Runs one measurement in a fresh JVM; its "RESULT key value" lines, or null if it failed. */
    private static Map<String, String> runChild(String who, String mode, String url, boolean quick) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        // The same flags for both; a fixed, pre-touched heap so RSS growth is not heap growth.
        cmd.addAll(Arrays.asList("-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch", "-Xss512k"));
        cmd.add("-Djava.library.path=" + System.getProperty("java.library.path"));
        cmd.addAll(Arrays.asList("-cp", System.getProperty("java.class.path"), JvmBench.class.getName()));
        cmd.addAll(Arrays.asList("child", who, mode, url, Boolean.toString(quick)));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        p.getOutputStream().close();
        Map<String, String> out = new LinkedHashMap<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.startsWith("RESULT ")) {
                    String[] kv = line.split(" ", 3);
                    out.put(kv[1], kv[2]);
                }
            }
        }
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            System.err.println("jvm bench: " + who + " " + mode + " timed out");
            return null;
        }
        if (p.exitValue() != 0) {
            System.err.println("jvm bench: " + who + " " + mode + " exited with " + p.exitValue());
            return null;
        }
        return out;
    }

    // ---- one child JVM ---------------------------------------------------------------------------

    private static void result(String key, Object value) {
        System.out.println("RESULT " + key + " " + value);
    }

    private static void child(String who, String mode, String url, boolean quick) throws Exception {
        Contender c = who.equals("libws") ? new LibwsContender() : new OkHttpContender();
        result("version", c.version());
        if (mode.equals("run")) {
            for (int size : SIZES) {
                latency(c, url, size, quick ? 200 : 2000, quick ? 1000 : 20000);
            }
            for (int size : SIZES) {
                throughput(c, url, size, quick ? 1000 : 20000, quick ? 5000 : 200000);
            }
        } else {
            idle(c, url, 1000);
        }
        c.shutdown();
        System.out.flush();
        // Library threads (OkHttp's pool, libws's loop) must not keep a finished measurement alive.
        Runtime.getRuntime().halt(0);
    }

    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    /** Opens one connection and waits for it (bounded). */
    private static Contender.Connection openOne(Contender c, String url, Contender.Echo echo) throws Exception {
        CountDownLatch opened = new CountDownLatch(1);
        Contender.Connection conn = c.open(url, opened::countDown, echo);
        if (!opened.await(10, TimeUnit.SECONDS)) {
            throw new IllegalStateException(c.name() + ": the connection did not open within 10 s");
        }
        return conn;
    }

    /** One message in flight, sent from this (the application) thread; the echo is handed back to it. */
    private static void latency(Contender c, String url, int size, int warmup, int count) throws Exception {
        Thread app = Thread.currentThread();
        AtomicLong echoes = new AtomicLong();
        Object[] last = new Object[1];
        Contender.Connection conn = openOne(c, url, m -> {
            last[0] = m;
            echoes.incrementAndGet();
            LockSupport.unpark(app);
        });
        byte[] data = new byte[size];
        long[] took = new long[count];
        long cpu0 = 0;
        for (int i = 0; i < warmup + count; i++) {
            if (i == warmup) {
                cpu0 = cpuNanos();
            }
            long t0 = System.nanoTime();
            conn.send(data);
            long deadline = t0 + TimeUnit.SECONDS.toNanos(10);
            while (echoes.get() <= i) {
                LockSupport.parkNanos(parkBound(deadline));
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(c.name() + ": no echo within 10 s");
                }
            }
            if (i >= warmup) {
                took[i - warmup] = System.nanoTime() - t0;
            }
        }
        long cpu = cpuNanos() - cpu0;
        conn.close();
        Arrays.sort(took);
        result("lat_p50_" + size, took[count / 2] / 1000.0);
        result("lat_p90_" + size, took[count * 9 / 10] / 1000.0);
        result("lat_cpu_" + size, cpu / 1000.0 / count);
        if (last[0] == null) {
            throw new IllegalStateException("no message handed back");
        }
    }

    private static long parkBound(long deadline) {
        return Math.max(1, Math.min(deadline - System.nanoTime(), TimeUnit.MILLISECONDS.toNanos(100)));
    }

    /** Up to WINDOW messages in flight, all sent from this thread; each echo frees a slot. */
    private static void throughput(Contender c, String url, int size, int warmup, int count) throws Exception {
        Semaphore window = new Semaphore(WINDOW);
        AtomicLong echoes = new AtomicLong();
        Contender.Connection conn = openOne(c, url, m -> {
            echoes.incrementAndGet();
            window.release();
        });
        byte[] data = new byte[size];
        long cpu0 = 0;
        long t0 = 0;
        for (int i = 0; i < warmup + count; i++) {
            if (i == warmup) {
                // Start the clock with the window drained, so warm-up echoes are not counted.
                if (!window.tryAcquire(WINDOW, 10, TimeUnit.SECONDS)) {
                    throw new IllegalStateException(c.name() + ": warm-up echoes missing");
                }
                window.release(WINDOW);
                cpu0 = cpuNanos();
                t0 = System.nanoTime();
            }
            if (!window.tryAcquire(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException(c.name() + ": no echo within 10 s");
            }
            conn.send(data);
        }
        if (!window.tryAcquire(WINDOW, 10, TimeUnit.SECONDS)) {
            throw new IllegalStateException(c.name() + ": the last echoes are missing");
        }
        long elapsed = System.nanoTime() - t0;
        long cpu = cpuNanos() - cpu0;
        conn.close();
        result("tput_" + size, count / (elapsed / 1e9));
        result("tput_cpu_" + size, cpu / 1000.0 / count);
        if (echoes.get() != warmup + count) {
            throw new IllegalStateException("echo count " + echoes.get() + " != " + (warmup + count));
        }
    }

    /** Heap after GC, RSS and threads before and after opening n idle connections. */
    private static void idle(Contender c, String url, int n) throws Exception {
        // Load and run every class the connections use first, so the delta is the connections'.
        openOne(c, url, m -> {}).close();
        Thread.sleep(300);
        long[] before = footprint();
        CountDownLatch opened = new CountDownLatch(n);
        List<Contender.Connection> conns = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            conns.add(c.open(url, opened::countDown, m -> {}));
        }
        if (!opened.await(60, TimeUnit.SECONDS)) {
            throw new IllegalStateException(c.name() + ": " + opened.getCount() + " of " + n + " did not open in 60 s");
        }
        Thread.sleep(500);
        long[] after = footprint();
        result("idle_connections", n);
        result("idle_heap_per_conn", (after[0] - before[0]) / (double) n);
        result("idle_rss_kib_per_conn", (after[1] - before[1]) / (double) n);
        result("idle_threads_added", after[2] - before[2]);
        result("idle_threads_total", after[2]);
        for (Contender.Connection conn : conns) {
            conn.close();
        }
    }

    /** {heap used after GC in bytes, VmRSS in KiB, OS threads of the process}. */
    private static long[] footprint() throws Exception {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
        }
        long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        long rss = 0;
        long threads = 0;
        for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                rss = Long.parseLong(line.replaceAll("[^0-9]", ""));
            } else if (line.startsWith("Threads:")) {
                threads = Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return new long[] {heap, rss, threads};
    }

    private JvmBench() {}
}
