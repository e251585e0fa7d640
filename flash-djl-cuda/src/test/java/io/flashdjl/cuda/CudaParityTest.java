package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
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
 * The CUDA kernels against a float64 attention on the GPU, by {@link ErrorBudget}'s rule (error at
 * most twice PyTorch's own attention in the same dtype, plus a floor), and against PyTorch's SDPA
 * through DJL; outputs are poisoned with NaN before every call ({@link PoisonedOutputs}), so an
 * unwritten element fails; fresh inputs every run ({@link TestSeed} prints the seed and replays it).
 */
@Tag("gpu")
@ExtendWith({TestSeed.class, PoisonedOutputs.class})
class CudaParityTest {

    static final long[] SEQS = {1, 17, 113, 203, 256, 1023, 2049};
    static final long[] DIMS = {32, 64, 96, 128, 192, 256, 80, 160};
    static final DataType[] TYPES = {DataType.FLOAT16, DataType.FLOAT32};

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    /** The grid with Dv = D: the kernels need equal head dimensions (the backend says so otherwise). */
    static Stream<AttentionCase> cases() {
        List<AttentionCase> grid = AttentionCase.grid(SEQS, DIMS, TYPES, 84);
        return grid.stream().map(AttentionCase::withValueDimOfHeadDim);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesFloat64AndSdpa(AttentionCase c, SplittableRandom rng) {
        try (NDManager manager = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = c.randomInputs(manager, rng);
            NDArray q = in[0];
            NDArray k = in[1];
            NDArray v = in[2];
            NDArray dOut = in[3];
            AttentionOptions opts = c.options(Backend.CUDA);

            AttentionResult r = FlashAttention.forward(q, k, v, opts);
            AttentionGradients g = FlashAttention.backward(dOut, q, k, v, r, opts);
            assertEquals(Backend.CUDA, r.backend());
            assertEquals(Device.gpu(), r.output().getDevice());

            NaiveAttention.Outcome truth = NaiveAttention.compute(q, k, v, dOut, opts, DataType.FLOAT64);
            NaiveAttention.Outcome base = NaiveAttention.compute(q, k, v, dOut, opts, c.dataType);
            double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
            String at = "CUDA " + c + ": ";
            ErrorBudget.check(at + "output", r.output(), base.output, truth.output, c.dataType, mag);
            ErrorBudget.check(at + "lse", r.logSumExp(), base.logSumExp, truth.logSumExp, DataType.FLOAT32);
            ErrorBudget.check(at + "dq", g.dq(), base.dq, truth.dq, c.dataType, mag);
            ErrorBudget.check(at + "dk", g.dk(), base.dk, truth.dk, c.dataType, mag);
            ErrorBudget.check(at + "dv", g.dv(), base.dv, truth.dv, c.dataType, mag);

            // the same rule with PyTorch's fused SDPA (same dtype, same GPU, through DJL) as the baseline
            AttentionOptions sdpaOpts = c.options(Backend.SDPA);
            AttentionResult sr = FlashAttention.forward(q, k, v, sdpaOpts);
            AttentionGradients sg = FlashAttention.backward(dOut, q, k, v, sr, sdpaOpts);
            String vs = at + "vs SDPA ";
            ErrorBudget.check(vs + "output", r.output(), sr.output(), truth.output, c.dataType, mag);
            ErrorBudget.check(vs + "dq", g.dq(), sg.dq(), truth.dq, c.dataType, mag);
            ErrorBudget.check(vs + "dk", g.dk(), sg.dk(), truth.dk, c.dataType, mag);
            ErrorBudget.check(vs + "dv", g.dv(), sg.dv(), truth.dv, c.dataType, mag);
        }
    }
}
