package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionMask;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.Layout;
import io.flashdjl.nn.FlashAttentionBlock;
import io.flashdjl.spi.DropoutBits;
import io.flashdjl.testing.AttentionCase;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.NaiveAttention;
import io.flashdjl.testing.TestSeed;
import io.flashdjl.training.FlashTraining;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Dropout in the CUDA kernels, through the Java launcher: outputs and gradients (atomic and deterministic)
 * against a naive attention with the bits of the Java generator ({@link DropoutBits}, the same the REFERENCE
 * backend uses), by {@link ErrorBudget}'s rule; bits that differed anywhere would put the error far past the
 * budget. float16 (16-bit kernels), float32 (3xTF32 and, at D = 256, SIMT). And a DJL-style model whose
 * FlashAttentionBlock has a [B, T, F] key-padding mask and dropout 0.1 trains on the kernels with no fallback
 * line.
 */
@Tag("gpu")
@ExtendWith({TestSeed.class, PoisonedOutputs.class})
class CudaDropoutTest {

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    @ParameterizedTest(name = "{0} Nq={1} Nk={2} D={3} {4} rate {5} deterministic {6}")
    @CsvSource({
        "FLOAT16, 513, 513, 64, CAUSAL_TOP_LEFT, 0.1, false",
        "FLOAT16, 200, 1031, 128, NONE, 0.3, true",
        "FLOAT32, 333, 333, 128, CAUSAL_BOTTOM_RIGHT, 0.1, false",
        "FLOAT32, 130, 257, 256, NONE, 0.5, false"
    })
    void keepsTheBitsOfTheGenerator(
            DataType type,
            int nq,
            int nk,
            int d,
            AttentionMask mask,
            double rate,
            boolean deterministic,
            SplittableRandom rng) {
        AttentionCase c = new AttentionCase(2, 4, 2, nq, nk, d, d, mask, Layout.BHSD, type, Double.NaN);
        try (NDManager manager = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = c.randomInputs(manager, rng);
            AttentionOptions opts = c.options(Backend.CUDA).toBuilder()
                    .optDropout(rate, rng.nextLong(), rng.nextInt())
                    .optDeterministic(deterministic)
                    .build();
            AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
            AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
            assertEquals(Backend.CUDA, r.backend());
            NDArray z = NaiveAttention.dropoutFactor(manager, opts, 2, 4, nq, nk);
            NaiveAttention.Outcome truth =
                    NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, DataType.FLOAT64, z);
            NaiveAttention.Outcome base = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, type, z);
            double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
            String at = "CUDA " + opts + ": ";
            ErrorBudget.check(at + "output", r.output(), base.output, truth.output, type, mag);
            ErrorBudget.check(at + "lse", r.logSumExp(), base.logSumExp, truth.logSumExp, DataType.FLOAT32);
            ErrorBudget.check(at + "dq", g.dq(), base.dq, truth.dq, type, mag);
            ErrorBudget.check(at + "dk", g.dk(), base.dk, truth.dk, type, mag);
            ErrorBudget.check(at + "dv", g.dv(), base.dv, truth.dv, type, mag);
        }
    }

    /**
     * A DJL [B, T, F] mask and dropout 0.1: the block runs on the kernels (no fallback line), and a few steps of
     * plain SGD fit a fixed batch. The mask is key padding (the kernels take it as key lengths) or block-diagonal
     * documents (not key padding: a score bias).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"key padding", "documents"})
    void aMaskedModelWithDropoutTrainsOnTheKernels(String kind) {
        PrintStream err = System.err;
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        System.setErr(new PrintStream(log, true, StandardCharsets.UTF_8));
        float first;
        float last;
        try (NDManager manager = NDManager.newBaseManager(Device.gpu())) {
            int b = 4;
            int t = 200;
            int e = 256;
            FlashAttentionBlock block = FlashAttentionBlock.builder()
                    .setEmbeddingSize(e)
                    .setHeadCount(4)
                    .optAttentionProbsDropoutProb(0.1f)
                    .build();
            block.initialize(manager, DataType.FLOAT32, new Shape(b, t, e));
            NDArray x = manager.randomNormal(new Shape(b, t, e));
            NDArray target = manager.randomNormal(new Shape(b, t, e)).mul(0.1f);
            int[] lengths = {200, 150, 77, 1};
            NDArray keys = manager.arange(0, t, 1, DataType.INT32);
            int[] document = new int[t];
            for (int i = 0; i < t; i++) {
                document[i] = i / 70; // documents of 70 tokens
            }
            NDArray docs = manager.create(document);
            NDArray mask = kind.equals("documents")
                    ? docs.reshape(1, t, 1)
                            .eq(docs.reshape(1, 1, t))
                            .broadcast(b, t, t)
                            .toType(DataType.FLOAT32, false)
                    : keys.reshape(1, 1, t)
                            .lt(manager.create(lengths).reshape(b, 1, 1))
                            .broadcast(b, t, t)
                            .toType(DataType.FLOAT32, false);
            first = Float.NaN;
            last = Float.NaN;
            for (int step = 0; step < 30; step++) {
                try (GradientCollector gc = FlashTraining.newGradientCollector()) {
                    NDArray out = block.forward(new ParameterStore(manager, false), new NDList(x, mask), true)
                            .head();
                    NDArray loss = out.sub(target).square().mean();
                    gc.backward(loss);
                    last = loss.getFloat();
                    if (step == 0) {
                        first = last;
                    }
                }
                for (Pair<String, Parameter> p : block.getParameters()) {
                    NDArray w = p.getValue().getArray();
                    w.subi(w.getGradient().mul(0.05f));
                }
            }
        } finally {
            System.setErr(err);
        }
        String lines = log.toString(StandardCharsets.UTF_8);
        System.err.print(lines);
        assertFalse(lines.contains("instead"), "no fallback: " + lines);
        assertTrue(Float.isFinite(last) && last < 0.9f * first, "the loss falls: " + first + " -> " + last);
    }
}
