package io.flashdjl.testing;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;

/**
 * Makes the JVM free the direct buffers nobody references, now rather than whenever the GC would. On the
 * CPU, DJL's PyTorch engine keeps arrays made from Java data (a Java number in {@code x.mul(2.0)}) in such
 * buffers without copying; a tensor that outlives its array, in the autograd graph for instance, then
 * reads freed memory. Calling this between a forward and a backward pass turns that rare, GC-timed
 * corruption into a certain one.
 */
public final class FreedJavaBuffers {

    private FreedJavaBuffers() {}

    /** Collects garbage until the JVM's count of direct buffers stops falling (their memory is freed by then). */
    public static void freeUnreachable() {
        BufferPoolMXBean direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(pool -> pool.getName().equals("direct"))
                .findFirst()
                .orElseThrow(() -> new IllegalStateException("the JVM reports no direct buffer pool"));
        long count = direct.getCount();
        for (int round = 0; round < 50; round++) {
            System.gc();
            try {
                Thread.sleep(10); // the buffers' cleaner runs on its own thread
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the GC", e);
            }
            long now = direct.getCount();
            if (now == count && round > 0) {
                return;
            }
            count = now;
        }
    }
}
