package io.flashdjl.reference;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionBias;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.Precision;
import io.flashdjl.spi.AttentionBackend;
import io.flashdjl.spi.AttentionProblem;
import io.flashdjl.spi.BatchVisibility;
import io.flashdjl.spi.DropoutBits;
import io.flashdjl.spi.OwnedScalar;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The FlashAttention-2 algorithm written with DJL NDArray ops, on any device and dtype.
 *
 * <p>Forward: for each tile of query rows, a loop over key/value tiles keeps a running row maximum
 * {@code m}, a running sum {@code l} and an unnormalised accumulator, rescaling both by {@code
 * exp(m_old - m_new)} whenever the maximum grows; the output is divided by {@code l} once and the
 * log-sum-exp {@code m + log l} is returned. Backward: a first pass over the tiles forms {@code delta_i =
 * sum_j P_ij dP_ij / sum_j P_ij} (equal to {@code rowsum(dO * O)}, but from the same recomputed P and dP as
 * the second pass, so each row of dS sums to zero as in the naive softmax backward), then for each key/value
 * tile and each query tile the probabilities are recomputed from the saved log-sum-exp; in both passes no more
 * than one {@code blockQ x blockK} tile of scores exists at a time.
 *
 * <p>Grouped-query attention uses a broadcasting view ({@code [B, Hkv, G, N, D]}), never a copy of
 * k or v per query head. Arithmetic runs in float32 (float64 for float64 inputs). Being built of
 * engine ops, the forward is also differentiable by the engine's own autograd.
 */
public final class ReferenceBackend implements AttentionBackend {

    /** Public for {@link java.util.ServiceLoader}, which creates the one instance the library uses. */
    public ReferenceBackend() {}

    @Override
    public Backend kind() {
        return Backend.REFERENCE;
    }

    @Override
    public Optional<String> unsupportedReason(AttentionProblem problem) {
        if (problem.options().precision() != Precision.FULL) {
            return Optional.of("REFERENCE computes in the data type; precision "
                    + problem.options().precision() + " runs on the CUDA or SDPA backend");
        }
        return Optional.empty();
    }

    @Override
    public AttentionResult forward(AttentionProblem p) {
        long nq = p.seqQ();
        long nk = p.seqK();
        int blockQ = p.options().referenceBlockQ();
        int blockK = p.options().referenceBlockK();
        double scale = p.scale();
        NDArray output;
        NDArray lse;
        try (NDScope outer = new NDScope()) {
            outer.suppressNotUsedWarning();
            DataType acc = accumulationType(p.dataType());
            BatchVisibility visibility = p.batchVisibility();
            NDArray q = visibility.tokensOnly(grouped(p, p.q()).toType(acc, false), true); // [B, Hkv, G, Nq, D]
            NDArray k = visibility.tokensOnly(kvView(p, p.k()).toType(acc, false), false); // [B, Hkv, 1, Nk, D]
            NDArray v = visibility.tokensOnly(kvView(p, p.v()).toType(acc, false), false); // [B, Hkv, 1, Nk, Dv]
            NDArray zero = scalar(q, 0f);
            NDArray scaleFactor = OwnedScalar.like(q, scale); // autograd keeps it: not q.mul(double)
            Shape rows = new Shape(p.batch(), p.headsKv(), p.groupSize());
            DropoutBits dropout = DropoutBits.of(p.options());
            NDArray bias = biasTerm(p, p.bias(), acc, q);

            List<NDArray> outTiles = new ArrayList<>();
            List<NDArray> lseTiles = new ArrayList<>();
            for (long i0 = 0; i0 < nq; i0 += blockQ) {
                long i1 = Math.min(nq, i0 + blockQ);
                NDArray qi = q.get(":, :, :, {}:{}", i0, i1);
                Shape rowShape = rows.add(i1 - i0);
                NDArray m = q.getManager().full(rowShape, Float.NEGATIVE_INFINITY, acc, q.getDevice());
                NDArray l = q.getManager().zeros(rowShape, acc, q.getDevice());
                NDArray o = q.getManager().zeros(rowShape.add(p.valueDim()), acc, q.getDevice());
                for (long j0 = 0; j0 < nk; j0 += blockK) {
                    long j1 = Math.min(nk, j0 + blockK);
                    TileVisibility vis = TileVisibility.of(visibility, i0, i1, j0, j1);
                    if (vis == TileVisibility.HIDDEN) {
                        continue; // causal: no query of this tile sees any key of that tile
                    }
                    try (NDScope tile = new NDScope()) {
                        tile.suppressNotUsedWarning();
                        NDArray kj = k.get(":, :, :, {}:{}", j0, j1);
                        NDArray vj = v.get(":, :, :, {}:{}", j0, j1);
                        NDArray s = qi.matMul(kj.swapAxes(3, 4)).muli(scaleFactor);
                        if (vis == TileVisibility.PARTIAL) {
                            s = s.add(vis.scoreBias(visibility, q, i0, i1, j0, j1));
                        }
                        if (bias != null) {
                            s = s.add(tile(bias, i0, i1, j0, j1));
                        }
                        NDArray mNew = m.maximum(s.max(new int[] {-1}));
                        // a row with no visible key so far keeps m = -inf; shift it by 0 instead
                        NDArray mShift = NDArrays.where(mNew.isInfinite().logicalNot(), mNew, zero)
                                .expandDims(-1);
                        NDArray pTile = s.sub(mShift).exp();
                        NDArray alpha = m.expandDims(-1).sub(mShift).exp();
                        NDArray lNew = l.mul(alpha.squeeze(-1)).add(pTile.sum(new int[] {-1}));
                        // dropout after the row sums: the softmax (and LSE) is that of the undropped P
                        NDArray pv = dropout == null
                                ? pTile
                                : pTile.mul(dropoutFactor(p, visibility, dropout, q, i0, i1, j0, j1));
                        NDArray oNew = o.mul(alpha).add(pv.matMul(vj));
                        m = keep(m, mNew);
                        l = keep(l, lNew);
                        o = keep(o, oNew);
                    }
                }
                // rows that saw no key: l = 0, o = 0, so divide by 1 and keep o = 0 (no 0/0)
                NDArray lSafe = NDArrays.where(l.gt(zero), l, scalar(q, 1f));
                outTiles.add(o.div(lSafe.expandDims(-1)));
                lseTiles.add(m.add(l.log())); // -inf + log 0 = -inf for rows that saw no key
            }
            NDArray out = joinTiles(outTiles, 3).reshape(p.batch(), p.headsQ(), nq, p.valueDim());
            output = p.fromBhsd(out).toType(p.dataType(), false);
            lse = joinTiles(lseTiles, 3).reshape(p.batch(), p.headsQ(), nq).toType(p.logSumExpType(), false);
            NDScope.unregister(output, lse);
        }
        return new AttentionResult(output, lse, Backend.REFERENCE);
    }

    @Override
    public AttentionGradients backward(AttentionProblem p, NDArray dOut, AttentionResult forward) {
        long nq = p.seqQ();
        long nk = p.seqK();
        int blockQ = p.options().referenceBlockQ();
        int blockK = p.options().referenceBlockK();
        double scale = p.scale();
        NDArray dq;
        NDArray dk;
        NDArray dv;
        NDArray dBias = null;
        try (NDScope outer = new NDScope()) {
            outer.suppressNotUsedWarning();
            DataType acc = accumulationType(p.dataType());
            BatchVisibility visibility = p.batchVisibility();
            NDArray q = visibility.tokensOnly(grouped(p, p.q()).toType(acc, false), true);
            NDArray k = visibility.tokensOnly(kvView(p, p.k()).toType(acc, false), false);
            NDArray v = visibility.tokensOnly(kvView(p, p.v()).toType(acc, false), false);
            NDArray dO = visibility.tokensOnly(grouped(p, dOut).toType(acc, false), true);
            NDArray lse = forward.logSumExp()
                    .reshape(p.batch(), p.headsKv(), p.groupSize(), nq)
                    .toType(acc, false);
            // a row that saw no key has lse = -inf; +inf makes its probabilities exp(s - inf) = 0
            NDArray lseSafe = NDArrays.where(lse.isInfinite().logicalNot(), lse, scalar(q, Float.POSITIVE_INFINITY));
            NDArray scaleFactor = OwnedScalar.like(q, scale); // a recording caller's graph keeps it
            DropoutBits dropout = DropoutBits.of(p.options());
            NDArray bias = biasTerm(p, p.bias(), acc, q);
            boolean biasGradient = p.bias().map(AttentionBias::requiresGradient).orElse(false);
            Recompute tiles = new Recompute(p, visibility, dropout, bias, q, lseSafe, scaleFactor);
            NDArray delta = consistentDelta(tiles, k, v, dO); // [B, Hkv, G, Nq]

            List<NDArray> dqTiles = new ArrayList<>();
            for (long i0 = 0; i0 < nq; i0 += blockQ) {
                long rowsInTile = Math.min(nq, i0 + blockQ) - i0;
                dqTiles.add(q.getManager()
                        .zeros(
                                new Shape(p.batch(), p.headsKv(), p.groupSize(), rowsInTile, p.headDim()),
                                acc,
                                q.getDevice()));
            }
            List<NDArray> dkTiles = new ArrayList<>();
            List<NDArray> dvTiles = new ArrayList<>();
            List<NDArray> dBiasColumns = new ArrayList<>(); // per key tile: dBias of its keys, every row
            for (long j0 = 0; j0 < nk; j0 += blockK) {
                long j1 = Math.min(nk, j0 + blockK);
                NDArray kj = k.get(":, :, :, {}:{}", j0, j1);
                NDArray vj = v.get(":, :, :, {}:{}", j0, j1);
                NDArray dkj = q.getManager()
                        .zeros(new Shape(p.batch(), p.headsKv(), 1, j1 - j0, p.headDim()), acc, q.getDevice());
                NDArray dvj = q.getManager()
                        .zeros(new Shape(p.batch(), p.headsKv(), 1, j1 - j0, p.valueDim()), acc, q.getDevice());
                int tileIndex = 0;
                List<NDArray> dBiasRows = new ArrayList<>();
                for (long i0 = 0; i0 < nq; i0 += blockQ, tileIndex++) {
                    long i1 = Math.min(nq, i0 + blockQ);
                    TileVisibility vis = TileVisibility.of(visibility, i0, i1, j0, j1);
                    if (vis == TileVisibility.HIDDEN) {
                        if (biasGradient) {
                            dBiasRows.add(null); // zero
                        }
                        continue;
                    }
                    try (NDScope tile = new NDScope()) {
                        tile.suppressNotUsedWarning();
                        NDArray qi = q.get(":, :, :, {}:{}", i0, i1);
                        NDArray dOi = dO.get(":, :, :, {}:{}", i0, i1);
                        // the forward's dropout Z (regenerated): dV takes Z P / keep, dS = P (Z dP / keep - delta)
                        TileTerms t = tiles.terms(vis, qi, kj, vj, dOi, i0, i1, j0, j1);
                        NDArray prob = t.prob();
                        NDArray probKept = t.dropout() == null ? prob : prob.mul(t.dropout());
                        NDArray dvNew =
                                dvj.add(probKept.swapAxes(3, 4).matMul(dOi).sum(new int[] {2}, true));
                        NDArray dp = t.dp();
                        NDArray ds = prob.mul(
                                dp.sub(delta.get(":, :, :, {}:{}", i0, i1).expandDims(-1)));
                        if (biasGradient) { // dS summed over what the bias broadcasts
                            NDArray db = reduceTo(ds, bias);
                            NDScope.unregister(db);
                            dBiasRows.add(db);
                        }
                        NDArray dqNew = dqTiles.get(tileIndex).add(ds.matMul(kj).muli(scaleFactor));
                        NDArray dkNew = dkj.add(ds.swapAxes(3, 4)
                                .matMul(qi)
                                .sum(new int[] {2}, true)
                                .muli(scaleFactor));
                        dvj = keep(dvj, dvNew);
                        dkj = keep(dkj, dkNew);
                        dqTiles.set(tileIndex, keep(dqTiles.get(tileIndex), dqNew));
                    }
                }
                dkTiles.add(dkj);
                dvTiles.add(dvj);
                if (biasGradient) {
                    dBiasColumns.add(joinBiasRows(dBiasRows, bias, p, j1 - j0));
                }
            }
            dq = p.fromBhsd(joinTiles(dqTiles, 3).reshape(p.batch(), p.headsQ(), nq, p.headDim()))
                    .toType(p.dataType(), false);
            dk = p.fromBhsd(joinTiles(dkTiles, 3).squeeze(2)).toType(p.dataType(), false);
            dv = p.fromBhsd(joinTiles(dvTiles, 3).squeeze(2)).toType(p.dataType(), false);
            if (biasGradient) {
                NDArray values = p.bias().get().values();
                dBias = joinTiles(dBiasColumns, 3).reshape(values.getShape()).toType(values.getDataType(), false);
                NDScope.unregister(dBias);
            }
            NDScope.unregister(dq, dk, dv);
        }
        return new AttentionGradients(dq, dk, dv, dBias, Backend.REFERENCE);
    }

    /**
     * {@code delta_i = sum_j P_ij dP_ij / sum_j P_ij} over every visible key, {@code [B, Hkv, G, Nq]}: a first
     * pass over the tiles that recomputes P and dP exactly as the main pass does ({@link Recompute#terms}).
     * Why: the naive softmax backward's delta is formed from the same P and dP as its dS, so each row of dS
     * sums to zero in float32 as in exact arithmetic, and gradients that are exactly zero by the softmax's
     * shift invariance (a key projection's bias: {@code sum_j dK_j = scale * sum_i q_i sum_j dS_ij}) come out
     * as small as float32 allows. {@code rowsum(dO * O)}, equal in exact arithmetic, left in each row a residue
     * of the forward's and dP's separate roundings, and so does {@code sum_j P_ij} differing from 1 by the
     * rounding of the saved log-sum-exp: dividing by it (1 in exact arithmetic; with dropout P is the undropped
     * probability and dP carries Z, so the quotient is still {@code dO . O} of the dropped output) makes {@code
     * sum_j P_ij (dP_ij - delta_i)} vanish up to one rounding. Measured on a two-layer GQA decoder (100 seeds):
     * the key biases' error against 2 x naive float32's went from median 0.64, max 1.15 to median 0.42, max
     * 0.59. It also never reads the stored output, whose float16 or bfloat16 rounding would otherwise enter every
     * dS (up to ten times float32's error in dq and dk when few keys cancel, measured at Nq = 1, Nk = 2, D = 80).
     */
    private static NDArray consistentDelta(Recompute tiles, NDArray k, NDArray v, NDArray dO) {
        AttentionProblem p = tiles.p();
        long nq = p.seqQ();
        long nk = p.seqK();
        int blockQ = p.options().referenceBlockQ();
        int blockK = p.options().referenceBlockK();
        NDArray q = tiles.q();
        NDArray zero = scalar(q, 0f);
        NDArray one = scalar(q, 1f);
        List<NDArray> rows = new ArrayList<>();
        for (long i0 = 0; i0 < nq; i0 += blockQ) {
            long i1 = Math.min(nq, i0 + blockQ);
            NDArray qi = q.get(":, :, :, {}:{}", i0, i1);
            NDArray dOi = dO.get(":, :, :, {}:{}", i0, i1);
            Shape rowShape = new Shape(p.batch(), p.headsKv(), p.groupSize(), i1 - i0);
            NDArray pdp = q.getManager().zeros(rowShape, q.getDataType(), q.getDevice()); // sum_j P dP
            NDArray mass = q.getManager().zeros(rowShape, q.getDataType(), q.getDevice()); // sum_j P
            for (long j0 = 0; j0 < nk; j0 += blockK) {
                long j1 = Math.min(nk, j0 + blockK);
                TileVisibility vis = TileVisibility.of(tiles.visibility(), i0, i1, j0, j1);
                if (vis == TileVisibility.HIDDEN) {
                    continue;
                }
                try (NDScope tile = new NDScope()) {
                    tile.suppressNotUsedWarning();
                    NDArray kj = k.get(":, :, :, {}:{}", j0, j1);
                    NDArray vj = v.get(":, :, :, {}:{}", j0, j1);
                    TileTerms t = tiles.terms(vis, qi, kj, vj, dOi, i0, i1, j0, j1);
                    pdp = keep(pdp, pdp.add(t.prob().mul(t.dp()).sum(new int[] {-1})));
                    mass = keep(mass, mass.add(t.prob().sum(new int[] {-1})));
                }
            }
            // a row that saw no key has mass 0 and pdp 0: divide by 1
            NDArray massSafe = NDArrays.where(mass.gt(zero), mass, one);
            rows.add(pdp.div(massSafe));
            pdp.close();
            mass.close();
            massSafe.close();
        }
        NDArray delta = joinTiles(rows, 3);
        if (rows.size() > 1) { // joined into a new array
            rows.forEach(NDArray::close);
        }
        return delta;
    }

    /**
     * What the backward's two passes recompute of a tile, from one place: the grouped inputs in the
     * accumulation type, the saved log-sum-exp (+inf for rows that saw no key) and the bias term.
     */
    private record Recompute(
            AttentionProblem p,
            BatchVisibility visibility,
            DropoutBits dropout,
            NDArray bias,
            NDArray q,
            NDArray lseSafe,
            NDArray scaleFactor) {

        /**
         * The tile of rows [i0, i1) and keys [j0, j1): {@code P = exp(S - lse)} (0 where hidden), the
         * dropout factor Z (null without dropout) and {@code dP = (dO V^T) Z}, so that {@code sum_j P dP} is
         * {@code dO . O} of the dropped output.
         */
        TileTerms terms(
                TileVisibility vis,
                NDArray qi,
                NDArray kj,
                NDArray vj,
                NDArray dOi,
                long i0,
                long i1,
                long j0,
                long j1) {
            DataType acc = q.getDataType();
            NDArray s = qi.matMul(kj.swapAxes(3, 4)).muli(scaleFactor);
            if (bias != null) {
                s = s.add(tile(bias, i0, i1, j0, j1));
            }
            NDArray prob =
                    s.sub(lseSafe.get(":, :, :, {}:{}", i0, i1).expandDims(-1)).exp();
            if (vis == TileVisibility.PARTIAL) {
                prob = prob.mul(vis.visibleMask(visibility, q, i0, i1, j0, j1).toType(acc, false));
            }
            NDArray z = dropout == null ? null : dropoutFactor(p, visibility, dropout, q, i0, i1, j0, j1);
            NDArray dp = dOi.matMul(vj.swapAxes(3, 4));
            if (z != null) {
                dp = dp.mul(z);
            }
            return new TileTerms(prob, z, dp);
        }
    }

    /** A tile's recomputed probabilities, its dropout factor (null without dropout) and its dP. */
    private record TileTerms(NDArray prob, NDArray dropout, NDArray dp) {}

    /**
     * The dropout of a tile as a factor, {@code [B, Hkv, G, rows, keys]} in {@code like}'s dtype: {@code 256 /
     * threshold} where {@link DropoutBits} keeps the element, 0 where it drops it.
     */
    private static NDArray dropoutFactor(
            AttentionProblem p,
            BatchVisibility visibility,
            DropoutBits dropout,
            NDArray like,
            long i0,
            long i1,
            long j0,
            long j1) {
        NDArray keep = visibility.keepMask(dropout, p.headsQ(), like.getManager(), like.getDevice(), i0, i1, j0, j1);
        return keep.toType(like.getDataType(), false)
                .mul(dropout.scale())
                .reshape(p.batch(), p.headsKv(), p.groupSize(), i1 - i0, j1 - j0);
    }

    /**
     * The tiles joined along {@code axis}. One tile is returned as it is: DJL's concat of a single array is a
     * copy made with the engine's recording off, which would cut the result out of the autograd graph (no
     * gradient, or "does not require grad", under DJL's own collector whenever the queries fit in one tile).
     */
    private static NDArray joinTiles(List<NDArray> tiles, int axis) {
        return tiles.size() == 1 ? tiles.get(0) : NDArrays.concat(new NDList(tiles), axis);
    }

    /**
     * The score bias as an additive term in the accumulation type, {@code [Bb, Hkv or 1, G or 1, Rb, Nk]} (the
     * grouped layout of the scores, 1 where the bias broadcasts); a boolean mask becomes 0 (kept) and {@code
     * -inf} (hidden). Null without a bias. Under the engine's autograd the term stays in the graph of the bias.
     */
    private static NDArray biasTerm(AttentionProblem p, Optional<AttentionBias> bias, DataType acc, NDArray like) {
        if (bias.isEmpty()) {
            return null;
        }
        Shape s = bias.get().shape4();
        NDArray values = bias.get().values().reshape(s);
        NDManager m = like.getManager();
        NDArray additive = bias.get().isMask() // DJL's where does not broadcast: full-size branches
                ? NDArrays.where(
                        values,
                        m.zeros(s, acc, like.getDevice()),
                        m.full(s, Float.NEGATIVE_INFINITY, acc, like.getDevice()))
                : values.toType(acc, false);
        return s.get(1) == 1
                ? additive.expandDims(1) // [Bb, 1, 1, Rb, Nk]
                : additive.reshape(s.get(0), p.headsKv(), p.groupSize(), s.get(2), s.get(3));
    }

    /** The bias term of the tile of rows [i0, i1) and keys [j0, j1) (all its rows when they broadcast). */
    private static NDArray tile(NDArray bias, long i0, long i1, long j0, long j1) {
        return bias.getShape().get(3) == 1
                ? bias.get(":, :, :, :, {}:{}", j0, j1)
                : bias.get(":, :, :, {}:{}, {}:{}", i0, i1, j0, j1);
    }

    /** A tile's dS {@code [B, Hkv, G, rows, keys]} summed over the dimensions the bias broadcasts. */
    private static NDArray reduceTo(NDArray ds, NDArray bias) {
        Shape b = bias.getShape();
        Shape d = ds.getShape();
        List<Integer> axes = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            if (b.get(i) == 1 && d.get(i) != 1) {
                axes.add(i);
            }
        }
        return axes.isEmpty()
                ? ds
                : ds.sum(axes.stream().mapToInt(Integer::intValue).toArray(), true);
    }

    /**
     * One key tile's dBias, {@code [Bb, Hb, Rb, keys]}: its row tiles joined (or summed, when the bias's rows
     * broadcast); a null tile (hidden) is zero.
     */
    private static NDArray joinBiasRows(List<NDArray> rows, NDArray bias, AttentionProblem p, long keys) {
        Shape b = bias.getShape(); // [Bb, Hkv or 1, G or 1, Rb, Nk]
        long heads = b.get(1) * b.get(2);
        NDManager m = bias.getManager();
        boolean rowsBroadcast = b.get(3) == 1;
        NDArray result = null;
        List<NDArray> parts = new ArrayList<>();
        int blockQ = p.options().referenceBlockQ();
        for (int t = 0; t < rows.size(); t++) {
            NDArray r = rows.get(t);
            if (r == null) {
                long n = rowsBroadcast ? 1 : Math.min(p.seqQ(), (long) (t + 1) * blockQ) - (long) t * blockQ;
                r = m.zeros(new Shape(b.get(0), b.get(1), b.get(2), n, keys), bias.getDataType(), bias.getDevice());
            }
            if (rowsBroadcast) {
                result = result == null ? r : result.add(r);
            } else {
                parts.add(r);
            }
        }
        NDArray joined = rowsBroadcast ? result : joinTiles(parts, 3);
        return joined.reshape(b.get(0), heads, joined.getShape().get(3), keys);
    }

    /** float64 stays float64; every other float type computes in float32. */
    static DataType accumulationType(DataType input) {
        return input == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32;
    }

    /** q-shaped {@code [B, Hq, N, D]} (any layout) as {@code [B, Hkv, G, N, D]}: query head h is (h / G, h % G). */
    private static NDArray grouped(AttentionProblem p, NDArray a) {
        NDArray bhsd = p.toBhsd(a);
        Shape s = bhsd.getShape();
        return bhsd.reshape(s.get(0), p.headsKv(), p.groupSize(), s.get(2), s.get(3));
    }

    /** k- or v-shaped input as {@code [B, Hkv, 1, N, D]}, broadcasting over the group. */
    private static NDArray kvView(AttentionProblem p, NDArray a) {
        return p.toBhsd(a).expandDims(2);
    }

    private static NDArray scalar(NDArray like, float value) {
        NDManager m = like.getManager();
        return m.full(new Shape(), value, like.getDataType(), like.getDevice());
    }

    /**
     * Moves {@code fresh} out of the current tile's scope (it outlives the tile) and frees the
     * value it replaces.
     */
    private static NDArray keep(NDArray old, NDArray fresh) {
        NDScope.unregister(fresh);
        old.close();
        return fresh;
    }
}
