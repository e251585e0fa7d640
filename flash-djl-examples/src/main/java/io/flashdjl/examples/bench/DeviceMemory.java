package io.flashdjl.examples.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * Peak device memory of one call, measured by the CUDA driver.
 *
 * <p>PyTorch's default caching allocator keeps freed blocks, so the driver's free-memory figure
 * ({@code cuMemGetInfo}) says nothing about one call, and its own counters ({@code
 * torch.cuda.max_memory_allocated}) are reachable from neither DJL nor TorchScript. But PyTorch can
 * be told to allocate through CUDA's stream-ordered allocator ({@code
 * PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync}), which takes memory from the device's default
 * memory pool; the driver counts that pool's used bytes and their high-water mark ({@code
 * CU_MEMPOOL_ATTR_USED_MEM_CURRENT}, {@code CU_MEMPOOL_ATTR_USED_MEM_HIGH}, resettable). PyTorch's
 * own memory statistics read exactly these counters under that backend (the two agreed to the byte
 * on the H100 test machine, torch 2.11). Every allocation of every implementation here goes
 * through PyTorch's allocator, the CUDA backend's outputs and scratch included (DJL arrays).
 *
 * <p>JCuda 12.6 has no binding for the pool attributes, so this calls {@code libcuda} through JNA.
 */
final class DeviceMemory {

    static final String ALLOC_ENV = "PYTORCH_CUDA_ALLOC_CONF";
    static final String ALLOC_ASYNC = "backend:cudaMallocAsync";

    private static final int USED_MEM_CURRENT = 7; // CU_MEMPOOL_ATTR_USED_MEM_CURRENT
    private static final int USED_MEM_HIGH = 8; // CU_MEMPOOL_ATTR_USED_MEM_HIGH

    /** The few driver calls used, by their C names. */
    public interface CudaDriver extends Library {
        int cuInit(int flags);

        int cuDeviceGetDefaultMemPool(PointerByReference pool, int device);

        int cuMemPoolGetAttribute(Pointer pool, int attribute, LongByReference value);

        int cuMemPoolSetAttribute(Pointer pool, int attribute, LongByReference value);
    }

    /** The C library's setenv, to choose PyTorch's allocator before libtorch loads. */
    public interface LibC extends Library {
        int setenv(String name, String value, int overwrite);
    }

    private final CudaDriver driver;
    private final Pointer pool;
    /** Why memory is not measured, or null when it is. */
    final String unmeasured;

    private long base;

    private DeviceMemory(CudaDriver driver, Pointer pool, String unmeasured) {
        this.driver = driver;
        this.pool = pool;
        this.unmeasured = unmeasured;
    }

    /**
     * Asks libtorch (not yet loaded) for the cudaMallocAsync allocator, unless the variable is set.
     *
     * @return what the variable will be, or null if it could not be set
     */
    static String requestAsyncAllocator() {
        String current = System.getenv(ALLOC_ENV);
        if (current != null) {
            return current;
        }
        try {
            LibC libc = Native.load("c", LibC.class);
            return libc.setenv(ALLOC_ENV, ALLOC_ASYNC, 0) == 0 ? ALLOC_ASYNC : null;
        } catch (UnsatisfiedLinkError e) {
            return null;
        }
    }

    /** No measurement (CPU). */
    static DeviceMemory none(String why) {
        return new DeviceMemory(null, null, why);
    }

    /**
     * Opens the default memory pool of the GPU and checks that PyTorch allocates from it: a
     * 64 MiB array must raise the pool's used bytes by at least 64 MiB.
     */
    static DeviceMemory open(Device device, DeviceClock clock) {
        CudaDriver driver;
        try {
            driver = Native.load("cuda", CudaDriver.class);
        } catch (UnsatisfiedLinkError e) {
            try {
                driver = Native.load("libcuda.so.1", CudaDriver.class);
            } catch (UnsatisfiedLinkError e2) {
                return none("libcuda could not be loaded through JNA (" + e2.getMessage() + ")");
            }
        }
        driver.cuInit(0);
        PointerByReference ref = new PointerByReference();
        int r = driver.cuDeviceGetDefaultMemPool(ref, device.getDeviceId());
        if (r != 0) {
            return none("cuDeviceGetDefaultMemPool failed with CUresult " + r);
        }
        DeviceMemory m = new DeviceMemory(driver, ref.getValue(), null);
        long probe = 64L << 20;
        try (NDManager manager = NDManager.newBaseManager(device)) {
            clock.sync();
            long before = m.get(USED_MEM_CURRENT);
            NDArray a = manager.create(new Shape(probe / 4), DataType.FLOAT32);
            clock.sync();
            long after = m.get(USED_MEM_CURRENT);
            a.close();
            if (after - before < probe) {
                return none(
                        "PyTorch does not allocate from the CUDA default memory pool (a 64 MiB array moved the pool by "
                                + (after - before) + " bytes); set " + ALLOC_ENV + "=" + ALLOC_ASYNC
                                + " before the JVM starts");
            }
        }
        return m;
    }

    boolean measured() {
        return unmeasured == null;
    }

    /** Call after the device is idle, right before the call: remembers the used bytes and resets the peak. */
    void reset() {
        if (measured()) {
            base = get(USED_MEM_CURRENT);
            set(USED_MEM_HIGH, 0); // the driver resets the high-water mark to the current use
        }
    }

    /** Call after the device is idle again: the call's peak bytes above those in use at {@link #reset}, or -1. */
    long peakExtra() {
        return measured() ? Math.max(0, get(USED_MEM_HIGH) - base) : -1;
    }

    private long get(int attribute) {
        LongByReference v = new LongByReference();
        int r = driver.cuMemPoolGetAttribute(pool, attribute, v);
        if (r != 0) {
            throw new IllegalStateException("cuMemPoolGetAttribute(" + attribute + ") failed with CUresult " + r);
        }
        return v.getValue();
    }

    private void set(int attribute, long value) {
        int r = driver.cuMemPoolSetAttribute(pool, attribute, new LongByReference(value));
        if (r != 0) {
            throw new IllegalStateException("cuMemPoolSetAttribute(" + attribute + ") failed with CUresult " + r);
        }
    }
}
