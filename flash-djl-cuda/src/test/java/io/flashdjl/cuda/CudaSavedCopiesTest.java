package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;

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
 * Under {@code Precision.BFLOAT16} the forward keeps its bfloat16 copies of q, k and v in its result, and the
 * backward of the same arrays reads them instead of casting again: its gradients are the bits of a backward that
 * casts everything itself (deterministic mode), for GQA, an awkward head dim and BSHD views; a 16-bit forward keeps
 * nothing.
 */
@Tag("gpu")
@ExtendWith(TestSeed.class)
class CudaSavedCopiesTest {

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    @Test
    void theBackwardReadsTheForwardsCopies(SplittableRandom rng) {
        AttentionCase c = new AttentionCase(
                2,
                6,
                2,
                257,
                300,
                72,
                72,
                AttentionMask.CAUSAL_BOTTOM_RIGHT,
                Layout.BSHD,
                DataType.FLOAT32,
                Double.NaN);
        AttentionOptions o = AttentionOptions.builder()
                .optMask(c.mask)
                .optLayout(Layout.BSHD)
                .optBackend(Backend.CUDA)
                .optPrecision(Precision.BFLOAT16)
                .optDeterministic(true)
                .build();
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] in = c.randomInputs(m, rng);
            AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], o);
            assertInstanceOf(CudaBackend.SavedCopies.class, r.saved(), "BFLOAT16 keeps the copies");
            AttentionResult bare = new AttentionResult(r.output(), r.logSumExp(), Backend.CUDA);
            try (AttentionGradients kept = FlashAttention.backward(in[3], in[0], in[1], in[2], r, o);
                    AttentionGradients cast = FlashAttention.backward(in[3], in[0], in[1], in[2], bare, o)) {
                assertArrayEquals(cast.dq().toFloatArray(), kept.dq().toFloatArray(), "dq");
                assertArrayEquals(cast.dk().toFloatArray(), kept.dk().toFloatArray(), "dk");
                assertArrayEquals(cast.dv().toFloatArray(), kept.dv().toFloatArray(), "dv");
            }
            r.close();
            NDArray[] half = new AttentionCase(
                            1, 2, 2, 64, 64, 64, 64, AttentionMask.NONE, Layout.BHSD, DataType.FLOAT16, Double.NaN)
                    .randomInputs(m, rng);
            try (AttentionResult h = FlashAttention.forward(
                    half[0],
                    half[1],
                    half[2],
                    AttentionOptions.builder().optBackend(Backend.CUDA).build())) {
                assertNull(h.saved(), "16-bit data has no copies");
            }
        }
    }
}
