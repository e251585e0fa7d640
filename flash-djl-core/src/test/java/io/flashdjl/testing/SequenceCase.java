package io.flashdjl.testing;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Layout;
import io.flashdjl.Sequences;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A batch of sequences of different lengths (BHSD), and what attention over it must give, written out from the
 * definition rather than the library's rule: each sequence alone, through {@link NaiveAttention} on its own
 * rows with the same options (so a bottom-right mask or a window is anchored at that sequence's own corner),
 * placed back into the batch; padding query rows expect output 0, log-sum-exp {@code -inf} and dq 0, padding keys
 * dk = dv = 0. The inputs' padding rows are NaN: an implementation that reads them fails.
 */
public final class SequenceCase {

    /** Where one sequence is: batch row, first query row, query tokens, first key row, key tokens. */
    private record Piece(int batch, long q0, long queries, long k0, long keys) {}

    public final boolean packed;
    public final long batch;
    public final long headsQ;
    public final long headsKv;
    public final long seqQ;
    public final long seqK;
    public final long headDim;
    private final int[] queryCounts; // lengths (padded; null: all) or offsets (packed)
    private final int[] keyCounts;
    private final Piece[] pieces;

    private SequenceCase(
            boolean packed,
            long batch,
            long headsQ,
            long headsKv,
            long seqQ,
            long seqK,
            long headDim,
            int[] queryCounts,
            int[] keyCounts,
            Piece[] pieces) {
        this.packed = packed;
        this.batch = batch;
        this.headsQ = headsQ;
        this.headsKv = headsKv;
        this.seqQ = seqQ;
        this.seqK = seqK;
        this.headDim = headDim;
        this.queryCounts = queryCounts;
        this.keyCounts = keyCounts;
        this.pieces = pieces;
    }

    /**
     * A padded batch of {@code B} rows of {@code seqQ} queries and {@code seqK} keys.
     *
     * @param queryLengths valid query rows per batch row (clamped to [0, seqQ] as the library does); null: all
     * @param keyLengths valid key rows per batch row; null: all
     */
    public static SequenceCase padded(
            long headsQ, long headsKv, long headDim, long seqQ, long seqK, int[] queryLengths, int[] keyLengths) {
        int b = queryLengths != null ? queryLengths.length : keyLengths.length;
        Piece[] pieces = new Piece[b];
        for (int i = 0; i < b; i++) {
            long q = queryLengths == null ? seqQ : Math.max(0, Math.min(seqQ, queryLengths[i]));
            long k = keyLengths == null ? seqK : Math.max(0, Math.min(seqK, keyLengths[i]));
            pieces[i] = new Piece(i, 0, q, 0, k);
        }
        return new SequenceCase(false, b, headsQ, headsKv, seqQ, seqK, headDim, queryLengths, keyLengths, pieces);
    }

    /**
     * Sequences packed into a batch of one.
     *
     * @param queryRows query rows of each sequence
     * @param keyRows key rows of each sequence
     */
    public static SequenceCase packed(long headsQ, long headsKv, long headDim, int[] queryRows, int[] keyRows) {
        int[] qo = offsets(queryRows);
        int[] ko = offsets(keyRows);
        Piece[] pieces = new Piece[queryRows.length];
        for (int s = 0; s < queryRows.length; s++) {
            pieces[s] = new Piece(0, qo[s], queryRows[s], ko[s], keyRows[s]);
        }
        return new SequenceCase(
                true, 1, headsQ, headsKv, qo[qo.length - 1], ko[ko.length - 1], headDim, qo, ko, pieces);
    }

    private static int[] offsets(int[] rows) {
        int[] o = new int[rows.length + 1];
        for (int i = 0; i < rows.length; i++) {
            o[i + 1] = o[i] + rows[i];
        }
        return o;
    }

    /** The sequences, as int32 arrays on {@code device}. */
    public Sequences sequences(NDManager manager, Device device) {
        NDArray q = queryCounts == null ? null : manager.create(queryCounts).toDevice(device, false);
        NDArray k = keyCounts == null ? null : manager.create(keyCounts).toDevice(device, false);
        return packed ? Sequences.packed(q, k) : Sequences.padded(q, k);
    }

    /** q, k, v, dOut (BHSD, standard normal) with every padding row NaN. */
    public NDArray[] inputs(NDManager manager, SplittableRandom rng, DataType type, Device device) {
        NDArray q = random(manager, rng, new Shape(batch, headsQ, seqQ, headDim));
        NDArray k = random(manager, rng, new Shape(batch, headsKv, seqK, headDim));
        NDArray v = random(manager, rng, new Shape(batch, headsKv, seqK, headDim));
        NDArray dOut = random(manager, rng, new Shape(batch, headsQ, seqQ, headDim));
        poison(q, true);
        poison(dOut, true);
        poison(k, false);
        poison(v, false);
        NDArray[] in = {q, k, v, dOut};
        for (int i = 0; i < 4; i++) {
            in[i] = in[i].toType(type, false).toDevice(device, false);
        }
        return in;
    }

    private static NDArray random(NDManager manager, SplittableRandom rng, Shape shape) {
        double[] x = new double[Math.toIntExact(shape.size())];
        for (int i = 0; i < x.length; i++) {
            double u = rng.nextDouble();
            double w = rng.nextDouble();
            x[i] = Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * w);
        }
        return manager.create(x, shape);
    }

    /** NaN in every row of {@code a} that is no sequence's token. */
    private void poison(NDArray a, boolean queries) {
        long rows = a.getShape().get(2);
        boolean[][] token = new boolean[(int) batch][(int) rows];
        for (Piece p : pieces) {
            long first = queries ? p.q0 : p.k0;
            long count = queries ? p.queries : p.keys;
            Arrays.fill(token[p.batch], (int) first, (int) (first + count), true);
        }
        for (int b = 0; b < batch; b++) {
            for (int r = 0; r < rows; r++) {
                if (!token[b][r]) {
                    a.set(new NDIndex("{}, :, {}", b, r), Double.NaN);
                }
            }
        }
    }

    /**
     * The expected output, log-sum-exp and gradients (BHSD), each sequence computed alone in {@code type}.
     *
     * @param in q, k, v, dOut of {@link #inputs}
     * @param options the options of the call (BHSD)
     */
    public NaiveAttention.Outcome expected(NDArray[] in, AttentionOptions options, DataType type) {
        NDManager m = in[0].getManager();
        Device cpu = Device.cpu();
        NDArray out = m.zeros(in[0].getShape(), type, cpu);
        NDArray lse = m.full(new Shape(batch, headsQ, seqQ), Float.NEGATIVE_INFINITY, type, cpu);
        NDArray dq = m.zeros(in[0].getShape(), type, cpu);
        NDArray dk = m.zeros(in[1].getShape(), type, cpu);
        NDArray dv = m.zeros(in[2].getShape(), type, cpu);
        AttentionOptions bhsd = options.toBuilder().optLayout(Layout.BHSD).build();
        for (Piece p : pieces) {
            if (p.queries == 0 || p.keys == 0) {
                continue; // nothing visible: O = 0, LSE = -inf, zero gradients
            }
            String qRows = p.batch + ":" + (p.batch + 1) + ", :, " + p.q0 + ":" + (p.q0 + p.queries);
            String kRows = p.batch + ":" + (p.batch + 1) + ", :, " + p.k0 + ":" + (p.k0 + p.keys);
            NaiveAttention.Outcome one = NaiveAttention.compute(
                    cpu(in[0].get(qRows)),
                    cpu(in[1].get(kRows)),
                    cpu(in[2].get(kRows)),
                    cpu(in[3].get(qRows)),
                    bhsd,
                    type);
            out.set(new NDIndex(qRows), one.output);
            lse.set(new NDIndex(qRows), one.logSumExp);
            dq.set(new NDIndex(qRows), one.dq);
            dk.set(new NDIndex(kRows), one.dk);
            dv.set(new NDIndex(kRows), one.dv);
        }
        return new NaiveAttention.Outcome(out, lse, dq, dk, dv, null);
    }

    private static NDArray cpu(NDArray a) {
        return a.toDevice(Device.cpu(), false);
    }

    @Override
    public String toString() {
        return (packed ? "packed" : "padded") + " B=" + batch + " Hq=" + headsQ + " Hkv=" + headsKv + " Nq=" + seqQ
                + " Nk=" + seqK + " D=" + headDim + " queries=" + Arrays.toString(queryCounts) + " keys="
                + Arrays.toString(keyCounts);
    }
}
