package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A call's kernels launched as one CUDA graph ({@link GraphLaunches}) compute exactly what the same kernels
 * launched one by one compute: forward and deterministic backward, bit for bit, on a first shape, on a second shape
 * that reuses the first one's graphs with other grids and addresses, and on the first again. Graphs must be
 * available on a GPU machine, and the graph path must really run (the process's graph count grows).
 */
@Tag("gpu")
@ExtendWith(TestSeed.class)
class CudaGraphLaunchTest {

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    private int minLaunches;

    @BeforeEach
    void everyCallAsAGraph() {
        minLaunches = GraphLaunches.setMinLaunches(1);
    }

    @AfterEach
    void graphsBackOn() {
        GraphLaunches.enable(true);
        GraphLaunches.setMinLaunches(minLaunches);
    }

    static Stream<Arguments> cases() {
        return Stream.of(
                // one launch forward, three backward (pre, dkdv, dq: the deterministic mode)
                Arguments.of(DataType.FLOAT16, Precision.FULL, 64, AttentionMask.CAUSAL_TOP_LEFT, 2),
                // the mixed path: three casts and the forward; four casts and three kernels backward
                Arguments.of(DataType.FLOAT32, Precision.BFLOAT16, 96, AttentionMask.NONE, 4),
                // float32 on the 3xTF32 (sm_90a) or SIMT kernels
                Arguments.of(DataType.FLOAT32, Precision.FULL, 32, AttentionMask.CAUSAL_BOTTOM_RIGHT, 1));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void graphsComputeWhatSingleLaunchesCompute(
            DataType type, Precision precision, int headDim, AttentionMask mask, int kvHeads, SplittableRandom rng) {
        assertTrue(
                GraphLaunches.available(),
                () -> "graphs unavailable on a GPU machine: "
                        + GraphLaunches.unavailableReason().orElse("disabled"));
        AttentionOptions opts = AttentionOptions.builder()
                .optMask(mask)
                .optBackend(Backend.CUDA)
                .optPrecision(precision)
                .optDeterministic(true)
                .build();
        AttentionCase first =
                new AttentionCase(2, 4, kvHeads, 300, 333, headDim, headDim, mask, Layout.BHSD, type, Double.NaN);
        AttentionCase second =
                new AttentionCase(1, 4, kvHeads, 77, 1029, headDim, headDim, mask, Layout.BSHD, type, Double.NaN);
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            NDArray[] a = first.randomInputs(m, rng);
            NDArray[] b = second.randomInputs(m, rng);
            for (NDArray[] in : new NDArray[][] {a, b, a}) {
                AttentionOptions o =
                        in == b ? opts.toBuilder().optLayout(Layout.BSHD).build() : opts;
                long before = GraphLaunches.launched();
                float[][] graphed = call(in, o);
                assertEquals(before + 2, GraphLaunches.launched(), "a forward and a backward, one graph each");
                GraphLaunches.enable(false);
                float[][] single = call(in, o);
                GraphLaunches.enable(true);
                String[] names = {"output", "logSumExp", "dq", "dk", "dv"};
                for (int i = 0; i < names.length; i++) {
                    assertArrayEquals(
                            single[i], graphed[i], names[i] + " (" + type + ", " + precision + ", d " + headDim + ")");
                }
            }
        }
    }

    /** Forward and backward of one call: output, log-sum-exp, dq, dk, dv as float32 values. */
    private static float[][] call(NDArray[] in, AttentionOptions o) {
        try (AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], o);
                AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], r, o)) {
            return new float[][] {
                floats(r.output()), floats(r.logSumExp()), floats(g.dq()), floats(g.dk()), floats(g.dv())
            };
        }
    }

    private static float[] floats(NDArray x) {
        try (NDArray f = x.toType(DataType.FLOAT32, false)) {
            return f.toFloatArray();
        }
    }
}
