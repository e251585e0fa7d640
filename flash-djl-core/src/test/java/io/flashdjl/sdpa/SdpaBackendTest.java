package io.flashdjl.sdpa;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
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
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The SDPA backend against the tests' float64 {@link NaiveAttention}, by {@link ErrorBudget}'s rule,
 * on awkward shapes.
 *
 * <p>bfloat16 is absent: DJL 0.35.1 with the Maven Central JNI (2.7.1-0.35.1) cannot hold a
 * bfloat16 NDArray at all (toType(BFLOAT16) aborts the JVM in native code, and a bfloat16 tensor
 * coming back from libtorch reports DataType UNKNOWN), so no attention call can receive one.
 */
@ExtendWith(TestSeed.class)
class SdpaBackendTest {

    private static final double DEFAULT_SCALE = Double.NaN;

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager(Device.cpu(), "PyTorch");
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private static AttentionCase of(
            DataType dtype,
            Layout layout,
            AttentionMask mask,
            long b,
            long hq,
            long hkv,
            long nq,
            long nk,
            long d,
            long dv,
            double scale) {
        return new AttentionCase(b, hq, hkv, nq, nk, d, dv, mask, layout, dtype, scale);
    }

    static Stream<AttentionCase> cases() {
        DataType f16 = DataType.FLOAT16;
        DataType f32 = DataType.FLOAT32;
        DataType f64 = DataType.FLOAT64;
        AttentionMask none = AttentionMask.NONE;
        AttentionMask topLeft = AttentionMask.CAUSAL_TOP_LEFT;
        AttentionMask bottomRight = AttentionMask.CAUSAL_BOTTOM_RIGHT;
        double dflt = DEFAULT_SCALE;
        return Stream.of(
                of(f32, Layout.BHSD, none, 2, 3, 3, 17, 113, 64, 64, dflt), // Nq < Nk
                of(f32, Layout.BHSD, topLeft, 1, 8, 2, 37, 37, 80, 80, dflt), // GQA 4:1, D 80
                of(f32, Layout.BHSD, bottomRight, 2, 4, 1, 9, 50, 32, 48, dflt), // MQA, Dv != D
                of(f32, Layout.BSHD, bottomRight, 2, 4, 2, 40, 13, 64, 64, dflt), // rows that see no key
                of(f32, Layout.BHSD, topLeft, 1, 2, 2, 17, 113, 64, 64, 0.05),
                of(f64, Layout.BHSD, topLeft, 1, 2, 1, 30, 11, 16, 24, 0.3),
                of(f64, Layout.BSHD, bottomRight, 1, 3, 3, 21, 5, 8, 8, dflt),
                of(f16, Layout.BSHD, none, 2, 6, 2, 33, 65, 80, 80, 0.2),
                of(f16, Layout.BHSD, bottomRight, 1, 4, 1, 24, 7, 64, 32, dflt));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesFloat64NaiveAttention(AttentionCase c, SplittableRandom rng) {
        NDArray[] in = c.randomInputs(manager, rng);
        NDArray q = in[0];
        NDArray k = in[1];
        NDArray v = in[2];
        NDArray dOut = in[3];
        AttentionOptions opts = c.options(Backend.SDPA);

        AttentionResult r = FlashAttention.forward(q, k, v, opts);
        assertEquals(Backend.SDPA, r.backend());
        assertEquals(c.outShape(), r.output().getShape());
        assertEquals(c.dataType, r.output().getDataType());
        assertEquals(new Shape(c.batch, c.headsQ, c.seqQ), r.logSumExp().getShape());
        assertEquals(
                c.dataType == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32,
                r.logSumExp().getDataType());
        AttentionGradients g = FlashAttention.backward(dOut, q, k, v, r, opts);
        assertEquals(q.getShape(), g.dq().getShape());
        assertEquals(k.getShape(), g.dk().getShape());
        assertEquals(v.getShape(), g.dv().getShape());
        assertEquals(c.dataType, g.dk().getDataType());

        Checker check = new Checker(q, k, v, dOut, opts, c.dataType);
        check.forward(r.output(), r.logSumExp());
        check.gradients(g.dq(), g.dk(), g.dv());
        assertFalse(q.hasGradient() || k.hasGradient() || v.hasGradient(), "backward must not touch the inputs");
    }

    @Test
    void blindRowsGiveZeroOutputMinusInfinityAndZeroGradients(SplittableRandom rng) {
        AttentionCase c = of(
                DataType.FLOAT32, Layout.BHSD, AttentionMask.CAUSAL_BOTTOM_RIGHT, 1, 2, 2, 6, 2, 16, 16, DEFAULT_SCALE);
        NDArray[] in = c.randomInputs(manager, rng);
        NDArray q = in[0];
        NDArray k = in[1];
        NDArray v = in[2];
        AttentionResult r = FlashAttention.forward(q, k, v, c.options(Backend.SDPA));
        AttentionGradients g = FlashAttention.backward(r.output().onesLike(), q, k, v, r, c.options(Backend.SDPA));
        // query i sees keys j <= i - 4: rows 0..3 see none
        double[] lse = doubles(r.logSumExp().get(":, :, 0:4"));
        for (double x : lse) {
            assertEquals(Double.NEGATIVE_INFINITY, x);
        }
        assertArrayEquals(new double[2 * 4 * 16], doubles(r.output().get(":, :, 0:4")));
        assertArrayEquals(new double[2 * 4 * 16], doubles(g.dq().get(":, :, 0:4")));
        for (NDArray a : new NDArray[] {g.dq(), g.dk(), g.dv()}) {
            assertFalse(a.isNaN().any().getBoolean(), "NaN in a gradient");
        }
    }

    /** Inside the caller's GradientCollector the module is differentiated by the engine's autograd. */
    @Test
    void attentionIsDifferentiableInsideAGradientCollector(SplittableRandom rng) {
        AttentionCase c = of(
                DataType.FLOAT32,
                Layout.BSHD,
                AttentionMask.CAUSAL_BOTTOM_RIGHT,
                2,
                4,
                2,
                19,
                11,
                32,
                24,
                DEFAULT_SCALE);
        NDArray[] in = c.randomInputs(manager, rng);
        NDArray q = in[0];
        NDArray k = in[1];
        NDArray v = in[2];
        NDArray dOut = in[3];
        AttentionOptions opts = c.options(Backend.SDPA);
        Checker check = new Checker(q, k, v, dOut, opts, c.dataType);

        q.setRequiresGradient(true);
        k.setRequiresGradient(true);
        v.setRequiresGradient(true);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray out = FlashAttention.attention(q, k, v, opts);
            check.output(out);
            gc.backward(out.mul(dOut).sum());
        }
        check.gradients(q.getGradient(), k.getGradient(), v.getGradient());
    }

    /** The training tape calls backward while the caller's collector is open. */
    @Test
    void backwardRunsInsideAnOpenGradientCollector(SplittableRandom rng) {
        AttentionCase c = of(
                DataType.FLOAT32, Layout.BHSD, AttentionMask.CAUSAL_TOP_LEFT, 1, 2, 2, 12, 12, 16, 16, DEFAULT_SCALE);
        NDArray[] in = c.randomInputs(manager, rng);
        NDArray q = in[0];
        NDArray k = in[1];
        NDArray v = in[2];
        NDArray dOut = in[3];
        AttentionOptions opts = c.options(Backend.SDPA);
        Checker check = new Checker(q, k, v, dOut, opts, c.dataType);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.zeroGradients();
            AttentionResult r = FlashAttention.forward(q, k, v, opts);
            AttentionGradients g = FlashAttention.backward(dOut, q, k, v, r, opts);
            check.gradients(g.dq(), g.dk(), g.dv());
        }
    }

    /** More than 2^24 scores: the module computes the log-sum-exp in two chunks of query rows. */
    @Test
    void logSumExpOverSeveralChunksOfRows(SplittableRandom rng) {
        AttentionCase c = of(
                DataType.FLOAT32,
                Layout.BHSD,
                AttentionMask.CAUSAL_BOTTOM_RIGHT,
                1,
                1,
                1,
                4100,
                4096,
                8,
                8,
                DEFAULT_SCALE);
        assertTrue(c.seqQ * c.seqK > SdpaModuleSource.LSE_CHUNK_ELEMENTS);
        NDArray[] in = c.randomInputs(manager, rng);
        AttentionOptions opts = c.options(Backend.SDPA);
        AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
        new Checker(in[0], in[1], in[2], null, opts, c.dataType).forward(r.output(), r.logSumExp());
    }

    @Test
    void threadsShareTheModuleCache(SplittableRandom rng) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> runs = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                AttentionMask mask = AttentionMask.values()[i % 3];
                SplittableRandom own = rng.split(); // split here: SplittableRandom is not thread-safe
                runs.add(pool.submit(() -> {
                    try (NDManager m = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
                        AttentionCase c =
                                of(DataType.FLOAT32, Layout.BHSD, mask, 1, 2, 2, 9, 14, 16, 16, DEFAULT_SCALE);
                        NDArray[] in = c.randomInputs(m, own);
                        AttentionOptions opts = c.options(Backend.SDPA);
                        AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
                        new Checker(in[0], in[1], in[2], null, opts, c.dataType).forward(r.output(), r.logSumExp());
                    }
                    return null;
                }));
            }
            for (Future<?> f : runs) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void scaleLiteralsReadBackExactly() {
        for (double x : new double[] {0.125, 1.0, 1e-20, 3e20, 1 / Math.sqrt(80), 0.1}) {
            String s = SdpaModuleSource.literal(x);
            assertTrue(s.contains(".") && !s.contains("E"), s);
            assertEquals(x, Double.parseDouble(s));
        }
    }

    private static double[] doubles(NDArray a) {
        return a.toType(DataType.FLOAT64, true).toDoubleArray();
    }

    /** {@link ErrorBudget}'s rule for SDPA's results on one problem: float64 truth, same-dtype baseline. */
    private static final class Checker {
        private final NaiveAttention.Outcome truth;
        private final NaiveAttention.Outcome baseline;
        private final DataType type;
        private final double magnitude;

        Checker(NDArray q, NDArray k, NDArray v, NDArray dOut, AttentionOptions options, DataType type) {
            this.truth = NaiveAttention.compute(q, k, v, dOut, options, DataType.FLOAT64);
            this.baseline = NaiveAttention.compute(q, k, v, dOut, options, type);
            this.type = type;
            this.magnitude = dOut == null
                    ? ErrorBudget.magnitude(truth.output)
                    : ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
        }

        void output(NDArray output) {
            ErrorBudget.check("output", output, baseline.output, truth.output, type, magnitude);
        }

        void forward(NDArray output, NDArray logSumExp) {
            output(output);
            ErrorBudget.check("lse", logSumExp, baseline.logSumExp, truth.logSumExp, logSumExp.getDataType());
        }

        void gradients(NDArray dq, NDArray dk, NDArray dv) {
            double factor = ErrorBudget.factor(Backend.SDPA, type, true);
            ErrorBudget.check("dq", dq, baseline.dq, truth.dq, type, magnitude, factor);
            ErrorBudget.check("dk", dk, baseline.dk, truth.dk, type, magnitude, factor);
            ErrorBudget.check("dv", dv, baseline.dv, truth.dv, type, magnitude, factor);
        }
    }
}
