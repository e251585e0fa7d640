package io.flashdjl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.spi.DropoutBits;
import io.flashdjl.testing.AttentionCase;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.NaiveAttention;
import io.flashdjl.testing.TestSeed;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Dropout on the attention probabilities ({@link AttentionOptions.Builder#optDropout}): the generator
 * ({@link DropoutBits}) against Random123's known answers and its statistics, and REFERENCE (8 x 8 tiles) against
 * a naive attention with the same bits, by {@link ErrorBudget}'s rule, outputs, LSE and gradients. SDPA, which
 * draws from PyTorch's generator, refuses dropout by name.
 */
@ExtendWith(TestSeed.class)
class DropoutTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager(Device.cpu(), "PyTorch");
    }

    @AfterEach
    void close() {
        manager.close();
    }

    @Test
    void philoxGivesRandom123sKnownAnswers() {
        // philox4x32-10 known-answer vectors of Random123 (kat_vectors)
        assertArrayEquals(
                new int[] {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}, DropoutBits.philox(0, 0, 0, 0, 0, 0));
        assertArrayEquals(
                new int[] {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
                DropoutBits.philox(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0));
        assertArrayEquals(
                new int[] {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}, DropoutBits.philox(-1, -1, -1, -1, -1, -1));
    }

    @Test
    void bitsKeepTheRateAndAreIndependent(SplittableRandom rng) {
        AttentionOptions o = AttentionOptions.builder()
                .optDropout(0.1, rng.nextLong(), rng.nextInt())
                .build();
        DropoutBits bits = DropoutBits.of(o);
        double p = bits.threshold() / 256.0;
        assertEquals(230, bits.threshold(), "0.1 in 256ths");
        int n = 0;
        int kept = 0;
        int agreeHeads = 0;
        int agreeOffsets = 0;
        DropoutBits next = DropoutBits.of(o.toBuilder()
                .optDropout(0.1, o.dropoutSeed(), o.dropoutOffset() + 1)
                .build());
        for (int i = 0; i < 200; i++) {
            for (int j = 0; j < 200; j++) {
                boolean a = bits.keep(3, 4, 1, i, j);
                kept += a ? 1 : 0;
                agreeHeads += a == bits.keep(3, 4, 2, i, j) ? 1 : 0;
                agreeOffsets += a == next.keep(3, 4, 1, i, j) ? 1 : 0;
                n++;
            }
        }
        double agree = p * p + (1 - p) * (1 - p);
        assertWithin("keep rate", kept / (double) n, p, Math.sqrt(p * (1 - p) / n));
        assertWithin("heads agree", agreeHeads / (double) n, agree, Math.sqrt(agree * (1 - agree) / n));
        assertWithin("offsets agree", agreeOffsets / (double) n, agree, Math.sqrt(agree * (1 - agree) / n));
    }

    private static void assertWithin(String what, double got, double want, double sigma) {
        assertTrue(
                Math.abs(got - want) <= 5 * sigma,
                what + ": " + got + ", expected " + want + " +- 5 sigma " + 5 * sigma);
    }

    @ParameterizedTest(name = "{0}x{1} {2} rate {3}")
    @CsvSource({"37, 37, CAUSAL_TOP_LEFT, 0.1", "29, 41, NONE, 0.5", "41, 23, CAUSAL_BOTTOM_RIGHT, 0.25"})
    void referenceAppliesTheBits(int nq, int nk, AttentionMask mask, double rate, SplittableRandom rng) {
        AttentionCase c = new AttentionCase(2, 4, 2, nq, nk, 16, 16, mask, Layout.BHSD, DataType.FLOAT32, Double.NaN);
        NDArray[] in = c.randomInputs(manager, rng);
        AttentionOptions opts = c.options(Backend.REFERENCE).toBuilder()
                .optDropout(rate, rng.nextLong(), rng.nextInt())
                .optReferenceTile(8, 8)
                .build();
        AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
        AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
        NDArray z = NaiveAttention.dropoutFactor(manager, opts, 2, 4, nq, nk);
        NaiveAttention.Outcome truth = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, DataType.FLOAT64, z);
        NaiveAttention.Outcome base = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, DataType.FLOAT32, z);
        NaiveAttention.Outcome undropped =
                NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, DataType.FLOAT64, null);
        assertTrue(truth.output.sub(undropped.output).abs().max().getDouble() > 1e-3, "dropout changes the output");
        double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
        String at = "REFERENCE " + opts + ": ";
        ErrorBudget.check(at + "output", r.output(), base.output, truth.output, DataType.FLOAT32, mag);
        ErrorBudget.check(at + "lse", r.logSumExp(), base.logSumExp, truth.logSumExp, DataType.FLOAT32);
        ErrorBudget.check(at + "dq", g.dq(), base.dq, truth.dq, DataType.FLOAT32, mag);
        ErrorBudget.check(at + "dk", g.dk(), base.dk, truth.dk, DataType.FLOAT32, mag);
        ErrorBudget.check(at + "dv", g.dv(), base.dv, truth.dv, DataType.FLOAT32, mag);
    }

    @Test
    void badRatesAndSdpaAreRefusedByName() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> AttentionOptions.builder().optDropout(1.0, 1, 0));
        assertEquals("dropout: expected a rate in [0, 1) but got 1.0", e.getMessage());
        NDArray q = manager.ones(new Shape(1, 2, 5, 8));
        AttentionOptions sdpa = AttentionOptions.builder()
                .optBackend(Backend.SDPA)
                .optDropout(0.1, 1, 0)
                .build();
        UnsupportedOperationException u =
                assertThrows(UnsupportedOperationException.class, () -> FlashAttention.forward(q, q, q, sdpa));
        assertTrue(u.getMessage().contains("SDPA draws dropout from PyTorch's generator"), u.getMessage());
    }
}
