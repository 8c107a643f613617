// A small Java program for tests/real/java.sh: a thread pool filling a
// ConcurrentHashMap, per-thread lists sorted, 8 plain threads building
// strings, a TreeMap over the result. It prints one line whose figures are
// known in advance (the script compares it), for ROUNDS rounds (argument).
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

public class RealJava {
    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int threads = 4, perThread = 50000;
        String line = null;
        for (int r = 0; r < rounds; r++) {
            ConcurrentHashMap<Integer, String> map = new ConcurrentHashMap<>();
            AtomicLong total = new AtomicLong();
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            List<Future<Long>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                final int base = t * perThread;
                results.add(pool.submit(() -> {
                    long sum = 0;
                    List<String> local = new ArrayList<>();
                    for (int i = base; i < base + perThread; i++) {
                        String s = "k" + i;
                        map.put(i, s);
                        local.add(s);
                        sum += i;
                    }
                    Collections.sort(local);
                    total.addAndGet(local.size());
                    return sum;
                }));
            }
            long sum = 0;
            for (Future<Long> f : results) sum += f.get();
            pool.shutdown();
            if (!pool.awaitTermination(60, TimeUnit.SECONDS)) throw new IllegalStateException("pool did not stop");
            Thread[] extra = new Thread[8];
            AtomicInteger done = new AtomicInteger();
            for (int i = 0; i < extra.length; i++) {
                extra[i] = new Thread(() -> {
                    StringBuilder sb = new StringBuilder();
                    for (int j = 0; j < 10000; j++) sb.append(j % 10);
                    if (sb.length() == 10000) done.incrementAndGet();
                });
                extra[i].start();
            }
            for (Thread t : extra) t.join();
            TreeMap<String, Integer> tree = new TreeMap<>();
            for (Map.Entry<Integer, String> e : map.entrySet()) tree.put(e.getValue(), e.getKey());
            String now = "entries=" + map.size() + " total=" + total.get() + " sum=" + sum + " threads=" + done.get()
                    + " first=" + tree.firstKey() + " last=" + tree.lastKey();
            if (line != null && !line.equals(now)) throw new IllegalStateException("round " + r + " differs: " + now);
            line = now;
        }
        System.out.println(line + " rounds=" + rounds);
    }
}
