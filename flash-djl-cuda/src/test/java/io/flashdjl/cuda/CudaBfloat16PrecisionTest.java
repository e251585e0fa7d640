package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.Precision;
import io.flashdjl.testing.AttentionCase;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.NaiveAttention;
import io.flashdjl.testing.TestSeed;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * float32 data with {@link Precision#BFLOAT16} on the CUDA kernels, judged as the issue asks: against a float64
 * attention of the float32 inputs, at most twice the error of PyTorch's attention run in bfloat16 (SDPA with the
 * same precision: q, k, v cast to bfloat16, SDPA there, output cast back), outputs, log-sum-exp and gradients.
 * Head dimensions include ones that are not a multiple of 8 (the cast pads them). Outputs are poisoned, so an
 * unwritten element fails.
 */
@Tag("gpu")
@ExtendWith({TestSeed.class, PoisonedOutputs.class})
class CudaBfloat16PrecisionTest {

    static final long[] SEQS = {1, 17, 113, 203, 256, 1023, 2049};
    static final long[] DIMS = {32, 64, 96, 128, 192, 256, 80, 20, 33, 100};

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    static Stream<AttentionCase> cases() {
        List<AttentionCase> grid = AttentionCase.grid(SEQS, DIMS, new DataType[] {DataType.FLOAT32}, 63);
        return grid.stream().map(AttentionCase::withValueDimOfHeadDim);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void withinTwiceTheErrorOfPyTorchInBfloat16(AttentionCase c, SplittableRandom rng) {
        try (NDManager manager = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = c.randomInputs(manager, rng);
            NDArray q = in[0];
            NDArray k = in[1];
            NDArray v = in[2];
            NDArray dOut = in[3];
            AttentionOptions opts = c.options(Backend.CUDA).toBuilder()
                    .optPrecision(Precision.BFLOAT16)
                    .build();
            AttentionResult r = FlashAttention.forward(q, k, v, opts);
            AttentionGradients g = FlashAttention.backward(dOut, q, k, v, r, opts);
            assertEquals(Backend.CUDA, r.backend());
            assertEquals(DataType.FLOAT32, r.output().getDataType());
            assertEquals(DataType.FLOAT32, g.dq().getDataType());

            AttentionOptions sdpaOpts =
                    opts.toBuilder().optBackend(Backend.SDPA).build();
            AttentionResult sr = FlashAttention.forward(q, k, v, sdpaOpts);
            AttentionGradients sg = FlashAttention.backward(dOut, q, k, v, sr, sdpaOpts);
            NaiveAttention.Outcome truth = NaiveAttention.compute(q, k, v, dOut, opts, DataType.FLOAT64);
            double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
            String at = "CUDA BFLOAT16 " + c + ": ";
            ErrorBudget.check(at + "output", r.output(), sr.output(), truth.output, DataType.FLOAT32, mag);
            ErrorBudget.check(at + "lse", r.logSumExp(), sr.logSumExp(), truth.logSumExp, DataType.FLOAT32);
            ErrorBudget.check(at + "dq", g.dq(), sg.dq(), truth.dq, DataType.FLOAT32, mag);
            ErrorBudget.check(at + "dk", g.dk(), sg.dk(), truth.dk, DataType.FLOAT32, mag);
            ErrorBudget.check(at + "dv", g.dv(), sg.dv(), truth.dv, DataType.FLOAT32, mag);

            // the products really were rounded: a float32 computation is far closer to the truth
            if (c.seqK >= 17) {
                NaiveAttention.Outcome f32 = NaiveAttention.compute(q, k, v, dOut, opts, DataType.FLOAT32);
                double ours = ErrorBudget.maxAbsError(at + "output", r.output(), truth.output);
                double full = ErrorBudget.maxAbsError(at + "float32 output", f32.output, truth.output);
                assertTrue(ours > 8 * full, at + "output error " + ours + " is float32-like (" + full + ")");
            }
        }
    }
}
