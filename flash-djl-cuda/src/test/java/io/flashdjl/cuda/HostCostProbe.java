package io.flashdjl.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.spi.AttentionProblem;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;
import jcuda.Pointer;

/**
 * Where the host time of one CUDA-backend call goes: each piece of a call (validation, allocations through DJL,
 * device-address reads, the kernel launch through JCuda) timed alone in a loop on the CPU clock, in microseconds
 * per operation, next to whole calls. A profiling tool run on the device ({@code java -cp ...
 * io.flashdjl.cuda.HostCostProbe N [calls | fwd|bwd SECONDS]}: the sequence length, then optionally only the
 * whole calls, or a steady loop of them for a sampling profiler), not a test: it asserts nothing.
 *
 * <p>Each piece runs in bursts of {@link #BURST} operations with the GPU drained between bursts (not timed), so
 * a burst's launches queue without blocking and the host clock sees host work only. The figure is the median
 * over {@link #ROUNDS} rounds of the burst mean, after {@link #JIT_WARMUP_CALLS} whole calls of each direction.
 */
final class HostCostProbe {

    private static final int BURST = 40;
    private static final int ROUNDS = 200;
    private static final int JIT_WARMUP_CALLS = 20_000;

    private interface Op {
        void run() throws Exception;
    }

    private HostCostProbe() {}

    public static void main(String[] args) throws Exception {
        long n = args.length > 0 ? Long.parseLong(args[0]) : 128;
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            Shape shape = new Shape(1, 16, n, 64);
            NDArray q = m.randomNormal(shape).toType(DataType.FLOAT16, false);
            NDArray k = m.randomNormal(shape).toType(DataType.FLOAT16, false);
            NDArray v = m.randomNormal(shape).toType(DataType.FLOAT16, false);
            NDArray dOut = m.randomNormal(shape).toType(DataType.FLOAT16, false);
            AttentionOptions opts =
                    AttentionOptions.builder().optBackend(Backend.CUDA).build();
            AttentionProblem p = AttentionProblem.validate(q, k, v, opts);
            CudaBackend backend = new CudaBackend();
            AttentionResult fwd = FlashAttention.forward(q, k, v, opts);
            CudaKernels kernels = CudaRuntime.kernels(p.device());
            Kernel kernel = kernels.kernel("flash_fwd_f16_hd64");
            byte[] params = recordedForwardParams(q, k, v, opts);
            ByteBuffer direct = ByteBuffer.allocateDirect(params.length).order(ByteOrder.nativeOrder());
            direct.put(params).flip();
            Pointer directArgs = Pointer.to(Pointer.to(direct));
            long function = kernel.functionAddress;
            JnaLaunch jna = new JnaLaunch(params);
            int blocks = (int) ((n + kernel.tileRows - 1) / kernel.tileRows);

            System.out.printf(
                    Locale.ROOT,
                    "host cost per operation, fp16 B=1 H=16 N=%d d=64 (burst %d, %d rounds)%n",
                    n,
                    BURST,
                    ROUNDS);
            System.out.println("| piece | us (median) | us (p10) | us (p90) |");
            System.out.println("| --- | ---: | ---: | ---: |");
            time("FlashAttention.forward (whole call)", () -> close(FlashAttention.forward(q, k, v, opts)));
            time(
                    "FlashAttention.backward (whole call)",
                    () -> close(FlashAttention.backward(dOut, q, k, v, fwd, opts)));
            time("CudaBackend.forward", () -> close(backend.forward(p)));
            time("CudaBackend.backward", () -> close(backend.backward(p, dOut, fwd)));
            if (args.length == 2 && args[1].equals("calls")) { // the whole calls only (A/B runs of two builds)
                return;
            }
            time("AttentionProblem.validate", () -> AttentionProblem.validate(q, k, v, opts));
            time("CudaBackend.unsupportedReason", () -> backend.unsupportedReason(p));
            time("AttentionProblem.toString", () -> p.toString());
            time(
                    "NDManager.create [1,16,N,64] f16 + close",
                    () -> m.create(shape, DataType.FLOAT16).close());
            time(
                    "NDManager.create [1,16,N] f32 + close",
                    () -> m.create(new Shape(1, 16, n), DataType.FLOAT32).close());
            time("NDArrayMemory.isContiguous", () -> NDArrayMemory.isContiguous(q));
            time("NDArrayMemory.address", () -> NDArrayMemory.address("q", q));
            time("NDArray.getShape + getDataType + getDevice", () -> {
                q.getShape();
                q.getDataType();
                q.getDevice();
            });
            time(
                    "CudaRuntime.kernels + CudaKernels.kernel",
                    () -> CudaRuntime.kernels(p.device()).kernel("flash_fwd_f16_hd64"));
            time("CudaKernels.launch (as the backend launches)", () -> kernels.launch(kernel, n, 16, 1, params, p));
            time(
                    "cuLaunchKernel (JCuda, direct buffer parameters)",
                    () -> check(cuLaunchKernel(
                            kernel.function,
                            blocks,
                            16,
                            1,
                            kernel.threads,
                            1,
                            1,
                            kernel.sharedBytes,
                            null,
                            directArgs,
                            null)));
            time(
                    "cuLaunchKernel (JNA direct mapping, native parameters)",
                    () -> check(jna.launch(function, blocks, 16, 1, kernel.threads, kernel.sharedBytes)));
            if (args.length > 2) { // a steady loop of one direction for a profiler: N fwd|bwd seconds
                long end = System.nanoTime() + (long) (Double.parseDouble(args[2]) * 1e9);
                boolean forward = args[1].equals("fwd");
                for (int i = 0; System.nanoTime() < end; i++) {
                    if (forward) {
                        close(FlashAttention.forward(q, k, v, opts));
                    } else {
                        close(FlashAttention.backward(dOut, q, k, v, fwd, opts));
                    }
                    if (i % BURST == 0) {
                        cuCtxSynchronize();
                    }
                }
            }
            cuCtxSynchronize();
        }
    }

    /** The forward's parameter block, as the backend packs it (recorded from a real call). */
    private static byte[] recordedForwardParams(NDArray q, NDArray k, NDArray v, AttentionOptions opts) {
        java.util.List<byte[]> recorded = new java.util.ArrayList<>();
        CudaKernels.RECORDED_PARAMS.set(recorded);
        try {
            close(FlashAttention.forward(q, k, v, opts));
        } finally {
            CudaKernels.RECORDED_PARAMS.remove();
        }
        return recorded.get(0);
    }

    private static void time(String name, Op op) throws Exception {
        for (int i = 0; i < 2 * BURST; i++) { // warm-up: JIT, allocator pools
            op.run();
        }
        cuCtxSynchronize();
        double[] us = new double[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < BURST; i++) {
                op.run();
            }
            us[r] = (System.nanoTime() - t0) / 1e3 / BURST;
            cuCtxSynchronize();
        }
        Arrays.sort(us);
        System.out.printf(
                Locale.ROOT,
                "| %s | %.2f | %.2f | %.2f |%n",
                name,
                us[ROUNDS / 2],
                us[ROUNDS / 10],
                us[ROUNDS * 9 / 10]);
    }

    private static void close(AttentionResult r) {
        r.output().close();
        r.logSumExp().close();
    }

    private static void close(AttentionGradients g) {
        g.dq().close();
        g.dk().close();
        g.dv().close();
    }

    private static void check(int r) {
        if (r != 0) {
            throw new IllegalStateException("launch failed: " + r);
        }
    }

    /** The driver's cuLaunchKernel by JNA direct mapping, on a native parameter block and pointer array. */
    static final class JnaLaunch {
        static {
            com.sun.jna.Native.register(JnaLaunch.class, "cuda");
        }

        private final com.sun.jna.Memory block;
        private final com.sun.jna.Memory args;

        JnaLaunch(byte[] params) {
            block = new com.sun.jna.Memory(params.length);
            block.write(0, params, 0, params.length);
            args = new com.sun.jna.Memory(8);
            args.setPointer(0, block);
        }

        static native int cuLaunchKernel(
                long f, int gx, int gy, int gz, int bx, int by, int bz, int smem, long stream, long params, long extra);

        int launch(long f, int gx, int gy, int gz, int threads, int smem) {
            return cuLaunchKernel(f, gx, gy, gz, threads, 1, 1, smem, 0L, com.sun.jna.Pointer.nativeValue(args), 0L);
        }
    }
}
