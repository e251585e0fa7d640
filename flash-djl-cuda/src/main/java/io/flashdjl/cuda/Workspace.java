package io.flashdjl.cuda;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.lang.ref.Cleaner;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Device memory that each thread reuses from call to call for what no caller sees: the backward's scratch (dQ's
 * float32 accumulator, delta, the mixed path's bfloat16 copies) and, for a caller that wants the output alone, the
 * forward's log-sum-exp and copies. Each array DJL makes and frees costs this host 3.2-3.5 us (PERF_LOG.md, "The host
 * floor of a call"), a third of a small forward's overhead.
 *
 * <p>Reuse is safe because every kernel runs on the null stream: a call's kernels start after the previous call's
 * are done with the memory. A thread keeps at most {@link #MAX_BYTES} per GPU; a larger request gets an array of its
 * own, freed after the call, so that large problems (whose kernels dwarf an allocation) hold nothing between calls.
 * The memory is freed when the thread's workspace grows or the thread is collected.
 */
final class Workspace {

    /** The most a thread keeps per GPU between calls. */
    static final long MAX_BYTES = 16L << 20;

    private static final Cleaner CLEANER = Cleaner.create();

    /** The managers the workspaces live in, one per GPU, never closed. */
    private static final Map<Integer, NDManager> MANAGERS = new ConcurrentHashMap<>();

    /** Each thread's workspace per GPU. */
    private static final ThreadLocal<Map<Integer, Held>> HELD = ThreadLocal.withInitial(HashMap::new);

    /** A workspace held by a thread: its array, size and address, and the registration that frees it. */
    private record Held(long floats, long address, Cleaner.Cleanable freeing) {}

    /**
     * Memory for one call: the thread's workspace, or an array of the call's own ({@link #release()} frees it once
     * the kernels that use it are submitted).
     */
    static final class Region {
        final long address;
        private final NDArray own;

        private Region(long address, NDArray own) {
            this.address = address;
            this.own = own;
        }

        /** Frees the call's own array, if it has one; safe once the kernels are submitted (stream-ordered reuse). */
        void release() {
            if (own != null) {
                own.close();
            }
        }
    }

    private Workspace() {}

    /**
     * At least {@code floats} float32 elements of device memory on {@code device} (16-byte aligned, contents
     * undefined) for the current call.
     *
     * @param manager where a region past {@link #MAX_BYTES} is made (the call's manager)
     */
    static Region take(NDManager manager, Device device, long floats) {
        if (4 * floats > MAX_BYTES) {
            NDArray own = manager.create(new Shape(floats), DataType.FLOAT32);
            return new Region(NDArrayMemory.address("scratch", own), own);
        }
        Map<Integer, Held> held = HELD.get();
        Held h = held.get(device.getDeviceId());
        if (h == null || h.floats < floats) {
            if (h != null) {
                h.freeing.clean(); // the old array: safe, its kernels are queued before the new ones
            }
            long size = heldFloats(floats);
            NDManager m = MANAGERS.computeIfAbsent(device.getDeviceId(), id -> NDManager.newBaseManager(device));
            NDArray array = m.create(new Shape(size), DataType.FLOAT32);
            long address = NDArrayMemory.address("workspace", array);
            h = new Held(size, address, CLEANER.register(Thread.currentThread(), array::close));
            held.put(device.getDeviceId(), h);
        }
        return new Region(h.address, null);
    }

    /**
     * The size a thread's workspace takes for a request of {@code floats} (at most {@link #MAX_BYTES}): the next power
     * of two, at least 1024 floats, so that a growing series of calls reallocates a few times rather than every call.
     */
    static long heldFloats(long floats) {
        return Math.min(MAX_BYTES / 4, Long.highestOneBit(Math.max(floats, 1024) - 1) << 1);
    }
}
