package io.flashdjl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.testing.BiasCase;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.NaiveAttention;
import io.flashdjl.testing.TestSeed;
import io.flashdjl.training.FlashGradientCollector;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link AttentionBias}, SDPA's attn_mask: boolean keep masks and additive float biases, broadcast over batch,
 * heads or query rows, on REFERENCE (8 x 8 tiles) and SDPA against float64 naive attention on the biased scores
 * by {@link ErrorBudget}'s rule: output, log-sum-exp, dq, dk, dv and the bias's own gradient. Masks hide whole
 * rows (output 0, zero gradients) and whole blocks; one case adds a causal band, one GQA and BSHD, one padded
 * sequences. Training reaches the bias's gradient; bad biases are refused by name.
 */
@ExtendWith(TestSeed.class)
class BiasTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager(Device.cpu(), "PyTorch");
    }

    @AfterEach
    void close() {
        manager.close();
    }

    static Stream<Arguments> cases() {
        AttentionOptions plain = AttentionOptions.builder().build();
        AttentionOptions causal = AttentionOptions.builder().optCausal(true).build();
        AttentionOptions bshd =
                AttentionOptions.builder().optLayout(Layout.BSHD).build();
        BiasCase[] all = {
            new BiasCase(3, 2, 2, 13, 21, 8, new long[] {3, 1, 1, 21}, true, plain), // key padding
            new BiasCase(2, 2, 1, 19, 19, 8, new long[] {19, 19}, true, causal), // one mask for all, with the band
            new BiasCase(2, 4, 2, 11, 17, 8, new long[] {2, 4, 11, 17}, false, plain), // full bias, GQA
            new BiasCase(2, 4, 4, 16, 9, 8, new long[] {4, 1, 9}, false, bshd), // per head, rows broadcast
            new BiasCase(1, 2, 2, 24, 24, 8, new long[] {1, 2, 24, 24}, false, causal)
        };
        Stream.Builder<Arguments> s = Stream.builder();
        for (Backend backend : new Backend[] {Backend.REFERENCE, Backend.SDPA}) {
            for (BiasCase c : all) {
                s.add(Arguments.of(backend, c));
            }
        }
        return s.build();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void theBiasedScoresAreAttended(Backend backend, BiasCase c, SplittableRandom rng) {
        AttentionOptions opts = c.options().toBuilder()
                .optBackend(backend)
                .optReferenceTile(8, 8)
                .build();
        NDArray[] in = c.inputs(manager, rng, DataType.FLOAT32, Device.cpu());
        NDArray values = c.values(manager, rng, DataType.FLOAT32, Device.cpu());
        if (!c.mask()) {
            values.setRequiresGradient(true);
        }
        AttentionBias bias = AttentionBias.of(values);
        AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], null, bias, opts);
        AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], null, bias, r, opts);
        BiasCase.check(backend + " " + c, r, g, in, opts, bias, BiasCase.additive(manager, bias), DataType.FLOAT32);
    }

    /** Rows the bias hides completely give output 0 and zero gradients, never NaN. */
    @Test
    void rowsWithoutAKeptKeyGiveZero(SplittableRandom rng) {
        BiasCase c = new BiasCase(1, 1, 1, 5, 7, 8, new long[] {5, 7}, true, AttentionOptions.DEFAULT);
        NDArray[] in = c.inputs(manager, rng, DataType.FLOAT32, Device.cpu());
        boolean[] keep = new boolean[35];
        for (int i = 0; i < 35; i++) {
            keep[i] = i / 7 != 2 && rng.nextBoolean() || i % 7 == 0 && i / 7 != 2;
        }
        AttentionBias bias = AttentionBias.of(manager.create(keep, new Shape(5, 7)));
        for (Backend backend : new Backend[] {Backend.REFERENCE, Backend.SDPA}) {
            AttentionOptions opts =
                    AttentionOptions.builder().optBackend(backend).build();
            AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], null, bias, opts);
            AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], null, bias, r, opts);
            assertEquals(0f, r.output().get(":, :, 2").abs().max().getFloat(), backend + " output of row 2");
            assertTrue(Float.isInfinite(r.logSumExp().get(":, :, 2").getFloat()), backend + " lse of row 2");
            assertEquals(0f, g.dq().get(":, :, 2").abs().max().getFloat(), backend + " dq of row 2");
            for (NDArray a : new NDArray[] {r.output(), g.dq(), g.dk(), g.dv()}) {
                assertFalse(a.isNaN().any().getBoolean(), backend + " NaN");
            }
        }
    }

    /** In training (the flash tape), a float bias that requires a gradient gets dS summed to its shape. */
    @Test
    void trainingReachesTheBias(SplittableRandom rng) {
        BiasCase c = new BiasCase(2, 2, 2, 9, 12, 8, new long[] {2, 9, 12}, false, AttentionOptions.DEFAULT);
        NDArray[] in = c.inputs(manager, rng, DataType.FLOAT32, Device.cpu());
        NDArray values = c.values(manager, rng, DataType.FLOAT32, Device.cpu());
        values.setRequiresGradient(true);
        AttentionOptions opts =
                AttentionOptions.builder().optBackend(Backend.REFERENCE).build();
        for (NDArray x : new NDArray[] {in[0], in[1], in[2]}) {
            x.setRequiresGradient(true);
        }
        try (FlashGradientCollector gc = new FlashGradientCollector()) {
            NDArray out = FlashAttention.attention(in[0], in[1], in[2], null, AttentionBias.of(values), opts);
            gc.backward(out.mul(in[3]).sum());
        }
        NaiveAttention.Outcome truth = NaiveAttention.compute(
                in[0], in[1], in[2], in[3], opts, DataType.FLOAT64, null, values.reshape(1, 2, 9, 12));
        NaiveAttention.Outcome base = NaiveAttention.compute(
                in[0], in[1], in[2], in[3], opts, DataType.FLOAT32, null, values.reshape(1, 2, 9, 12));
        ErrorBudget.check(
                "dBias through the tape",
                values.getGradient().reshape(1, 2, 9, 12),
                base.dBias,
                truth.dBias,
                DataType.FLOAT32,
                ErrorBudget.magnitude(truth.dBias));
        ErrorBudget.check("dq through the tape", in[0].getGradient(), base.dq, truth.dq, DataType.FLOAT32);
    }

    /**
     * A bias and padded lengths together on REFERENCE and SDPA: rows past the query lengths get output 0 and zero
     * gradients (dBias included), keys past the key lengths are hidden; the truth is the naive attention with the
     * lengths folded into the bias as -inf.
     */
    @Test
    void biasAndSequencesCompose(SplittableRandom rng) {
        int[] ql = {11, 3, 0};
        int[] kl = {13, 6, 2};
        BiasCase c = new BiasCase(3, 2, 2, 11, 13, 8, new long[] {3, 2, 11, 13}, false, AttentionOptions.DEFAULT);
        NDArray[] in = c.inputs(manager, rng, DataType.FLOAT32, Device.cpu());
        NDArray values = c.values(manager, rng, DataType.FLOAT32, Device.cpu());
        values.setRequiresGradient(true);
        AttentionBias bias = AttentionBias.of(values);
        Sequences lengths = Sequences.padded(manager.create(ql), manager.create(kl));
        NDArray additive = BiasCase.additive(manager, bias).add(BiasCase.lengthsAsBias(manager, ql, kl, 11, 13));
        for (Backend backend : new Backend[] {Backend.REFERENCE, Backend.SDPA}) {
            AttentionOptions opts = AttentionOptions.builder()
                    .optBackend(backend)
                    .optReferenceTile(8, 8)
                    .build();
            AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], lengths, bias, opts);
            AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], lengths, bias, r, opts);
            BiasCase.check(backend + " bias and lengths", r, g, in, opts, bias, additive, DataType.FLOAT32);
        }
    }

    @Test
    void badBiasesAreRefusedByName() {
        NDArray q = manager.ones(new Shape(2, 3, 5, 8));
        NDArray k = manager.ones(new Shape(2, 3, 7, 8));
        AttentionOptions o =
                AttentionOptions.builder().optBackend(Backend.REFERENCE).build();
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> FlashAttention.forward(q, k, k, null, AttentionBias.of(manager.ones(new Shape(2, 1, 5, 6))), o));
        assertEquals(
                "bias: expected a shape broadcastable to [B, Hq, Nq, Nk] = [2, 3, 5, 7] (each dimension its size or"
                        + " 1, the last 7) but got shape (2, 1, 5, 6)",
                e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> FlashAttention.forward(q, k, k, null, AttentionBias.of(manager.ones(new Shape(7))), o));
        assertTrue(e.getMessage().startsWith("bias: expected rank 2 to 4"), e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> FlashAttention.forward(
                        q, k, k, null, AttentionBias.of(manager.ones(new Shape(5, 7), DataType.INT32)), o));
        assertEquals(
                "bias: expected dtype boolean (a keep mask), float16 or float32 (an additive bias; float64 with"
                        + " float64 inputs) but got int32 (inputs float32)",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> AttentionBias.of(null));
        assertEquals("bias: expected a boolean or float NDArray but got null", e.getMessage());
    }
}
