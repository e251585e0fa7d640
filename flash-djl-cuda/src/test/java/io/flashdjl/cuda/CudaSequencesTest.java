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
import io.flashdjl.Sequences;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.NaiveAttention;
import io.flashdjl.testing.SequenceCase;
import io.flashdjl.testing.TestSeed;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Sequences on the CUDA kernels, through the Java launcher: padded batches with valid lengths (queries, keys or
 * both) and packed (varlen) batches, each sequence against itself computed alone ({@link SequenceCase}) by
 * {@link ErrorBudget}'s rule, with NaN in every padding row of the inputs and poisoned outputs (a padding row the
 * kernels forget to write fails). float16 and float32 (3xTF32 and, at D = 256, SIMT), causal and windowed bands
 * anchored per sequence, atomic and deterministic backward.
 */
@Tag("gpu")
@ExtendWith({TestSeed.class, PoisonedOutputs.class})
class CudaSequencesTest {

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    @ParameterizedTest(name = "{0} {1} D={2} {3} window {4} deterministic {5}")
    @CsvSource({
        "FLOAT16, padded-keys, 64, NONE, -1, false",
        "FLOAT16, padded-both, 128, CAUSAL_TOP_LEFT, -1, false",
        "FLOAT16, padded-both, 64, CAUSAL_BOTTOM_RIGHT, 100, true",
        "FLOAT16, packed, 64, CAUSAL_TOP_LEFT, -1, false",
        "FLOAT16, packed, 128, CAUSAL_BOTTOM_RIGHT, -1, true",
        "FLOAT16, packed, 96, NONE, 60, false",
        "FLOAT32, padded-both, 64, CAUSAL_TOP_LEFT, -1, false",
        "FLOAT32, padded-keys, 128, NONE, 33, false",
        "FLOAT32, packed, 64, CAUSAL_BOTTOM_RIGHT, -1, false",
        "FLOAT32, packed, 256, CAUSAL_TOP_LEFT, -1, false",
        "FLOAT32, padded-both, 256, NONE, -1, false"
    })
    void eachSequenceIsAttendedAlone(
            DataType type,
            String form,
            int d,
            AttentionMask mask,
            int window,
            boolean deterministic,
            SplittableRandom rng) {
        SequenceCase c = batch(form, d);
        try (NDManager manager = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = c.inputs(manager, rng, type, Device.gpu());
            Sequences seqs = c.sequences(manager, Device.gpu());
            AttentionOptions opts = AttentionOptions.builder()
                    .optMask(mask)
                    .optSlidingWindow(window, window < 0 ? -1 : 0)
                    .optDeterministic(deterministic)
                    .optBackend(Backend.CUDA)
                    .build();
            AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], seqs, opts);
            AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], seqs, r, opts);
            assertEquals(Backend.CUDA, r.backend());
            NaiveAttention.Outcome truth = c.expected(in, opts, DataType.FLOAT64);
            NaiveAttention.Outcome base = c.expected(in, opts, type);
            double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
            String at = "CUDA " + opts + " " + c + ": ";
            ErrorBudget.check(at + "output", r.output(), base.output, truth.output, type, mag);
            ErrorBudget.check(at + "lse", r.logSumExp(), base.logSumExp, truth.logSumExp, DataType.FLOAT32);
            ErrorBudget.check(at + "dq", g.dq(), base.dq, truth.dq, type, mag);
            ErrorBudget.check(at + "dk", g.dk(), base.dk, truth.dk, type, mag);
            ErrorBudget.check(at + "dv", g.dv(), base.dv, truth.dv, type, mag);
        }
    }

    /** Batches with tiles across every edge: lengths 0 and 1, a tile and one more, all rows, past the rows. */
    private static SequenceCase batch(String form, int d) {
        switch (form) {
            case "padded-keys":
                return SequenceCase.padded(4, 2, d, 300, 517, null, new int[] {517, 1, 129, 0});
            case "padded-both":
                return SequenceCase.padded(
                        4, 1, d, 517, 300, new int[] {517, 65, 0, 200}, new int[] {250, 300, 7, 999});
            case "packed":
                return SequenceCase.packed(4, 2, d, new int[] {129, 1, 700, 0, 64}, new int[] {129, 300, 700, 5, 0});
            default:
                throw new IllegalArgumentException("form: unknown " + form);
        }
    }
}
