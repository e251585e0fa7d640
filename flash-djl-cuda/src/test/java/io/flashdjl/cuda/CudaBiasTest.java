package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flashdjl.AttentionBias;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionMask;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.Layout;
import io.flashdjl.Sequences;
import io.flashdjl.testing.BiasCase;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.TestSeed;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The score bias on the CUDA kernels (the _bias kernels), through the Java launcher, against float64 naive
 * attention on the biased scores by {@link ErrorBudget}'s rule: output, log-sum-exp, dq, dk, dv and dBias. Boolean
 * masks and float16 / float32 biases, broadcast over batch, heads or rows, with whole 64 x 64 cells hidden (so that
 * tiles are skipped) and rows that see nothing; float16 on the mma.sync and wgmma kernels (4099 keys: d = 64's form
 * for long key sequences on sm_90a), float32 on 3xTF32 and (D = 256) SIMT; atomic and deterministic backward;
 * poisoned outputs.
 */
@Tag("gpu")
@ExtendWith({TestSeed.class, PoisonedOutputs.class})
class CudaBiasTest {

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    @ParameterizedTest(name = "{0} D={1} {2} B={3} Hq={4} Hkv={5} {6}x{7} bias ({8}) {9} deterministic {10}")
    @CsvSource({
        "FLOAT16, 64, mask, 3, 2, 2, 300, 517, '3,1,1,517', NONE, false",
        "FLOAT16, 128, bias, 2, 4, 2, 257, 385, '2,4,257,385', NONE, false",
        "FLOAT16, 128, bias, 2, 4, 2, 257, 385, '2,4,257,385', NONE, true",
        "FLOAT16, 96, mask, 2, 2, 1, 300, 300, '300,300', CAUSAL_TOP_LEFT, false",
        "FLOAT16, 64, bias, 2, 4, 4, 129, 300, '4,1,300', CAUSAL_BOTTOM_RIGHT, false",
        "FLOAT16, 64, bias, 1, 2, 2, 129, 4099, '2,1,4099', CAUSAL_BOTTOM_RIGHT, false",
        "FLOAT32, 64, bias, 2, 4, 2, 300, 517, '4,1,517', NONE, false",
        "FLOAT32, 128, mask, 2, 2, 2, 300, 517, '2,1,300,517', NONE, true",
        "FLOAT32, 256, bias, 2, 4, 2, 300, 517, '2,4,300,517', CAUSAL_TOP_LEFT, false"
    })
    void theBiasedScoresAreAttended(
            DataType type,
            int d,
            String kind,
            int b,
            int hq,
            int hkv,
            int nq,
            int nk,
            String shape,
            AttentionMask mask,
            boolean deterministic,
            SplittableRandom rng) {
        long[] biasShape =
                Arrays.stream(shape.split(",")).mapToLong(Long::parseLong).toArray();
        boolean bshd = type == DataType.FLOAT32 && d == 64; // one case in BSHD
        BiasCase c = new BiasCase(
                b,
                hq,
                hkv,
                nq,
                nk,
                d,
                biasShape,
                kind.equals("mask"),
                AttentionOptions.builder()
                        .optMask(mask)
                        .optLayout(bshd ? Layout.BSHD : Layout.BHSD)
                        .optDeterministic(deterministic)
                        .optBackend(Backend.CUDA)
                        .build());
        try (NDManager manager = NDManager.newBaseManager(Device.gpu());
                NDManager cpu = NDManager.newBaseManager(Device.cpu())) {
            NDArray[] in = c.inputs(manager, rng, type, Device.gpu());
            NDArray values = c.values(manager, rng, type, Device.gpu());
            if (!c.mask()) {
                values.setRequiresGradient(true);
            }
            AttentionBias bias = AttentionBias.of(values);
            check("CUDA " + c, c.options(), null, bias, in, BiasCase.additive(cpu, bias), type);
        }
    }

    /**
     * A bias and padded lengths together: the bias is read only where the lengths show a key; rows past the query
     * lengths get output 0, LSE -inf and zero gradients (dBias included). The truth is the naive attention with the
     * lengths folded into the bias as -inf.
     */
    @Test
    void biasAndSequencesCompose(SplittableRandom rng) {
        int[] ql = {200, 17, 130};
        int[] kl = {333, 100, 5};
        BiasCase c = new BiasCase(
                3,
                2,
                2,
                200,
                333,
                64,
                new long[] {3, 2, 200, 333},
                false,
                AttentionOptions.builder().optBackend(Backend.CUDA).build());
        try (NDManager manager = NDManager.newBaseManager(Device.gpu());
                NDManager cpu = NDManager.newBaseManager(Device.cpu())) {
            NDArray[] in = c.inputs(manager, rng, DataType.FLOAT16, Device.gpu());
            NDArray values = c.values(manager, rng, DataType.FLOAT16, Device.gpu());
            values.setRequiresGradient(true);
            Sequences lengths = Sequences.padded(
                    manager.create(ql).toDevice(Device.gpu(), false),
                    manager.create(kl).toDevice(Device.gpu(), false));
            AttentionBias bias = AttentionBias.of(values);
            NDArray truthBias = BiasCase.additive(cpu, bias).add(BiasCase.lengthsAsBias(cpu, ql, kl, 200, 333));
            check("CUDA bias and lengths " + c, c.options(), lengths, bias, in, truthBias, DataType.FLOAT16);
        }
    }

    /** Runs the call on the kernels and checks it against float64 naive attention on {@code additive}. */
    private static void check(
            String at,
            AttentionOptions opts,
            Sequences sequences,
            AttentionBias bias,
            NDArray[] in,
            NDArray additive,
            DataType type) {
        AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], sequences, bias, opts);
        AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], sequences, bias, r, opts);
        assertEquals(Backend.CUDA, r.backend());
        BiasCase.check(at, r, g, in, opts, bias, additive, type);
    }
}
