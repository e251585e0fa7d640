package io.flashdjl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import io.flashdjl.testing.AttentionCase;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.NaiveAttention;
import io.flashdjl.testing.TestSeed;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/** Documented behaviour beyond plain numbers: rows with no visible key, AUTO on the CPU, autograd. */
@ExtendWith(TestSeed.class)
class SemanticsTest {

    /**
     * Bottom-right causal with Nq > Nk: the first Nq - Nk queries see no key. They get output 0,
     * log-sum-exp -inf and zero gradients; the other rows are unaffected.
     */
    @ParameterizedTest
    @EnumSource(
            value = Backend.class,
            names = {"REFERENCE", "SDPA"})
    void rowsWithoutVisibleKeys(Backend backend, SplittableRandom rng) {
        AttentionCase c = new AttentionCase(
                2, 4, 2, 23, 9, 16, 16, AttentionMask.CAUSAL_BOTTOM_RIGHT, Layout.BHSD, DataType.FLOAT32, Double.NaN);
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            NDArray[] in = c.randomInputs(manager, rng);
            NDArray q = in[0];
            NDArray k = in[1];
            NDArray v = in[2];
            NDArray dOut = in[3];
            AttentionOptions opts =
                    c.options(backend).toBuilder().optReferenceTile(4, 4).build();
            AttentionResult r = FlashAttention.forward(q, k, v, opts);
            AttentionGradients g = FlashAttention.backward(dOut, q, k, v, r, opts);
            long hidden = c.seqQ - c.seqK;
            String rows = ":, :, 0:" + hidden;
            assertTrue(r.output().get(rows).eq(0).all().getBoolean(), "output of hidden rows is 0");
            assertTrue(
                    r.logSumExp().get(rows).eq(Float.NEGATIVE_INFINITY).all().getBoolean(),
                    "lse of hidden rows is -inf");
            assertTrue(g.dq().get(rows).eq(0).all().getBoolean(), "dq of hidden rows is 0");
            String seen = ":, :, " + hidden + ":";
            assertTrue(r.logSumExp().get(seen).isInfinite().logicalNot().all().getBoolean(), "other rows are finite");
            assertFalse(g.dk().isNaN().any().getBoolean(), "dk has no NaN");
            assertFalse(g.dv().isNaN().any().getBoolean(), "dv has no NaN");
        }
    }

    /** Top-left causal is exactly SDPA's is_causal: with Nq > Nk every row still sees key 0. */
    @Test
    void topLeftCausalWithMoreQueriesThanKeys(SplittableRandom rng) {
        AttentionCase c = new AttentionCase(
                1, 2, 2, 12, 5, 8, 8, AttentionMask.CAUSAL_TOP_LEFT, Layout.BHSD, DataType.FLOAT64, Double.NaN);
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            NDArray[] in = c.randomInputs(manager, rng);
            NDArray q = in[0];
            NDArray k = in[1];
            NDArray v = in[2];
            AttentionResult r = FlashAttention.forward(q, k, v, c.options(Backend.REFERENCE));
            // query 0 sees only key 0: its output is v[0] exactly, its lse is scale * q0.k0
            double scale = 1 / Math.sqrt(8);
            NDArray expectedLse = q.get(":, :, 0, :")
                    .mul(k.get(":, :, 0, :"))
                    .sum(new int[] {-1})
                    .mul(scale);
            assertTrue(r.output()
                            .get(":, :, 0, :")
                            .sub(v.get(":, :, 0, :"))
                            .abs()
                            .max()
                            .getDouble()
                    < 1e-12);
            ErrorBudget.check(
                    "lse of query 0", r.logSumExp().get(":, :, 0"), expectedLse, expectedLse, DataType.FLOAT64);
            // rows 4.. see all 5 keys: same as unmasked attention
            AttentionResult full = FlashAttention.forward(
                    q,
                    k,
                    v,
                    AttentionOptions.builder().optBackend(Backend.REFERENCE).build());
            assertTrue(r.output()
                            .get(":, :, 4:, :")
                            .sub(full.output().get(":, :, 4:, :"))
                            .abs()
                            .max()
                            .getDouble()
                    < 1e-12);
        }
    }

    @Test
    void autoRunsReferenceOnCpu() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            NDArray q = manager.randomNormal(new ai.djl.ndarray.types.Shape(1, 2, 7, 8));
            AttentionResult r = FlashAttention.forward(q, q, q);
            assertEquals(Backend.REFERENCE, r.backend());
        }
    }

    /**
     * attention() inside a GradientCollector: the engine's autograd through the REFERENCE and SDPA
     * forward gives the gradients of the float64 naive attention, as the explicit backward does
     * (float64 throughout, so the rule leaves only its floor).
     */
    @ParameterizedTest(name = "{0}, tiles of {1}")
    @CsvSource({"REFERENCE, 8", "REFERENCE, 64", "SDPA, 8"}) // 64: all 19 queries in one tile
    void attentionJoinsEngineAutograd(Backend backend, int tile, SplittableRandom rng) {
        AttentionCase c = new AttentionCase(
                1, 4, 2, 19, 33, 16, 16, AttentionMask.CAUSAL_TOP_LEFT, Layout.BSHD, DataType.FLOAT64, Double.NaN);
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            NDArray[] in = c.randomInputs(manager, rng);
            NDArray q = in[0];
            NDArray k = in[1];
            NDArray v = in[2];
            NDArray dOut = in[3];
            AttentionOptions opts =
                    c.options(backend).toBuilder().optReferenceTile(tile, tile).build();
            AttentionGradients explicit =
                    FlashAttention.backward(dOut, q, k, v, FlashAttention.forward(q, k, v, opts), opts);
            NaiveAttention.Outcome truth = NaiveAttention.compute(q, k, v, dOut, opts, DataType.FLOAT64);
            double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
            q.setRequiresGradient(true);
            k.setRequiresGradient(true);
            v.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray o = FlashAttention.attention(q, k, v, opts);
                gc.backward(o.mul(dOut).sum());
            }
            NDArray[][] checked = {
                {q.getGradient(), explicit.dq(), truth.dq},
                {k.getGradient(), explicit.dk(), truth.dk},
                {v.getGradient(), explicit.dv(), truth.dv}
            };
            String[] names = {"dq", "dk", "dv"};
            for (int i = 0; i < 3; i++) {
                NDArray want = checked[i][2];
                ErrorBudget.check(backend + " autograd " + names[i], checked[i][0], want, want, DataType.FLOAT64, mag);
                ErrorBudget.check(backend + " backward " + names[i], checked[i][1], want, want, DataType.FLOAT64, mag);
            }
        }
    }
}
