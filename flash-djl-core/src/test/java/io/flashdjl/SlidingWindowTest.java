package io.flashdjl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flashdjl.spi.Visibility;
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
 * Sliding (local) windows, {@link AttentionOptions.Builder#optSlidingWindow(int, int)}: the band they give is checked
 * against the definition written out here (not the library's rule), and REFERENCE (small tiles, so tiles are
 * skipped, masked and full) and SDPA against the float64 reference by {@link ErrorBudget}'s rule, outputs, LSE
 * and gradients, with rows that see no key among them.
 */
@ExtendWith(TestSeed.class)
class SlidingWindowTest {

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
    void theBandIsTheWindowAroundTheMasksDiagonal() {
        int[][] windows = {{-1, -1}, {0, 0}, {3, -1}, {-1, 2}, {4, 1}, {2, 5}, {0, -1}};
        long[][] sizes = {{7, 7}, {5, 11}, {11, 5}, {1, 9}};
        for (AttentionMask mask : AttentionMask.values()) {
            for (int[] w : windows) {
                for (long[] n : sizes) {
                    AttentionOptions o = AttentionOptions.builder()
                            .optMask(mask)
                            .optSlidingWindow(w[0], w[1])
                            .build();
                    Visibility band = Visibility.of(o, n[0], n[1]);
                    boolean hiddenBelow = false; // a hidden key left of a visible one in some row
                    for (long i = 0; i < n[0]; i++) {
                        boolean seen = false;
                        for (long j = n[1] - 1; j >= 0; j--) {
                            boolean visible = expected(mask, w[0], w[1], n[0], n[1], i, j);
                            hiddenBelow |= seen && !visible;
                            seen |= visible;
                            assertEquals(
                                    visible,
                                    band.visible(i, j),
                                    o + " Nq=" + n[0] + " Nk=" + n[1] + " i=" + i + " j=" + j);
                        }
                    }
                    assertEquals(hiddenBelow, band.hasLowerEdge(), o + " Nq=" + n[0] + " Nk=" + n[1]);
                }
            }
        }
    }

    /** The definition: the mask's rule, and |j - c(i)| within the window around the mask's diagonal c(i). */
    private static boolean expected(AttentionMask mask, int left, int right, long nq, long nk, long i, long j) {
        long c = mask == AttentionMask.CAUSAL_BOTTOM_RIGHT ? i + nk - nq : i;
        boolean masked = mask == AttentionMask.NONE || j <= c;
        return masked && (left < 0 || j >= c - left) && (right < 0 || j <= c + right);
    }

    @Test
    void widthsBelowMinusOneAreRefusedByName() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> AttentionOptions.builder().optSlidingWindow(-2, 0));
        assertEquals(
                "slidingWindow: expected left and right >= 0, or -1 for no bound, but got (-2, 0)", e.getMessage());
    }

    @ParameterizedTest(name = "{0} {1}x{2} window ({3}, {4}) {5}")
    @CsvSource({
        "REFERENCE, 37, 37, 5, 0, CAUSAL_TOP_LEFT",
        "REFERENCE, 29, 41, 7, 3, NONE",
        "REFERENCE, 41, 23, 4, -1, CAUSAL_BOTTOM_RIGHT",
        "REFERENCE, 33, 33, 0, 0, NONE",
        "SDPA, 37, 37, 5, 0, CAUSAL_TOP_LEFT",
        "SDPA, 29, 41, 7, 3, NONE",
        "SDPA, 41, 23, 4, -1, CAUSAL_BOTTOM_RIGHT"
    })
    void backendsKeepTheRule(
            Backend backend, int nq, int nk, int left, int right, AttentionMask mask, SplittableRandom rng) {
        AttentionCase c = new AttentionCase(2, 4, 2, nq, nk, 16, 16, mask, Layout.BHSD, DataType.FLOAT32, Double.NaN);
        NDArray[] in = c.randomInputs(manager, rng);
        AttentionOptions opts = c.options(backend).toBuilder()
                .optSlidingWindow(left, right)
                .optReferenceTile(8, 8)
                .build();
        AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
        AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
        NaiveAttention.Outcome truth = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, DataType.FLOAT64);
        NaiveAttention.Outcome base = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, DataType.FLOAT32);
        double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
        String at = backend + " " + opts + ": ";
        ErrorBudget.check(at + "output", r.output(), base.output, truth.output, DataType.FLOAT32, mag);
        ErrorBudget.check(at + "lse", r.logSumExp(), base.logSumExp, truth.logSumExp, DataType.FLOAT32);
        ErrorBudget.check(at + "dq", g.dq(), base.dq, truth.dq, DataType.FLOAT32, mag);
        ErrorBudget.check(at + "dk", g.dk(), base.dk, truth.dk, DataType.FLOAT32, mag);
        ErrorBudget.check(at + "dv", g.dv(), base.dv, truth.dv, DataType.FLOAT32, mag);
    }
}
