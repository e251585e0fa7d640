package io.flashdjl.sdpa;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
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
import io.flashdjl.spi.Visibility;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The SDPA backend against a naive float64 attention written here with DJL ops (scores, mask,
 * softmax, product; gradients by DJL autograd in float64), on awkward shapes.
 *
 * <p>bfloat16 is absent: DJL 0.35.1 with the Maven Central JNI (2.7.1-0.35.1) cannot hold a
 * bfloat16 NDArray at all (toType(BFLOAT16) aborts the JVM in native code, and a bfloat16 tensor
 * coming back from libtorch reports DataType UNKNOWN), so no attention call can receive one.
 */
class SdpaBackendTest {

    private NDManager manager;

    @BeforeAll
    static void seed() {
        Engine.getEngine("PyTorch").setRandomSeed(20261121);
    }

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager("PyTorch");
    }

    @AfterEach
    void close() {
        manager.close();
    }

    /** One problem: sizes, dtype, layout, mask and an optional scale (NaN: default). */
    record Case(String name, DataType dtype, Layout layout, AttentionMask mask, long b, long hq, long hkv,
            long nq, long nk, long d, long dv, double scale) {

        AttentionOptions options() {
            AttentionOptions.Builder o = AttentionOptions.builder().optBackend(Backend.SDPA).optLayout(layout).optMask(mask);
            return Double.isNaN(scale) ? o.build() : o.optScale(scale).build();
        }

        Shape shape(long heads, long n, long dim) {
            return layout == Layout.BHSD ? new Shape(b, heads, n, dim) : new Shape(b, n, heads, dim);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        double none = Double.NaN;
        return Stream.of(
                new Case("f32 Nq17 Nk113 no mask", DataType.FLOAT32, Layout.BHSD, AttentionMask.NONE, 2, 3, 3, 17, 113, 64, 64, none),
                new Case("f32 GQA 4:1 D80 top-left", DataType.FLOAT32, Layout.BHSD, AttentionMask.CAUSAL_TOP_LEFT, 1, 8, 2, 37, 37, 80, 80, none),
                new Case("f32 MQA Dv48 bottom-right Nq<Nk", DataType.FLOAT32, Layout.BHSD, AttentionMask.CAUSAL_BOTTOM_RIGHT, 2, 4, 1, 9, 50, 32, 48, none),
                new Case("f32 BSHD GQA 2:1 bottom-right Nq>Nk (blind rows)", DataType.FLOAT32, Layout.BSHD, AttentionMask.CAUSAL_BOTTOM_RIGHT, 2, 4, 2, 40, 13, 64, 64, none),
                new Case("f32 top-left Nq<Nk scale 0.05", DataType.FLOAT32, Layout.BHSD, AttentionMask.CAUSAL_TOP_LEFT, 1, 2, 2, 17, 113, 64, 64, 0.05),
                new Case("f64 top-left Nq>Nk Dv24 scale 0.3", DataType.FLOAT64, Layout.BHSD, AttentionMask.CAUSAL_TOP_LEFT, 1, 2, 1, 30, 11, 16, 24, 0.3),
                new Case("f64 BSHD bottom-right Nq>Nk", DataType.FLOAT64, Layout.BSHD, AttentionMask.CAUSAL_BOTTOM_RIGHT, 1, 3, 3, 21, 5, 8, 8, none),
                new Case("f16 BSHD GQA 3:1 D80 scale 0.2", DataType.FLOAT16, Layout.BSHD, AttentionMask.NONE, 2, 6, 2, 33, 65, 80, 80, 0.2),
                new Case("f16 MQA bottom-right Nq>Nk", DataType.FLOAT16, Layout.BHSD, AttentionMask.CAUSAL_BOTTOM_RIGHT, 1, 4, 1, 24, 7, 64, 32, none));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesFloat64NaiveAttention(Case c) {
        NDArray q = random(c, c.shape(c.hq, c.nq, c.d));
        NDArray k = random(c, c.shape(c.hkv, c.nk, c.d));
        NDArray v = random(c, c.shape(c.hkv, c.nk, c.dv));
        NDArray dOut = random(c, c.shape(c.hq, c.nq, c.dv));
        Naive want = Naive.of(q, k, v, dOut, c.options());

        AttentionResult r = FlashAttention.forward(q, k, v, c.options());
        assertEquals(Backend.SDPA, r.backend());
        assertEquals(c.shape(c.hq, c.nq, c.dv), r.output().getShape());
        assertEquals(c.dtype, r.output().getDataType());
        assertEquals(new Shape(c.b, c.hq, c.nq), r.logSumExp().getShape());
        assertEquals(c.dtype == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32, r.logSumExp().getDataType());
        AttentionGradients g = FlashAttention.backward(dOut, q, k, v, r, c.options());
        assertEquals(q.getShape(), g.dq().getShape());
        assertEquals(k.getShape(), g.dk().getShape());
        assertEquals(v.getShape(), g.dv().getShape());
        assertEquals(c.dtype, g.dk().getDataType());

        Tolerance t = Tolerance.of(c.dtype);
        assertClose("output", doubles(r.output()), want.out, t);
        assertClose("logSumExp", doubles(r.logSumExp()), want.lse, Tolerance.LSE);
        assertClose("dq", doubles(g.dq()), want.dq, t);
        assertClose("dk", doubles(g.dk()), want.dk, t);
        assertClose("dv", doubles(g.dv()), want.dv, t);
        assertFalse(q.hasGradient() || k.hasGradient() || v.hasGradient(), "backward must not touch the inputs");
    }

    @Test
    void blindRowsGiveZeroOutputMinusInfinityAndZeroGradients() {
        Case c = new Case("blind", DataType.FLOAT32, Layout.BHSD, AttentionMask.CAUSAL_BOTTOM_RIGHT, 1, 2, 2, 6, 2, 16, 16, Double.NaN);
        NDArray q = random(c, c.shape(2, 6, 16));
        NDArray k = random(c, c.shape(2, 2, 16));
        NDArray v = random(c, c.shape(2, 2, 16));
        AttentionResult r = FlashAttention.forward(q, k, v, c.options());
        AttentionGradients g = FlashAttention.backward(r.output().onesLike(), q, k, v, r, c.options());
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
    void attentionIsDifferentiableInsideAGradientCollector() {
        Case c = new Case("collector", DataType.FLOAT32, Layout.BSHD, AttentionMask.CAUSAL_BOTTOM_RIGHT, 2, 4, 2, 19, 11, 32, 24, Double.NaN);
        NDArray q = random(c, c.shape(c.hq, c.nq, c.d));
        NDArray k = random(c, c.shape(c.hkv, c.nk, c.d));
        NDArray v = random(c, c.shape(c.hkv, c.nk, c.dv));
        NDArray dOut = random(c, c.shape(c.hq, c.nq, c.dv));
        Naive want = Naive.of(q, k, v, dOut, c.options());

        q.setRequiresGradient(true);
        k.setRequiresGradient(true);
        v.setRequiresGradient(true);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray out = FlashAttention.attention(q, k, v, c.options());
            assertClose("output", doubles(out), want.out, Tolerance.of(c.dtype));
            gc.backward(out.mul(dOut).sum());
        }
        Tolerance t = Tolerance.of(c.dtype);
        assertClose("dq", doubles(q.getGradient()), want.dq, t);
        assertClose("dk", doubles(k.getGradient()), want.dk, t);
        assertClose("dv", doubles(v.getGradient()), want.dv, t);
    }

    /** The training tape calls backward while the caller's collector is open. */
    @Test
    void backwardRunsInsideAnOpenGradientCollector() {
        Case c = new Case("open collector", DataType.FLOAT32, Layout.BHSD, AttentionMask.CAUSAL_TOP_LEFT, 1, 2, 2, 12, 12, 16, 16, Double.NaN);
        NDArray q = random(c, c.shape(2, 12, 16));
        NDArray k = random(c, c.shape(2, 12, 16));
        NDArray v = random(c, c.shape(2, 12, 16));
        NDArray dOut = random(c, c.shape(2, 12, 16));
        Naive want = Naive.of(q, k, v, dOut, c.options());
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.zeroGradients();
            AttentionResult r = FlashAttention.forward(q, k, v, c.options());
            AttentionGradients g = FlashAttention.backward(dOut, q, k, v, r, c.options());
            Tolerance t = Tolerance.of(c.dtype);
            assertClose("dq", doubles(g.dq()), want.dq, t);
            assertClose("dk", doubles(g.dk()), want.dk, t);
            assertClose("dv", doubles(g.dv()), want.dv, t);
        }
    }

    /** More than 2^24 scores: the module computes the log-sum-exp in two chunks of query rows. */
    @Test
    void logSumExpOverSeveralChunksOfRows() {
        Case c = new Case("chunks", DataType.FLOAT32, Layout.BHSD, AttentionMask.CAUSAL_BOTTOM_RIGHT, 1, 1, 1, 4100, 4096, 8, 8, Double.NaN);
        assertTrue(c.nq * c.nk > SdpaModuleSource.LSE_CHUNK_ELEMENTS);
        NDArray q = random(c, c.shape(1, c.nq, c.d));
        NDArray k = random(c, c.shape(1, c.nk, c.d));
        NDArray v = random(c, c.shape(1, c.nk, c.dv));
        Naive want = Naive.of(q, k, v, null, c.options());
        AttentionResult r = FlashAttention.forward(q, k, v, c.options());
        assertClose("output", doubles(r.output()), want.out, Tolerance.of(c.dtype));
        assertClose("logSumExp", doubles(r.logSumExp()), want.lse, Tolerance.LSE);
    }

    @Test
    void threadsShareTheModuleCache() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> runs = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                AttentionMask mask = AttentionMask.values()[i % 3];
                runs.add(pool.submit(() -> {
                    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                        Case c = new Case("thread", DataType.FLOAT32, Layout.BHSD, mask, 1, 2, 2, 9, 14, 16, 16, Double.NaN);
                        NDArray q = m.randomNormal(c.shape(2, 9, 16));
                        NDArray k = m.randomNormal(c.shape(2, 14, 16));
                        NDArray v = m.randomNormal(c.shape(2, 14, 16));
                        Naive want = Naive.of(q, k, v, null, c.options());
                        AttentionResult r = FlashAttention.forward(q, k, v, c.options());
                        assertClose("output", doubles(r.output()), want.out, Tolerance.of(c.dtype));
                        assertClose("logSumExp", doubles(r.logSumExp()), want.lse, Tolerance.LSE);
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

    private NDArray random(Case c, Shape shape) {
        return manager.randomNormal(shape).toType(c.dtype, false);
    }

    private static double[] doubles(NDArray a) {
        return a.toType(DataType.FLOAT64, true).toDoubleArray();
    }

    /** Absolute and relative tolerance: |got - want| <= abs + rel * |want|. */
    record Tolerance(double abs, double rel) {
        static final Tolerance LSE = new Tolerance(2e-5, 2e-6); // float32 arithmetic, whatever the input dtype

        static Tolerance of(DataType dtype) {
            switch (dtype) {
                case FLOAT64:
                    return new Tolerance(1e-10, 1e-10); // observed: about 1e-15
                case FLOAT32:
                    return new Tolerance(5e-6, 5e-5); // observed: under 1e-6
                default:
                    return new Tolerance(4e-3, 1e-2); // observed: half an ulp of float16 (1e-3 near 2)
            }
        }
    }

    private static void assertClose(String what, double[] got, double[] want, Tolerance t) {
        assertEquals(want.length, got.length, what + ": element count");
        int worst = -1;
        double worstExcess = 0;
        double maxErr = 0;
        for (int i = 0; i < want.length; i++) {
            if (Double.isNaN(got[i])) {
                fail(what + ": NaN at " + i);
            }
            if (Double.isInfinite(want[i]) || Double.isInfinite(got[i])) {
                if (got[i] != want[i]) {
                    fail(what + ": at " + i + " expected " + want[i] + " but got " + got[i]);
                }
                continue;
            }
            double err = Math.abs(got[i] - want[i]);
            maxErr = Math.max(maxErr, err);
            double excess = err - (t.abs + t.rel * Math.abs(want[i]));
            if (excess > worstExcess) {
                worstExcess = excess;
                worst = i;
            }
        }
        if (worst >= 0) {
            fail(what + ": at " + worst + " expected " + want[worst] + " but got " + got[worst]
                    + " (max abs error " + maxErr + ", tolerance " + t + ")");
        }
    }

    /** Naive attention in float64: out, LSE and (when dOut is given) dq, dk, dv by DJL autograd. */
    record Naive(double[] out, double[] lse, double[] dq, double[] dk, double[] dv) {

        static Naive of(NDArray q, NDArray k, NDArray v, NDArray dOut, AttentionOptions o) {
            Layout layout = o.layout();
            try (NDManager m = q.getManager().newSubManager()) {
                NDArray q64 = float64Leaf(q, m);
                NDArray k64 = float64Leaf(k, m);
                NDArray v64 = float64Leaf(v, m);
                Shape qs = bhsd(q64, layout).getShape();
                long b = qs.get(0);
                long hq = qs.get(1);
                long nq = qs.get(2);
                long hkv = bhsd(k64, layout).getShape().get(1);
                long nk = bhsd(k64, layout).getShape().get(2);
                double scale = o.scaleFor(qs.get(3));
                NDArray[] result = new NDArray[2];
                Runnable forward = () -> {
                    // [B, Hkv, G, Nq, D] against [B, Hkv, 1, Nk, D]: query head h uses kv head h / G
                    NDArray qg = bhsd(q64, layout).reshape(b, hkv, hq / hkv, nq, qs.get(3));
                    NDArray kg = bhsd(k64, layout).expandDims(2);
                    NDArray vg = bhsd(v64, layout).expandDims(2);
                    NDArray s = qg.matMul(kg.swapAxes(3, 4)).mul(scale);
                    s = s.add(maskBias(m, o.mask(), nq, nk)); // -inf on hidden keys
                    NDArray max = s.max(new int[] {-1}, true).stopGradient();
                    NDArray shift = NDArrays.where(max.isInfinite(), max.zerosLike(), max);
                    NDArray e = s.sub(shift).exp();
                    NDArray sum = e.sum(new int[] {-1}, true);
                    NDArray lse = sum.log().add(shift).reshape(b, hq, nq);
                    NDArray p = e.div(NDArrays.where(sum.eq(0), sum.onesLike(), sum));
                    NDArray out = p.matMul(vg).reshape(b, hq, nq, bhsd(v64, layout).getShape().get(3));
                    result[0] = layout == Layout.BHSD ? out : out.transpose(0, 2, 1, 3);
                    result[1] = lse;
                };
                if (dOut == null) {
                    forward.run();
                    return new Naive(doubles(result[0]), doubles(result[1]), null, null, null);
                }
                q64.setRequiresGradient(true);
                k64.setRequiresGradient(true);
                v64.setRequiresGradient(true);
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    forward.run();
                    gc.backward(result[0].mul(float64Leaf(dOut, m)).sum());
                }
                return new Naive(doubles(result[0]), doubles(result[1]),
                        doubles(q64.getGradient()), doubles(k64.getGradient()), doubles(v64.getGradient()));
            }
        }

        private static NDArray float64Leaf(NDArray a, NDManager m) {
            NDArray c = a.stopGradient().toType(DataType.FLOAT64, true);
            c.attach(m);
            return c;
        }

        private static NDArray bhsd(NDArray a, Layout layout) {
            return layout == Layout.BHSD ? a : a.transpose(0, 2, 1, 3);
        }

        /** [Nq, Nk] float64: 0 where query i sees key j, -inf where it does not. */
        private static NDArray maskBias(NDManager m, AttentionMask mask, long nq, long nk) {
            double[] bias = new double[(int) (nq * nk)];
            Visibility visibility = Visibility.of(mask, nq, nk);
            for (int i = 0; i < nq; i++) {
                for (int j = 0; j < nk; j++) {
                    boolean visible = visibility.visible(i, j);
                    bias[(int) (i * nk + j)] = visible ? 0 : Double.NEGATIVE_INFINITY;
                }
            }
            return m.create(bias, new Shape(nq, nk));
        }
    }
}
