package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionMask;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.Layout;
import io.flashdjl.testing.AttentionCase;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.NaiveAttention;
import io.flashdjl.testing.TestSeed;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * In-place reads and writes, determinism, threads, several GPUs, and AUTO's choice. The addresses the
 * kernels got are read from the parameter blocks the launcher passed ({@link CudaKernels#RECORDED_PARAMS}).
 */
@Tag("gpu")
@ExtendWith({TestSeed.class, PoisonedOutputs.class})
class CudaBehaviourTest {

    /** BSHD: dense [B, S, H, D] memory that the kernels read as the [B, H, S, D] problem through strides. */
    private static final AttentionCase CASE = new AttentionCase(
            2, 8, 2, 333, 517, 64, 64, AttentionMask.CAUSAL_BOTTOM_RIGHT, Layout.BSHD, DataType.FLOAT16, Double.NaN);

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    /** The output arrays are the memory the kernel wrote: poisoned with NaN, fully overwritten, not copied. */
    @Test
    void outputIsTheMemoryTheKernelWrote(SplittableRandom rng) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] qkv = CASE.randomInputs(m, rng);
            List<byte[]> launches = new ArrayList<>();
            AttentionResult r = recording(
                    launches, () -> FlashAttention.forward(qkv[0], qkv[1], qkv[2], CASE.options(Backend.CUDA)));
            assertPassed(launches, "output", r.output());
            assertPassed(launches, "logSumExp", r.logSumExp());
            assertFalse(r.output().isNaN().any().getBoolean(), "every element of the poisoned output was written");
            assertFalse(r.logSumExp().isNaN().any().getBoolean(), "every lse element was written");
            assertEquals(CASE.outShape(), r.output().getShape());
        }
    }

    /**
     * BSHD inputs are read in place, through strides: every kernel, forward and backward, got the
     * device addresses of q, k, v (and of dOut, the output and the log-sum-exp), and wrote the
     * gradients it returned.
     */
    @Test
    void bshdInputsAreReadInPlace(SplittableRandom rng) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = CASE.randomInputs(m, rng);
            AttentionOptions opts = CASE.options(Backend.CUDA);
            List<byte[]> forward = new ArrayList<>();
            AttentionResult r = recording(forward, () -> FlashAttention.forward(in[0], in[1], in[2], opts));
            List<byte[]> backward = new ArrayList<>();
            AttentionGradients g =
                    recording(backward, () -> FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts));
            String[] names = {"q", "k", "v"};
            for (int i = 0; i < 3; i++) {
                assertPassed(forward, names[i], in[i]);
                assertPassed(backward, names[i], in[i]);
            }
            assertPassed(backward, "dOut", in[3]);
            assertPassed(backward, "forward.output()", r.output());
            assertPassed(backward, "forward.logSumExp()", r.logSumExp());
            assertPassed(backward, "dq", g.dq());
            assertPassed(backward, "dk", g.dk());
            assertPassed(backward, "dv", g.dv());
        }
    }

    /**
     * The check above can fail: q given as a transposed view of dense BHSD memory (DJL cannot pass
     * its strides on) is copied, and then the kernel gets the copy's address, not the view's memory.
     */
    @Test
    void aCopiedInputIsSeenAsCopied(SplittableRandom rng) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = CASE.randomInputs(m, rng);
            NDArray bhsd = CASE.random(m, new Shape(CASE.batch, CASE.headsQ, CASE.seqQ, CASE.headDim), rng);
            NDArray view = bhsd.transpose(0, 2, 1, 3); // BSHD shape over dense BHSD memory
            assertFalse(NDArrayMemory.isContiguous(view), "a transposed view is strided");
            List<byte[]> launches = new ArrayList<>();
            recording(launches, () -> FlashAttention.forward(view, in[1], in[2], CASE.options(Backend.CUDA)));
            long memory = NDArrayMemory.address("the view's memory", bhsd);
            assertFalse(passed(launches, memory), "the strided view was copied, and the check saw it");
            assertPassed(launches, "k", in[1]);
        }
    }

    @Test
    void deterministicBackwardGivesTheSameBits(SplittableRandom rng) {
        sameBitsWithinTheErrorRule(CASE, rng);
    }

    /**
     * Without a band, where the ordered mode's key tiles start their walks spread out (STAGGERED STARTS in
     * flash_params.h; 12 key tiles, 6 query tiles of 128 rows: two walks start at each), with GQA and the last tiles
     * partial. Where the GPU's kernels have the ordered mode, the launches must have asked for it, staggered.
     */
    @Test
    void deterministicBackwardWithoutAMaskGivesTheSameBits(SplittableRandom rng) {
        List<byte[]> launches = sameBitsWithinTheErrorRule(
                new AttentionCase(
                        2, 4, 2, 700, 1500, 64, 64, AttentionMask.NONE, Layout.BHSD, DataType.FLOAT16, Double.NaN),
                rng);
        CudaKernels kernels = CudaRuntime.kernels(Device.gpu());
        boolean ordered = kernels.dkdvOrdersDq(KernelDtype.F16, 64) && kernels.bwdTmaLoads(64);
        int backwards = 0;
        for (byte[] params : launches) {
            if (params.length == KernelParams.BACKWARD_BYTES) {
                ByteBuffer b = ByteBuffer.wrap(params).order(ByteOrder.LITTLE_ENDIAN);
                assertEquals(ordered ? DqMode.ORDERED.code : DqMode.DQ_KERNEL.code, b.getInt(448), "deterministic");
                assertEquals(ordered ? 1 : 0, b.getInt(476), "stagger");
                backwards++;
            }
        }
        assertEquals(3, backwards, "pre, dK/dV and convert or dq");
    }

    /** Two deterministic backwards of case {@code c}: the same bits, within the error rule; the first's launches. */
    private static List<byte[]> sameBitsWithinTheErrorRule(AttentionCase c, SplittableRandom rng) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = c.randomInputs(m, rng);
            AttentionOptions opts =
                    c.options(Backend.CUDA).toBuilder().optDeterministic(true).build();
            AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
            List<byte[]> launches = new ArrayList<>();
            AttentionGradients a =
                    recording(launches, () -> FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts));
            AttentionGradients b = FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
            assertTrue(a.dq().contentEquals(b.dq()), "dq bits");
            assertTrue(a.dk().contentEquals(b.dk()), "dk bits");
            assertTrue(a.dv().contentEquals(b.dv()), "dv bits");
            // and the deterministic path keeps the error rule, as the atomic one does in CudaParityTest
            NaiveAttention.Outcome truth = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, DataType.FLOAT64);
            NaiveAttention.Outcome base = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, c.dataType);
            double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
            ErrorBudget.check("deterministic dq", a.dq(), base.dq, truth.dq, c.dataType, mag);
            ErrorBudget.check("deterministic dk", a.dk(), base.dk, truth.dk, c.dataType, mag);
            ErrorBudget.check("deterministic dv", a.dv(), base.dv, truth.dv, c.dataType, mag);
            return launches;
        }
    }

    /**
     * A forward result whose buffers are not what the kernels read (another dtype, another device) is refused
     * with its field named, before a kernel could read it as garbage.
     */
    @Test
    void aForwardResultOfAnotherDtypeOrDeviceIsRefused(SplittableRandom rng) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = CASE.randomInputs(m, rng);
            AttentionOptions opts = CASE.options(Backend.CUDA);
            AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
            AttentionResult[] wrong = {
                new AttentionResult(r.output().toType(DataType.FLOAT32, false), r.logSumExp(), r.backend()),
                new AttentionResult(r.output().toDevice(Device.cpu(), false), r.logSumExp(), r.backend()),
                new AttentionResult(r.output(), r.logSumExp().toDevice(Device.cpu(), false), r.backend())
            };
            String[] named = {
                "forward.output(): expected dtype",
                "forward.output(): expected device",
                "forward.logSumExp(): expected device"
            };
            for (int i = 0; i < wrong.length; i++) {
                AttentionResult w = wrong[i];
                IllegalArgumentException e = assertThrows(
                        IllegalArgumentException.class,
                        () -> FlashAttention.backward(in[3], in[0], in[1], in[2], w, opts));
                assertTrue(e.getMessage().startsWith(named[i]), e.getMessage());
            }
        }
    }

    /** Four threads, each its own problem, give what one thread gives. */
    @Test
    void severalThreads(SplittableRandom rng) throws Exception {
        int threads = 4;
        long[] seeds = rng.longs(threads).toArray();
        float[][] expected = new float[threads][];
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            for (int t = 0; t < threads; t++) {
                expected[t] = run(m, seeds[t]);
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<float[]>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                futures.add(pool.submit(() -> {
                    try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
                        float[] last = null;
                        for (int rep = 0; rep < 5; rep++) {
                            last = run(m, seeds[id]);
                        }
                        return last;
                    }
                }));
            }
            for (int t = 0; t < threads; t++) {
                assertArrayEquals(expected[t], futures.get(t).get(), "thread " + t);
            }
        } finally {
            pool.shutdown();
        }
    }

    /** gpu(0) and gpu(1) in one process, each with its own module. */
    @Test
    void twoGpus(SplittableRandom rng) {
        assumeTrue(Engine.getInstance().getGpuCount() >= 2, "needs two GPUs");
        long seed = rng.nextLong();
        float[][] outs = new float[2][];
        for (int g = 0; g < 2; g++) {
            try (NDManager m = NDManager.newBaseManager(Device.gpu(g))) {
                NDArray[] in = inputs(m, CASE, seed);
                AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], CASE.options(Backend.CUDA));
                assertEquals(Device.gpu(g), r.output().getDevice());
                outs[g] = r.output().toType(DataType.FLOAT32, false).toFloatArray();
            }
        }
        assertArrayEquals(outs[0], outs[1]);
    }

    @Test
    void autoPicksCudaOnTheGpuAndReferenceForFloat64() {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray q = m.randomNormal(new Shape(1, 2, 40, 64)).toType(DataType.FLOAT16, false);
            assertEquals(Backend.CUDA, FlashAttention.forward(q, q, q).backend());
            NDArray q64 = q.toType(DataType.FLOAT64, false);
            assertEquals(
                    Backend.REFERENCE, FlashAttention.forward(q64, q64, q64).backend());
        }
    }

    private static float[] run(NDManager m, long seed) {
        NDArray[] in = inputs(m, CASE, seed);
        AttentionOptions opts =
                CASE.options(Backend.CUDA).toBuilder().optDeterministic(true).build();
        AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
        AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
        return g.dk().toType(DataType.FLOAT32, false).toFloatArray();
    }

    private static NDArray[] inputs(NDManager m, AttentionCase c, long seed) {
        return c.randomInputs(m, new SplittableRandom(seed));
    }

    /** Runs {@code call} with this thread's launches recorded into {@code launches}. */
    private static <T> T recording(List<byte[]> launches, Supplier<T> call) {
        CudaKernels.RECORDED_PARAMS.set(launches);
        try {
            return call.get();
        } finally {
            CudaKernels.RECORDED_PARAMS.remove();
        }
    }

    /**
     * Whether a launch's parameter block holds {@code address} as one of its 8-byte fields (where the
     * pointers are; no stride or size comes near a device address).
     */
    private static boolean passed(List<byte[]> launches, long address) {
        for (byte[] params : launches) {
            ByteBuffer b = ByteBuffer.wrap(params).order(ByteOrder.LITTLE_ENDIAN);
            for (int at = 0; at + 8 <= params.length; at += 8) {
                if (b.getLong(at) == address) {
                    return true;
                }
            }
        }
        return false;
    }

    private static void assertPassed(List<byte[]> launches, String name, NDArray array) {
        assertFalse(launches.isEmpty(), "no kernel was launched");
        long address = NDArrayMemory.address(name, array);
        assertTrue(
                passed(launches, address),
                name + ": no kernel got this array's memory (0x" + Long.toHexString(address) + "): a copy was made");
    }
}
