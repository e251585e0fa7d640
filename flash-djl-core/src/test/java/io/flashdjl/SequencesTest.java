package io.flashdjl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.NaiveAttention;
import io.flashdjl.testing.SequenceCase;
import io.flashdjl.testing.TestSeed;
import java.util.List;
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
 * {@link Sequences}: padded batches with valid lengths and packed (varlen) batches, on REFERENCE (8 x 8 tiles,
 * so that tiles are skipped, masked and full across sequence edges) and SDPA, against each sequence computed
 * alone ({@link SequenceCase}) by {@link ErrorBudget}'s rule: outputs, LSE and gradients, with NaN in every
 * padding row of the inputs, rows without keys, and causal and windowed bands anchored per sequence. Bad
 * sequences are refused by name.
 */
@ExtendWith(TestSeed.class)
class SequencesTest {

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
        List<SequenceCase> batches = List.of(
                SequenceCase.padded(4, 2, 16, 29, 37, new int[] {29, 0, 13}, new int[] {37, 5, 20}),
                SequenceCase.padded(2, 2, 16, 23, 23, null, new int[] {23, 9}),
                SequenceCase.padded(2, 1, 16, 31, 17, new int[] {7, 31, 40}, null),
                SequenceCase.packed(4, 2, 16, new int[] {17, 1, 30, 0}, new int[] {17, 4, 30, 6}),
                SequenceCase.packed(2, 2, 16, new int[] {9, 25}, new int[] {25, 9}));
        AttentionOptions[] options = {
            AttentionOptions.builder().build(),
            AttentionOptions.builder().optCausal(true).build(),
            AttentionOptions.builder()
                    .optMask(AttentionMask.CAUSAL_BOTTOM_RIGHT)
                    .build(),
            AttentionOptions.builder()
                    .optMask(AttentionMask.CAUSAL_BOTTOM_RIGHT)
                    .optSlidingWindow(5, 0)
                    .build(),
            AttentionOptions.builder().optSlidingWindow(3, 2).build()
        };
        Stream.Builder<Arguments> all = Stream.builder();
        for (Backend backend : new Backend[] {Backend.REFERENCE, Backend.SDPA}) {
            for (int i = 0; i < batches.size(); i++) {
                for (int j = 0; j < options.length; j++) {
                    if ((i + j) % 2 == 0 || j == 0) { // every batch and every band, not every pair
                        all.add(Arguments.of(backend, batches.get(i), options[j]));
                    }
                }
            }
        }
        return all.build();
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void eachSequenceIsAttendedAlone(Backend backend, SequenceCase c, AttentionOptions base, SplittableRandom rng) {
        NDArray[] in = c.inputs(manager, rng, DataType.FLOAT32, Device.cpu());
        Sequences seqs = c.sequences(manager, Device.cpu());
        AttentionOptions opts =
                base.toBuilder().optBackend(backend).optReferenceTile(8, 8).build();
        AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], seqs, opts);
        AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], seqs, r, opts);
        NaiveAttention.Outcome truth = c.expected(in, opts, DataType.FLOAT64);
        NaiveAttention.Outcome base32 = c.expected(in, opts, DataType.FLOAT32);
        double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
        String at = backend + " " + c + " " + opts + ": ";
        ErrorBudget.check(at + "output", r.output(), base32.output, truth.output, DataType.FLOAT32, mag);
        ErrorBudget.check(at + "lse", r.logSumExp(), base32.logSumExp, truth.logSumExp, DataType.FLOAT32);
        ErrorBudget.check(at + "dq", g.dq(), base32.dq, truth.dq, DataType.FLOAT32, mag);
        ErrorBudget.check(at + "dk", g.dk(), base32.dk, truth.dk, DataType.FLOAT32, mag);
        ErrorBudget.check(at + "dv", g.dv(), base32.dv, truth.dv, DataType.FLOAT32, mag);
    }

    @Test
    void badSequencesAreRefusedByName() {
        NDArray q = manager.ones(new Shape(2, 2, 5, 8));
        AttentionOptions o =
                AttentionOptions.builder().optBackend(Backend.REFERENCE).build();
        NDArray longs = manager.create(new long[] {5, 3});
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> FlashAttention.forward(q, q, q, Sequences.padded(null, longs), o));
        assertEquals("sequences.keys(): expected dtype int32 (what the kernels read) but got int64", e.getMessage());
        NDArray three = manager.create(new int[] {5, 3, 1});
        e = assertThrows(
                IllegalArgumentException.class,
                () -> FlashAttention.forward(q, q, q, Sequences.padded(three, null), o));
        assertEquals("sequences.queries(): expected shape (2) [B] but got (3)", e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> FlashAttention.forward(q, q, q, Sequences.packed(three, three), o));
        assertEquals(
                "q: packed sequences expected batch size 1 (the sequences one after another along the sequence axis)"
                        + " but got shape (2, 2, 5, 8) (BHSD)",
                e.getMessage());
        NDArray one = manager.ones(new Shape(1, 2, 5, 8));
        NDArray decreasing = manager.create(new int[] {0, 4, 3, 5});
        e = assertThrows(
                IllegalArgumentException.class,
                () -> FlashAttention.forward(one, one, one, Sequences.packed(decreasing, decreasing), o));
        assertEquals(
                "sequences.queries(): expected non-decreasing offsets but got 4 then 3 at index 2", e.getMessage());
        NDArray short4 = manager.create(new int[] {0, 2, 4});
        e = assertThrows(
                IllegalArgumentException.class,
                () -> FlashAttention.forward(one, one, one, Sequences.packed(short4, short4), o));
        assertEquals(
                "sequences.queries(): expected the last offset to be 5 (the query rows of q) but got 4",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Sequences.padded(null, null));
        assertEquals(
                "queryLengths, keyLengths: expected at least one int32 [B] array but got null for both",
                e.getMessage());
    }
}
