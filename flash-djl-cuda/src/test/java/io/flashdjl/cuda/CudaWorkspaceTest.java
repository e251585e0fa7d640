package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import io.flashdjl.Precision;
import io.flashdjl.testing.AttentionCase;
import io.flashdjl.testing.TestSeed;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The thread's {@link Workspace}: the output alone ({@code FlashAttention.attention}, its log-sum-exp and copies in
 * the workspace) is the forward's output bit for bit; backward calls whose scratch fits the workspace and calls whose
 * scratch does not ({@link Workspace#MAX_BYTES}) follow each other on one thread without disturbing each other.
 */
@Tag("gpu")
@ExtendWith(TestSeed.class)
class CudaWorkspaceTest {

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    @Test
    void theOutputAloneIsTheForwardsOutput(SplittableRandom rng) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            for (Precision precision : new Precision[] {Precision.FULL, Precision.BFLOAT16}) {
                DataType type = precision == Precision.FULL ? DataType.FLOAT16 : DataType.FLOAT32;
                int d = precision == Precision.FULL ? 64 : 72;
                AttentionCase c = new AttentionCase(
                        2, 4, 2, 301, 333, d, d, AttentionMask.CAUSAL_TOP_LEFT, Layout.BHSD, type, Double.NaN);
                AttentionOptions o = AttentionOptions.builder()
                        .optMask(c.mask)
                        .optBackend(Backend.CUDA)
                        .optPrecision(precision)
                        .build();
                NDArray[] in = c.randomInputs(m, rng);
                try (AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], o);
                        NDArray alone = FlashAttention.attention(in[0], in[1], in[2], o)) {
                    assertArrayEquals(floats(r.output()), floats(alone), "output alone, " + precision);
                }
            }
        }
    }

    @Test
    void scratchInAndBeyondTheWorkspace(SplittableRandom rng) {
        // small: its scratch fits the workspace; large: dq's float32 accumulator alone is about 17 MiB
        AttentionCase small = new AttentionCase(
                1, 4, 4, 200, 200, 64, 64, AttentionMask.NONE, Layout.BHSD, DataType.FLOAT16, Double.NaN);
        AttentionCase large = new AttentionCase(
                1, 8, 8, 8192, 512, 64, 64, AttentionMask.NONE, Layout.BHSD, DataType.FLOAT16, Double.NaN);
        AttentionOptions atomic =
                AttentionOptions.builder().optBackend(Backend.CUDA).build();
        AttentionOptions deterministic =
                atomic.toBuilder().optDeterministic(true).build();
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] s = small.randomInputs(m, rng);
            NDArray[] l = large.randomInputs(m, rng);
            float[][] first = gradients(s, deterministic);
            float[][] atomicLarge = gradients(l, atomic);
            float[][] deterministicLarge = gradients(l, deterministic);
            float[][] again = gradients(s, deterministic);
            String[] names = {"dq", "dk", "dv"};
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(first[i], again[i], "small " + names[i] + " after a large call");
                float max = 0;
                float diff = 0;
                for (int j = 0; j < atomicLarge[i].length; j++) {
                    max = Math.max(max, Math.abs(deterministicLarge[i][j]));
                    diff = Math.max(diff, Math.abs(atomicLarge[i][j] - deterministicLarge[i][j]));
                }
                // the two modes add dQ in different orders in float32, then round to float16 (2^-11 relative)
                assertTrue(
                        diff <= 1e-3f * max,
                        "large " + names[i] + ": atomic against deterministic " + diff + " of " + max);
            }
        }
    }

    private static float[][] gradients(NDArray[] in, AttentionOptions o) {
        try (AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], o);
                AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], r, o)) {
            return new float[][] {floats(g.dq()), floats(g.dk()), floats(g.dv())};
        }
    }

    private static float[] floats(NDArray x) {
        try (NDArray f = x.toType(DataType.FLOAT32, false)) {
            return f.toFloatArray();
        }
    }
}
