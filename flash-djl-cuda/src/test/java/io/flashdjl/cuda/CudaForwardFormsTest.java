package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionBias;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionMask;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.Layout;
import io.flashdjl.Precision;
import io.flashdjl.spi.AttentionProblem;
import io.flashdjl.testing.AttentionCase;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.NaiveAttention;
import io.flashdjl.testing.TestSeed;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The two forwards of a head dimension that has a form for long key sequences ({@code flash_fwd_long_*}, d = 64 on
 * sm_90a): key counts on both sides of the fatbin's switch points ({@code flash_fwd_long_min_keys} with a causal
 * band, {@code flash_fwd_long_min_keys_full} where every row sees every key), short query
 * blocks against long keys, both causal alignments, GQA, float16 and float32 at {@link Precision#BFLOAT16}, and float32
 * at full precision (which has no long form). Each call's kernel name is checked against the rule, and its output,
 * log-sum-exp and gradients against float64 by {@link ErrorBudget}'s rule with PyTorch's attention in the same
 * precision as the baseline. Outputs are poisoned, so a row the long form skips fails.
 */
@Tag("gpu")
@ExtendWith({TestSeed.class, PoisonedOutputs.class})
class CudaForwardFormsTest {

    private static int longFrom;
    private static int longFromFull;

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
        longFrom = CudaRuntime.kernels(Device.gpu()).forwardLongMinKeys(64, false);
        longFromFull = CudaRuntime.kernels(Device.gpu()).forwardLongMinKeys(64, true);
        assumeTrue(longFrom > 0, "this GPU's kernels have no forward form for long key sequences at d = 64");
    }

    /**
     * nq: query rows, plus the switch point's key count when {@code nqFromSwitch}; nk: the switch point's key count
     * plus this offset. The switch point is the mask's: {@code longFromFull} without one, {@code longFrom} with a
     * causal band.
     */
    @ParameterizedTest(name = "{0} {1} D={2} nq {3} (plus the switch: {4}) nk switch{5} {6} Hq={7} Hkv={8}")
    @CsvSource({
        "FLOAT16, FULL, 64, 0, true, 0, NONE, 2, 2",
        "FLOAT16, FULL, 64, -1, true, -1, CAUSAL_TOP_LEFT, 2, 2",
        "FLOAT16, FULL, 48, 77, false, 77, CAUSAL_BOTTOM_RIGHT, 4, 1",
        "FLOAT16, FULL, 64, 130, true, 130, CAUSAL_TOP_LEFT, 4, 2",
        "FLOAT16, FULL, 64, 1, false, 513, NONE, 2, 2",
        "FLOAT16, FULL, 64, 3, false, -1, NONE, 2, 2",
        "FLOAT16, FULL, 64, 0, true, 1, CAUSAL_TOP_LEFT, 2, 2",
        "FLOAT32, BFLOAT16, 64, 300, false, 1, NONE, 2, 1",
        "FLOAT32, BFLOAT16, 40, 200, true, 200, CAUSAL_TOP_LEFT, 2, 2",
        "FLOAT32, BFLOAT16, 64, -5, true, -5, CAUSAL_BOTTOM_RIGHT, 2, 2",
        "FLOAT32, FULL, 64, 257, false, 0, NONE, 2, 2"
    })
    void eachFormKeepsTheRule(
            DataType type,
            Precision precision,
            int d,
            int nq,
            boolean nqFromSwitch,
            int nkOffset,
            AttentionMask mask,
            int hq,
            int hkv,
            SplittableRandom rng) {
        int switchPoint = mask == AttentionMask.NONE ? longFromFull : longFrom;
        long seqQ = nq + (nqFromSwitch ? switchPoint : 0);
        long seqK = switchPoint + nkOffset;
        AttentionCase c = new AttentionCase(1, hq, hkv, seqQ, seqK, d, d, mask, Layout.BSHD, type, Double.NaN);
        try (NDManager manager = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = c.randomInputs(manager, rng);
            AttentionOptions opts =
                    c.options(Backend.CUDA).toBuilder().optPrecision(precision).build();

            boolean longForm = type == DataType.FLOAT16 || precision == Precision.BFLOAT16;
            String expected = (longForm && seqK >= switchPoint ? "flash_fwd_long_" : "flash_fwd_")
                    + KernelDtype.of(AttentionProblem.validate(in[0], in[1], in[2], opts)).token + "_hd64";
            String chosen = CudaBackend.forwardKernelName(
                    CudaRuntime.kernels(Device.gpu()),
                    BiasArrays.NONE,
                    AttentionProblem.validate(in[0], in[1], in[2], opts));
            assertEquals(expected, chosen, "the forward kernel of " + c);

            AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
            AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
            assertEquals(Backend.CUDA, r.backend());
            DataType baseType = precision == Precision.BFLOAT16 ? DataType.FLOAT32 : type;
            AttentionOptions sdpa = opts.toBuilder().optBackend(Backend.SDPA).build();
            AttentionResult sr = FlashAttention.forward(in[0], in[1], in[2], sdpa);
            AttentionGradients sg = FlashAttention.backward(in[3], in[0], in[1], in[2], sr, sdpa);
            NaiveAttention.Outcome truth = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, DataType.FLOAT64);
            double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
            String at = "CUDA " + chosen + " " + c + ": ";
            ErrorBudget.check(at + "output", r.output(), sr.output(), truth.output, baseType, mag);
            ErrorBudget.check(at + "lse", r.logSumExp(), sr.logSumExp(), truth.logSumExp, DataType.FLOAT32);
            ErrorBudget.check(at + "dq", g.dq(), sg.dq(), truth.dq, baseType, mag);
            ErrorBudget.check(at + "dk", g.dk(), sg.dk(), truth.dk, baseType, mag);
            ErrorBudget.check(at + "dv", g.dv(), sg.dv(), truth.dv, baseType, mag);
        }
    }

    /**
     * A call with a score bias, or with a sliding window, runs the general form at any key count: the long form has
     * no bias kernels, and both measured slower on it. CudaBiasTest and CudaSlidingWindowTest check their results at
     * long key counts.
     */
    @Test
    void aBiasOrAWindowKeepsTheGeneralForm(SplittableRandom rng) {
        AttentionCase c = new AttentionCase(
                1, 2, 2, 65, longFrom + 7, 64, 64, AttentionMask.NONE, Layout.BHSD, DataType.FLOAT16, Double.NaN);
        try (NDManager manager = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = c.randomInputs(manager, rng);
            AttentionBias bias = AttentionBias.of(
                    manager.randomNormal(new Shape(1, 1, 1, longFrom + 7)).toType(DataType.FLOAT16, false));
            AttentionOptions opts = c.options(Backend.CUDA);
            AttentionProblem p = AttentionProblem.validate(in[0], in[1], in[2], null, bias, opts);
            CudaKernels kernels = CudaRuntime.kernels(Device.gpu());
            String chosen = CudaBackend.forwardKernelName(kernels, BiasArrays.of(kernels, manager, p, false), p);
            assertEquals("flash_fwd_bias_f16_hd64", chosen, "the forward kernel of " + c + " with a bias");
            assertEquals(
                    "flash_fwd_long_f16_hd64",
                    CudaBackend.forwardKernelName(kernels, BiasArrays.NONE, p),
                    "the same call without a bias");
            kernels.kernel(chosen); // the fatbin has it
            AttentionOptions window = opts.toBuilder().optSlidingWindow(16, 0).build();
            AttentionProblem w = AttentionProblem.validate(in[0], in[1], in[2], window);
            assertEquals(
                    "flash_fwd_f16_hd64",
                    CudaBackend.forwardKernelName(kernels, BiasArrays.NONE, w),
                    "the same call with a sliding window");
        }
    }
}
