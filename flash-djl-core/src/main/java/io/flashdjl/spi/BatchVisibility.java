package io.flashdjl.spi;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Sequences;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Which keys each query sees, batch row by batch row, for backends built of array operations: each batch row
 * holds one or more sequences (segments of query and key rows); query {@code i} of a segment sees key {@code j}
 * of the same segment when the segment's own {@link Visibility} (the options' band for the segment's lengths)
 * lets it, and sees nothing else: no key of another segment, no padding. Without {@link Sequences} every batch
 * row is one segment of all rows and the visibility is uniform over the batch.
 *
 * <p>The CUDA kernels apply the same rule from the same numbers (their {@code Sequence} type); this class is
 * where Java turns sequences into it.
 */
public final class BatchVisibility {

    /** Rows {@code q0 .. q0 + queries - 1} and keys {@code k0 .. k0 + keys - 1} that take part, and their band. */
    private record Segment(long q0, long queries, long k0, long keys, Visibility band) {

        /** Whether the tile lies wholly inside the segment's tokens. */
        boolean covers(long i0, long i1, long j0, long j1) {
            return i0 >= q0 && i1 <= q0 + queries && j0 >= k0 && j1 <= k0 + keys;
        }

        /** The segment's tokens inside a tile, counted from the segment's first rows. */
        Part part(long i0, long i1, long j0, long j1) {
            return new Part(
                    Math.max(i0, q0) - q0,
                    Math.min(i1, q0 + queries) - q0,
                    Math.max(j0, k0) - k0,
                    Math.min(j1, k0 + keys) - k0);
        }
    }

    /** Queries {@code r0 .. r1 - 1} and keys {@code c0 .. c1 - 1} of a segment, in its own indices. */
    private record Part(long r0, long r1, long c0, long c1) {

        boolean isEmpty() {
            return r0 >= r1 || c0 >= c1;
        }
    }

    private final boolean uniform;
    private final List<List<Segment>> rows;
    private final long batch;

    private BatchVisibility(boolean uniform, List<List<Segment>> rows, long batch) {
        this.uniform = uniform;
        this.rows = rows;
        this.batch = batch;
    }

    /**
     * The visibility of a problem.
     *
     * @param p the problem
     * @return its visibility, batch row by batch row
     */
    static BatchVisibility of(AttentionProblem p) {
        AttentionOptions options = p.options();
        if (p.sequences().isEmpty()) {
            Segment all = new Segment(0, p.seqQ(), 0, p.seqK(), p.visibility());
            return new BatchVisibility(true, List.of(List.of(all)), p.batch());
        }
        Sequences s = p.sequences().get();
        List<List<Segment>> rows = new ArrayList<>();
        if (s.form() == Sequences.Form.PADDED) {
            int[] ql = s.hostQueries();
            int[] kl = s.hostKeys();
            for (int b = 0; b < p.batch(); b++) {
                long queries = ql == null ? p.seqQ() : clamp(ql[b], p.seqQ());
                long keys = kl == null ? p.seqK() : clamp(kl[b], p.seqK());
                rows.add(List.of(new Segment(0, queries, 0, keys, Visibility.of(options, queries, keys))));
            }
            return new BatchVisibility(false, rows, p.batch());
        }
        int[] qo = s.hostQueries();
        int[] ko = s.hostKeys();
        List<Segment> packed = new ArrayList<>();
        for (int i = 0; i + 1 < qo.length; i++) {
            long queries = qo[i + 1] - qo[i];
            long keys = ko[i + 1] - ko[i];
            packed.add(new Segment(qo[i], queries, ko[i], keys, Visibility.of(options, queries, keys)));
        }
        rows.add(packed);
        return new BatchVisibility(false, rows, p.batch());
    }

    private static long clamp(int length, long rows) {
        return Math.max(0, Math.min(rows, length));
    }

    /**
     * Whether every batch row has the same visibility (no sequences): masks then have batch dimension 1.
     *
     * @return true without sequences
     */
    public boolean isUniform() {
        return uniform;
    }

    /**
     * Whether every query sees every key.
     *
     * @return true when nothing is hidden anywhere
     */
    public boolean isFull() {
        return uniform && rows.get(0).get(0).band().isFull();
    }

    /**
     * Whether the visibility is exactly PyTorch's {@code is_causal} in every batch row.
     *
     * @return true for the top-left causal band without sequences
     */
    public boolean isTopLeftCausal() {
        return uniform && rows.get(0).get(0).band().isTopLeftCausal();
    }

    /**
     * Whether every query of a tile sees every key of another, in every batch row.
     *
     * @param i0 the first query row
     * @param i1 one past the last query row ({@code > i0})
     * @param j0 the first key row
     * @param j1 one past the last key row ({@code > j0})
     * @return true when no element of the tile is hidden in any batch row
     */
    public boolean allVisible(long i0, long i1, long j0, long j1) {
        for (List<Segment> row : rows) {
            boolean seen = false;
            for (Segment s : row) {
                if (s.covers(i0, i1, j0, j1)
                        && s.band().allVisible(i0 - s.q0(), i1 - s.q0(), j0 - s.k0(), j1 - s.k0())) {
                    seen = true;
                    break;
                }
            }
            if (!seen) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether no query of a tile sees any key of another, in any batch row.
     *
     * @param i0 the first query row
     * @param i1 one past the last query row ({@code > i0})
     * @param j0 the first key row
     * @param j1 one past the last key row ({@code > j0})
     * @return true when every element of the tile is hidden in every batch row
     */
    public boolean noneVisible(long i0, long i1, long j0, long j1) {
        for (List<Segment> row : rows) {
            for (Segment s : row) {
                Part x = s.part(i0, i1, j0, j1);
                if (!x.isEmpty() && !s.band().noneVisible(x.r0(), x.r1(), x.c0(), x.c1())) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * {@code a} with every row that is no segment's token set to 0, for backends built of array operations:
     * padding may hold anything, NaN included, and {@code 0 * NaN} is NaN.
     *
     * @param a a q-, k-, v- or dOut-shaped array, batch first and rows second to last ({@code [B, ..., N, D]})
     * @param queries true for query-side rows, false for key-side rows
     * @return {@code a} itself when {@link #isUniform()} (no padding), else a new array
     */
    public NDArray tokensOnly(NDArray a, boolean queries) {
        if (uniform) {
            return a;
        }
        Shape s = a.getShape();
        int rowAxis = s.dimension() - 2;
        long n = s.get(rowAxis);
        boolean[] tokens = new boolean[Math.toIntExact(rows.size() * n)];
        for (int b = 0; b < rows.size(); b++) {
            for (Segment seg : rows.get(b)) {
                long first = queries ? seg.q0() : seg.k0();
                long count = queries ? seg.queries() : seg.keys();
                for (long i = first; i < first + count; i++) {
                    tokens[Math.toIntExact(b * n + i)] = true;
                }
            }
        }
        long[] shape = new long[s.dimension()];
        Arrays.fill(shape, 1);
        shape[0] = rows.size();
        shape[rowAxis] = n;
        NDArray keep = a.getManager()
                .create(tokens, new Shape(shape))
                .toDevice(a.getDevice(), false)
                .broadcast(s); // DJL's where does not broadcast its condition
        return NDArrays.where(keep, a, a.getManager().zeros(new Shape(), a.getDataType(), a.getDevice()));
    }

    /**
     * The dropout keep mask of a tile ({@link DropoutBits}), each element drawn with its sequence's index and its
     * indices counted from the sequence's first rows; elements outside every sequence are false (they are hidden
     * anyway).
     *
     * @param bits the generator of the call
     * @param headsQ the query heads
     * @param manager the manager of the mask
     * @param device the device of the mask
     * @param i0 the first query row
     * @param i1 one past the last query row
     * @param j0 the first key row
     * @param j1 one past the last key row
     * @return boolean {@code [B, Hq, i1 - i0, j1 - j0]}
     */
    public NDArray keepMask(
            DropoutBits bits, long headsQ, NDManager manager, Device device, long i0, long i1, long j0, long j1) {
        int rowsN = Math.toIntExact(i1 - i0);
        int colsN = Math.toIntExact(j1 - j0);
        // per batch row: each query row's and key row's sequence (-1: none) and index within it
        long[] qs = new long[Math.toIntExact(batch * rowsN)];
        long[] qi = new long[qs.length];
        long[] ks = new long[Math.toIntExact(batch * colsN)];
        long[] kj = new long[ks.length];
        Arrays.fill(qs, -1);
        Arrays.fill(ks, -2); // never equal to a query's -1: rows outside every sequence see nothing
        long seq = 0; // the sequences in order: one per batch row, or the packed segments of row 0
        for (int b = 0; b < batch; b++) {
            for (Segment s : rows.get(uniform ? 0 : b)) {
                Part x = s.part(i0, i1, j0, j1);
                for (long r = x.r0(); r < x.r1(); r++) {
                    qs[(int) (b * rowsN + r + s.q0() - i0)] = seq;
                    qi[(int) (b * rowsN + r + s.q0() - i0)] = r;
                }
                for (long c = x.c0(); c < x.c1(); c++) {
                    ks[(int) (b * colsN + c + s.k0() - j0)] = seq;
                    kj[(int) (b * colsN + c + s.k0() - j0)] = c;
                }
                seq++;
            }
        }
        return bits.keepMask(manager, device, headsQ, batch, qs, qi, ks, kj);
    }

    /**
     * The rule as an element mask, for backends built of array operations.
     *
     * @param manager the manager of the mask
     * @param device the device of the mask
     * @param i0 the first query row
     * @param i1 one past the last query row ({@code > i0})
     * @param j0 the first key row
     * @param j1 one past the last key row ({@code > j0})
     * @return boolean {@code [R, i1 - i0, j1 - j0]}, R = 1 when {@link #isUniform()}, else the batch size: true
     *     where query {@code i0 + r} sees key {@code j0 + c} in batch row R
     */
    public NDArray visibleMask(NDManager manager, Device device, long i0, long i1, long j0, long j1) {
        if (uniform) {
            return rows.get(0)
                    .get(0)
                    .band()
                    .visibleMask(manager, device, i0, i1, j0, j1)
                    .expandDims(0);
        }
        NDArray mask = manager.zeros(new Shape(rows.size(), i1 - i0, j1 - j0), DataType.BOOLEAN, device);
        for (int b = 0; b < rows.size(); b++) {
            for (Segment s : rows.get(b)) {
                Part x = s.part(i0, i1, j0, j1);
                if (x.isEmpty()) {
                    continue;
                }
                long a0 = x.r0() + s.q0() - i0; // the part's place in the tile
                long c0 = x.c0() + s.k0() - j0;
                try (NDArray part = s.band().visibleMask(manager, device, x.r0(), x.r1(), x.c0(), x.c1())) {
                    mask.set(
                            new NDIndex("{}, {}:{}, {}:{}", b, a0, a0 + x.r1() - x.r0(), c0, c0 + x.c1() - x.c0()),
                            part);
                }
            }
        }
        return mask;
    }
}
