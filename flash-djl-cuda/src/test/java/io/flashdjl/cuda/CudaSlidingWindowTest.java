package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
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
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Sliding windows on the CUDA kernels, through the Java launcher: each problem against the float64 reference by
 * {@link ErrorBudget}'s rule, with PyTorch's own attention in the same dtype (naive, the same band) as the
 * baseline. Windows narrower than a kernel tile, wider than several, both causal alignments, and rows that see no
 * key. Outputs are poisoned, so an element the kernels skip by mistake fails.
 */
@Tag("gpu")
@ExtendWith({TestSeed.class, PoisonedOutputs.class})
class CudaSlidingWindowTest {

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    @ParameterizedTest(name = "{0} Nq={1} Nk={2} D={3} window ({4}, {5}) {6}")
    @CsvSource({
        "FLOAT16, 1023, 1023, 64, 100, 0, CAUSAL_TOP_LEFT",
        "FLOAT16, 2049, 2049, 128, 300, 37, NONE",
        "FLOAT16, 517, 1031, 64, 9, 9, CAUSAL_BOTTOM_RIGHT",
        "FLOAT32, 1023, 1023, 64, 100, 0, CAUSAL_TOP_LEFT",
        "FLOAT32, 777, 777, 128, 0, 0, NONE",
        "FLOAT32, 1031, 517, 96, 40, -1, CAUSAL_BOTTOM_RIGHT",
        "FLOAT32, 2049, 2049, 256, 513, 0, CAUSAL_TOP_LEFT"
    })
    void keepsTheRule(
            DataType type, int nq, int nk, int d, int left, int right, AttentionMask mask, SplittableRandom rng) {
        AttentionCase c = new AttentionCase(1, 4, 2, nq, nk, d, d, mask, Layout.BSHD, type, Double.NaN);
        try (NDManager manager = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = c.randomInputs(manager, rng);
            AttentionOptions opts = c.options(Backend.CUDA).toBuilder()
                    .optSlidingWindow(left, right)
                    .build();
            AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
            AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
            assertEquals(Backend.CUDA, r.backend());
            NaiveAttention.Outcome truth = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, DataType.FLOAT64);
            NaiveAttention.Outcome base = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, type);
            double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
            String at = "CUDA " + opts + " " + c + ": ";
            ErrorBudget.check(at + "output", r.output(), base.output, truth.output, type, mag);
            ErrorBudget.check(at + "lse", r.logSumExp(), base.logSumExp, truth.logSumExp, DataType.FLOAT32);
            ErrorBudget.check(at + "dq", g.dq(), base.dq, truth.dq, type, mag);
            ErrorBudget.check(at + "dk", g.dk(), base.dk, truth.dk, type, mag);
            ErrorBudget.check(at + "dv", g.dv(), base.dv, truth.dv, type, mag);
        }
    }
}
