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

    /**
     * Dropout draws each sequence's bits from its own index and its own rows: a padded batch and the same
     * sequences packed give each sequence the output of that sequence alone with the generator's bits for it
     * (REFERENCE, 8 x 8 tiles, so that packed sequences start inside tiles).
     */
    @Test
    void dropoutFollowsTheSequencesPaddedOrPacked(SplittableRandom rng) {
        int[] lengths = {5, 12, 9};
        int heads = 2;
        int d = 8;
        int n = 12;
        AttentionOptions opts = AttentionOptions.builder()
                .optCausal(true)
                .optBackend(Backend.REFERENCE)
                .optReferenceTile(8, 8)
                .optDropout(0.3, rng.nextLong(), rng.nextInt())
                .build();
        // the generator's factor for batch row (= sequence) s, its rows counted from 0: the definition
        NDArray z = NaiveAttention.dropoutFactor(manager, opts, lengths.length, heads, n, n);
        NDArray q = manager.randomNormal(new Shape(lengths.length, heads, n, d));
        NDArray k = manager.randomNormal(new Shape(lengths.length, heads, n, d));
        NDArray v = manager.randomNormal(new Shape(lengths.length, heads, n, d));
        NDArray padded = FlashAttention.forward(
                        q, k, v, Sequences.padded(manager.create(lengths), manager.create(lengths)), opts)
                .output();
        int[] offsets = new int[lengths.length + 1];
        for (int s = 0; s < lengths.length; s++) {
            offsets[s + 1] = offsets[s] + lengths[s];
        }
        NDArray[] parts = new NDArray[3];
        NDArray[] full = {q, k, v};
        for (int t = 0; t < 3; t++) {
            NDArray joined = null;
            for (int s = 0; s < lengths.length; s++) {
                NDArray rows = full[t].get("{}:{}, :, 0:{}, :", s, s + 1, lengths[s]);
                joined = joined == null ? rows : joined.concat(rows, 2);
            }
            parts[t] = joined;
        }
        NDArray offs = manager.create(offsets);
        NDArray packed = FlashAttention.forward(parts[0], parts[1], parts[2], Sequences.packed(offs, offs), opts)
                .output();
        for (int s = 0; s < lengths.length; s++) {
            String rows = s + ":" + (s + 1) + ", :, 0:" + lengths[s];
            NDArray zs = z.get(rows + ", 0:" + lengths[s]);
            AttentionOptions bhsd = opts.toBuilder().optBackend(Backend.AUTO).build();
            NaiveAttention.Outcome truth =
                    NaiveAttention.compute(q.get(rows), k.get(rows), v.get(rows), null, bhsd, DataType.FLOAT64, zs);
            NaiveAttention.Outcome base =
                    NaiveAttention.compute(q.get(rows), k.get(rows), v.get(rows), null, bhsd, DataType.FLOAT32, zs);
            String at = "sequence " + s + " of " + opts + ", ";
            ErrorBudget.check(at + "padded", padded.get(rows), base.output, truth.output, DataType.FLOAT32);
            NDArray packedRows = packed.get(":, :, {}:{}", offsets[s], offsets[s + 1]);
            ErrorBudget.check(at + "packed", packedRows, base.output, truth.output, DataType.FLOAT32);
        }
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
