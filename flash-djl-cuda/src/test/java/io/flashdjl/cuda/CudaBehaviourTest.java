package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** In-place writes, determinism, threads, several GPUs, and AUTO's choice. */
@Tag("gpu")
class CudaBehaviourTest {

    private static final AttentionCase CASE = new AttentionCase(2, 8, 2, 333, 517, 64, 64,
            AttentionMask.CAUSAL_BOTTOM_RIGHT, Layout.BSHD, DataType.FLOAT16, Double.NaN);

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    /** The output NDArray is the memory the kernel wrote: poisoned with NaN, fully overwritten, not copied. */
    @Test
    void outputIsTheMemoryTheKernelWrote() {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] qkv = inputs(m, CASE, 7);
            AttentionResult r = FlashAttention.forward(qkv[0], qkv[1], qkv[2], CASE.options(Backend.CUDA));
            long before = NDArrayMemory.address("output", r.output());
            assertFalse(r.output().isNaN().any().getBoolean(), "every element of the poisoned output was written");
            assertFalse(r.logSumExp().isNaN().any().getBoolean(), "every lse element was written");
            assertEquals(before, NDArrayMemory.address("output", r.output()), "no copy on access");
            assertEquals(CASE.outShape(), r.output().getShape());
        }
    }

    /** The input arrays are read in place: the addresses the kernels got are the inputs' own. */
    @Test
    void inputsAreReadInPlace() {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] qkv = inputs(m, CASE, 8);
            for (NDArray a : qkv) {
                assertTrue(CudaBackend.dense("x", a) == a, "a dense input is passed as it is");
            }
        }
    }

    @Test
    void deterministicBackwardGivesTheSameBits() {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = inputs(m, CASE, 9);
            AttentionOptions opts = CASE.options(Backend.CUDA).toBuilder().optDeterministic(true).build();
            AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
            AttentionGradients a = FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
            AttentionGradients b = FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
            assertTrue(a.dq().contentEquals(b.dq()), "dq bits");
            assertTrue(a.dk().contentEquals(b.dk()), "dk bits");
            assertTrue(a.dv().contentEquals(b.dv()), "dv bits");
            // and the deterministic path computes the same function as the atomic one
            AttentionGradients c = FlashAttention.backward(in[3], in[0], in[1], in[2], r, CASE.options(Backend.CUDA));
            assertTrue(ErrorBudget.maxAbsError("dq", a.dq(), c.dq()) < 1e-2);
        }
    }

    /** Four threads, each its own problem, give what one thread gives. */
    @Test
    void severalThreads() throws Exception {
        int threads = 4;
        float[][] expected = new float[threads][];
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            for (int t = 0; t < threads; t++) {
                expected[t] = run(m, t);
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
                            last = run(m, id);
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
    void twoGpus() {
        assumeTrue(Engine.getInstance().getGpuCount() >= 2, "needs two GPUs");
        float[][] outs = new float[2][];
        for (int g = 0; g < 2; g++) {
            try (NDManager m = NDManager.newBaseManager(Device.gpu(g))) {
                NDArray[] in = inputs(m, CASE, 11);
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
            assertEquals(Backend.REFERENCE, FlashAttention.forward(q64, q64, q64).backend());
        }
    }

    private static float[] run(NDManager m, int seed) {
        NDArray[] in = inputs(m, CASE, seed);
        AttentionOptions opts = CASE.options(Backend.CUDA).toBuilder().optDeterministic(true).build();
        AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
        AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
        return g.dk().toType(DataType.FLOAT32, false).toFloatArray();
    }

    private static NDArray[] inputs(NDManager m, AttentionCase c, long seed) {
        return c.randomInputs(m, new SplittableRandom(seed));
    }
}
