package io.flashdjl.cuda;

import static jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleGetGlobal;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;

/**
 * The kernels of one GPU: PyTorch's primary context of that device (shared, never destroyed), the
 * fatbin module loaded into it once, the launch facts it exports (its parameter ABI version, checked
 * at load, its head-dimension list and the pad of the backward's dQ accumulator rows) and each
 * kernel's function handle and launch configuration (read from its {@code <name>_cfg} global), so
 * the CUDA source is the single source of truth.
 * Launches go to the null stream, which orders them with PyTorch's default stream.
 */
final class CudaKernels {

    /**
     * The launches of one call, queued with {@link #add} and launched together by {@link #submit}: as one CUDA
     * graph ({@link GraphLaunches}) where the driver builds graphs, else one by one, and one by one while a {@link
     * KernelTimer} runs on the thread (it brackets each kernel with events) or with {@code flashdjl.cuda.sync}.
     * Arrays the kernels read may be released once {@link #submit} returns (stream-ordered reuse), not before.
     */
    final class Launches {
        private final Object what;
        private final List<Kernel.Launch> queued = new ArrayList<>(GraphLaunches.MAX_NODES);

        private Launches(Object what) {
            this.what = what;
        }

        /** {@link CudaKernels#launch(Kernel, long, long, long, boolean, byte[], Object)}, queued. */
        void add(Kernel kernel, long rows, long heads, long batch, boolean queuedTiles, byte[] params) {
            if (queued.size() == GraphLaunches.MAX_NODES) {
                throw new IllegalStateException("more than " + GraphLaunches.MAX_NODES + " launches in one call");
            }
            queued.add(new Kernel.Launch(
                    kernel, checkedGrid(kernel, rows, heads, batch, queuedTiles, params, what), params));
        }

        /** {@link #add(Kernel, long, long, long, boolean, byte[])} of a kernel with one block per tile. */
        void add(Kernel kernel, long rows, long heads, long batch, byte[] params) {
            add(kernel, rows, heads, batch, false, params);
        }

        /** Launches what was added, in order, and empties the queue. */
        void submit() {
            if (queued.isEmpty()) {
                return;
            }
            makeCurrent();
            boolean graph = !SYNC
                    && KernelTimer.ACTIVE.get() == null
                    && GraphLaunches.available()
                    && GraphLaunches.worthIt(queued.size());
            if (!graph || !GraphLaunches.launch(queued, what)) {
                for (Kernel.Launch l : queued) {
                    launchNow(l.kernel(), l.grid(), l.params(), what);
                }
            }
            queued.clear();
        }
    }

    /** An empty queue of launches for one call ({@code what}: the problem, for error messages). */
    Launches launches(Object what) {
        return new Launches(what);
    }

    private static final Map<Integer, CudaKernels> BY_DEVICE = new ConcurrentHashMap<>();

    /**
     * Test hook: while a test sets a list here, every launch on that thread appends a copy of its parameter
     * block, so the test sees the device addresses the kernels really got.
     */
    static final ThreadLocal<List<byte[]>> RECORDED_PARAMS = new ThreadLocal<>();

    /** Debug aid: synchronise after every launch so a kernel fault is reported at its launch. */
    private static final boolean SYNC = Boolean.getBoolean("flashdjl.cuda.sync");

    /**
     * Each thread's parameter block in native memory, reused from launch to launch (the driver copies it during
     * cuLaunchKernel): JCuda passes a direct buffer's address as it is, where a Java array is pinned or copied
     * and copied back on every launch (docs/design.md, "Host cost of a call").
     */
    private static final ThreadLocal<LaunchArgs> ARGS = ThreadLocal.withInitial(LaunchArgs::new);

    private static final class LaunchArgs {
        final ByteBuffer block = ByteBuffer.allocateDirect(KernelParams.LAUNCH_BLOCK_BYTES);
        final Pointer kernelParams = Pointer.to(Pointer.to(block));
    }

    private final int deviceId;
    private final CUcontext context;
    private final CUmodule module;
    private final Map<String, Kernel> kernels = new ConcurrentHashMap<>();
    private final int[] headDims;
    private final int dqAccumPad;
    private final int[] dkdvAddsDq;
    private final int[] f32DkdvAddsDq;
    private final int[] dkdvOrdersDq;
    private final int[] fwdLongMinKeys;
    private final int[] fwdLongMinKeysFull;
    private final int[] fwdTmaLoads;
    private final int[] bwdTmaLoads;
    private final int multiprocessors;

    private CudaKernels(int deviceId, byte[] fatbin) {
        this.deviceId = deviceId;
        CUdevice device = new CUdevice();
        check(cuDeviceGet(device, deviceId), "cuDeviceGet(" + deviceId + ")");
        context = new CUcontext();
        check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain(" + deviceId + ")");
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
        module = new CUmodule();
        check(cuModuleLoadData(module, fatbin), "cuModuleLoadData (flash-djl fatbin on gpu(" + deviceId + "))");
        checkAbiVersion();
        int count = readInts("flash_head_dim_count", 1)[0];
        headDims = readInts("flash_head_dims", count);
        dqAccumPad = readInts("flash_dq_accum_pad", 1)[0];
        dkdvAddsDq = readInts("flash_dkdv_adds_dq", count);
        f32DkdvAddsDq = readInts("flash_f32_dkdv_adds_dq", count);
        dkdvOrdersDq = readInts("flash_dkdv_orders_dq", count);
        fwdLongMinKeys = readInts("flash_fwd_long_min_keys", count);
        fwdLongMinKeysFull = readInts("flash_fwd_long_min_keys_full", count);
        fwdTmaLoads = readInts("flash_fwd_tma_loads", count);
        bwdTmaLoads = readInts("flash_bwd_tma_loads", count);
        int[] sms = new int[1];
        check(
                cuDeviceGetAttribute(sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
                "cuDeviceGetAttribute(multiprocessor count)");
        multiprocessors = sms[0];
    }

    /** The device's SMs. */
    int multiprocessors() {
        return multiprocessors;
    }

    /** A fatbin built for another parameter layout would read garbage: refuse it by name. */
    private void checkAbiVersion() {
        CUdeviceptr ptr = new CUdeviceptr();
        long[] size = new long[1];
        int r = cuModuleGetGlobal(ptr, size, module, "flash_abi_version");
        if (r == CUresult.CUDA_ERROR_NOT_FOUND) {
            throw new IllegalStateException("the flash-djl fatbin exports no flash_abi_version: it was built from"
                    + " kernels of ABI version 1, this launcher packs version " + KernelParams.ABI_VERSION
                    + "; rebuild flash-djl-cuda");
        }
        check(r, "cuModuleGetGlobal(flash_abi_version)");
        int version = readInts("flash_abi_version", 1)[0];
        if (version != KernelParams.ABI_VERSION) {
            throw new IllegalStateException("the flash-djl fatbin has kernel parameter ABI version " + version
                    + " but this launcher packs version " + KernelParams.ABI_VERSION + "; rebuild flash-djl-cuda");
        }
    }

    /** The {@code n} ints of the fatbin's global {@code name}. */
    private int[] readInts(String name, int n) {
        CUdeviceptr ptr = new CUdeviceptr();
        long[] size = new long[1];
        check(cuModuleGetGlobal(ptr, size, module, name), "cuModuleGetGlobal(" + name + ")");
        if (n <= 0 || size[0] != 4L * n) {
            throw new IllegalStateException(name + " has " + size[0] + " bytes, expected " + n + " ints");
        }
        int[] values = new int[n];
        check(cuMemcpyDtoH(Pointer.to(values), ptr, 4L * n), "cuMemcpyDtoH(" + name + ")");
        return values;
    }

    /** The compiled head dimensions, ascending (the fatbin's {@code flash_head_dims}). */
    int[] headDims() {
        return headDims.clone();
    }

    /** The compiled head dimension that runs {@code headDim}: the smallest one not below it. */
    int kernelHeadDim(long headDim) {
        return kernelHeadDim(headDims, headDim);
    }

    /**
     * The floats in a row of the backward's float32 dQ accumulator for {@code headDim}: the kernel head dim and
     * the fatbin's pad (the kernels stage tiles of these rows in shared memory without bank conflicts).
     */
    int dqAccumColumns(long headDim) {
        return kernelHeadDim(headDim) + dqAccumPad;
    }

    /**
     * Whether the dK/dV kernel of {@code type} and {@code headDim} adds dQ into the float32 accumulator in the
     * atomic mode (the fatbin's {@code flash_dkdv_adds_dq} for the 16-bit compute types, {@code
     * flash_f32_dkdv_adds_dq} for float32; a device pass's own choice); if not, the dq kernel writes dQ in both
     * modes.
     */
    boolean dkdvAddsDq(KernelDtype type, long headDim) {
        int[] adds = type == KernelDtype.F32 ? f32DkdvAddsDq : dkdvAddsDq;
        return adds[Arrays.binarySearch(headDims, kernelHeadDim(headDim))] != 0;
    }

    /**
     * Whether the dK/dV kernel of {@code type} and {@code headDim} without a score bias takes the ordered mode
     * ({@link DqMode#ORDERED}; the fatbin's {@code flash_dkdv_orders_dq}, for the 16-bit compute types only: a device
     * pass's own choice).
     */
    boolean dkdvOrdersDq(KernelDtype type, long headDim) {
        return type.sixteenBitCompute() && dkdvOrdersDq[Arrays.binarySearch(headDims, kernelHeadDim(headDim))] != 0;
    }

    /**
     * The key count from which the forward of {@code headDim} runs its form for long key sequences
     * ({@code flash_fwd_long_*}; the fatbin's {@code flash_fwd_long_min_keys}, or {@code flash_fwd_long_min_keys_full}
     * for calls on which every row sees every key: a device pass's own choice), or 0 if that head dimension has none
     * on this GPU.
     */
    int forwardLongMinKeys(long headDim, boolean everyKeySeen) {
        int hd = kernelHeadDim(headDim);
        return (everyKeySeen ? fwdLongMinKeysFull : fwdLongMinKeys)[Arrays.binarySearch(headDims, hd)];
    }

    /**
     * Whether the forwards of {@code headDim} copy q, k and v through tensor maps when given them ({@code TMA LOADS}
     * in flash_params.h; the fatbin's {@code flash_fwd_tma_loads}, a device pass's own choice).
     */
    boolean forwardTmaLoads(long headDim) {
        int hd = kernelHeadDim(headDim);
        return fwdTmaLoads[Arrays.binarySearch(headDims, hd)] != 0;
    }

    /**
     * Whether a kernel of the 16-bit backward of {@code headDim} copies through the backward's tensor maps when given
     * them ({@code TMA LOADS} in flash_params.h; the fatbin's {@code flash_bwd_tma_loads}, a device pass's own
     * choice).
     */
    boolean bwdTmaLoads(long headDim) {
        int hd = kernelHeadDim(headDim);
        return bwdTmaLoads[Arrays.binarySearch(headDims, hd)] != 0;
    }

    /** The smallest of {@code compiled} (ascending) not below {@code headDim}. */
    static int kernelHeadDim(int[] compiled, long headDim) {
        for (int hd : compiled) {
            if (headDim <= hd) {
                return hd;
            }
        }
        throw new IllegalArgumentException("headDim: expected at most " + compiled[compiled.length - 1]
                + " (the compiled head dimensions are " + Arrays.toString(compiled) + ") but got " + headDim);
    }

    /** The kernels of GPU {@code deviceId}, loading the module on first use. */
    static CudaKernels forDevice(int deviceId, byte[] fatbin) {
        return BY_DEVICE.computeIfAbsent(deviceId, id -> new CudaKernels(id, fatbin));
    }

    /** Looks up a kernel and its configuration once. */
    Kernel kernel(String name) {
        return kernels.computeIfAbsent(name, this::load);
    }

    private Kernel load(String name) {
        makeCurrent();
        CUfunction f = new CUfunction();
        check(cuModuleGetFunction(f, module, name), "cuModuleGetFunction(" + name + ")");
        CUdeviceptr cfgPtr = new CUdeviceptr();
        long[] size = new long[1];
        check(cuModuleGetGlobal(cfgPtr, size, module, name + "_cfg"), "cuModuleGetGlobal(" + name + "_cfg)");
        int[] cfg = new int[4];
        check(cuMemcpyDtoH(Pointer.to(cfg), cfgPtr, 16), "cuMemcpyDtoH(" + name + "_cfg)");
        if (cfg[0] <= 0 || cfg[1] <= 0 || cfg[2] < 0 || cfg[3] < 0) {
            throw new IllegalStateException(name + "_cfg is invalid: threads=" + cfg[0] + " tileRows=" + cfg[1]
                    + " sharedBytes=" + cfg[2] + " persistentPerSm=" + cfg[3]);
        }
        if (cfg[2] > 48 * 1024) {
            check(
                    cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, cfg[2]),
                    "cuFuncSetAttribute(" + name + ", max dynamic shared memory " + cfg[2] + ")");
        }
        return new Kernel(name, f, cfg[0], cfg[1], cfg[2], cfg[3]);
    }

    /**
     * The launch grid of {@code kernel} over {@code rowTiles x heads x batch} tiles (each within CUDA's limits): that
     * grid, or for a persistent kernel a row of blocks that take the tiles from a queue (flash_params.h): at most its
     * CTAs per SM on each of {@code multiprocessors} SMs when {@code queued} ({@link CudaBackend#queuedRowTiles}),
     * else one block per tile, which the hardware schedules as SMs free up.
     */
    static int[] grid(Kernel kernel, long rowTiles, long heads, long batch, int multiprocessors, boolean queued) {
        if (kernel.persistentPerSm == 0) {
            return new int[] {(int) rowTiles, (int) heads, (int) batch};
        }
        long tiles = rowTiles * heads * batch;
        long walkers = queued ? (long) kernel.persistentPerSm * multiprocessors : tiles;
        return new int[] {(int) Math.min(tiles, walkers), 1, 1};
    }

    /** The row tiles of {@code kernel}'s grid over {@code rows} rows (FlashFwdParams.row_tiles). */
    static int rowTiles(Kernel kernel, long rows) {
        return (int) Math.min(Integer.MAX_VALUE, blocks(kernel, rows));
    }

    /** {@code ceil(rows / tileRows)}: the grid's row tiles before any limit is applied. */
    private static long blocks(Kernel kernel, long rows) {
        return (rows + kernel.tileRows - 1) / kernel.tileRows;
    }

    /**
     * Launches {@code kernel} over the grid of {@code ceil(rows / tileRows) x heads x batch} tiles with the one
     * parameter block {@code params} (a packed struct passed by value): one block per tile, for a persistent kernel
     * too, in a row ({@link #grid}; the block then carries {@link #rowTiles}). While a {@link KernelTimer} runs on this
     * thread, CUDA events around the launch time it.
     *
     * @param what the problem, for error messages (its {@code toString()} is read only for one)
     */
    void launch(Kernel kernel, long rows, long heads, long batch, byte[] params, Object what) {
        launch(kernel, rows, heads, batch, false, params, what);
    }

    /**
     * {@link #launch(Kernel, long, long, long, byte[], Object)} with {@code queued}: whether a persistent kernel runs
     * at most its CTAs per SM, which take the tiles from a queue, rather than one block per tile ({@link #grid}).
     */
    void launch(Kernel kernel, long rows, long heads, long batch, boolean queued, byte[] params, Object what) {
        makeCurrent();
        launchNow(kernel, checkedGrid(kernel, rows, heads, batch, queued, params, what), params, what);
    }

    /** The grid of a launch (see {@link #launch}), after checking it and the parameter block against the limits. */
    private int[] checkedGrid(
            Kernel kernel, long rows, long heads, long batch, boolean queued, byte[] params, Object what) {
        long blocksX = blocks(kernel, rows);
        if (blocksX > Integer.MAX_VALUE || heads > 65535 || batch > 65535) {
            throw new IllegalArgumentException(kernel.name + ": grid " + blocksX + " x " + heads + " x " + batch
                    + " exceeds CUDA's limits (heads and batch at most 65535) for " + what);
        }
        if (kernel.persistentPerSm > 0 && blocksX * heads * batch > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(kernel.name + ": " + blocksX * heads * batch
                    + " tiles exceed the persistent kernels' int tile index for " + what);
        }
        List<byte[]> recorded = RECORDED_PARAMS.get();
        if (recorded != null) {
            recorded.add(params.clone());
        }
        if (params.length > KernelParams.LAUNCH_BLOCK_BYTES) {
            throw new IllegalArgumentException(kernel.name + ": a parameter block of " + params.length
                    + " bytes exceeds the launcher's " + KernelParams.LAUNCH_BLOCK_BYTES);
        }
        return grid(kernel, blocksX, heads, batch, multiprocessors, queued);
    }

    /** One {@code cuLaunchKernel} on the null stream, timed by the thread's {@link KernelTimer} if one runs. */
    private void launchNow(Kernel kernel, int[] grid, byte[] params, Object what) {
        LaunchArgs args = ARGS.get();
        args.block.put(0, params); // absolute: the buffer's position, which JCuda reads, stays 0
        KernelTimer timer = KernelTimer.ACTIVE.get();
        if (timer != null) {
            timer.beforeLaunch(this);
        }
        int r = cuLaunchKernel(
                kernel.function,
                grid[0],
                grid[1],
                grid[2],
                kernel.threads,
                1,
                1,
                kernel.sharedBytes,
                null,
                args.kernelParams,
                null);
        if (r != CUresult.CUDA_SUCCESS) {
            throw new CudaException(kernel.name, what, "cuLaunchKernel", r);
        }
        if (timer != null) {
            timer.afterLaunch(this);
        }
        if (SYNC) {
            r = cuCtxSynchronize();
            if (r != CUresult.CUDA_SUCCESS) {
                throw new CudaException(kernel.name, what, "the kernel (cuCtxSynchronize)", r);
            }
        }
    }

    /** Launches need the context current on the calling thread; setting it is cheap. */
    private void makeCurrent() {
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent(gpu(" + deviceId + "))");
    }

    private static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(null, null, call, result);
        }
    }
}
