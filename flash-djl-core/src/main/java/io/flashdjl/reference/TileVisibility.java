package io.flashdjl.reference;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.DataType;
import io.flashdjl.AttentionMask;
import io.flashdjl.spi.AttentionProblem;

/** How much of one (query tile, key tile) block the mask lets through. */
enum TileVisibility {
    /** Every query of the tile sees every key of the tile: no mask needed. */
    ALL,
    /** No query sees any key: the tile is skipped. */
    HIDDEN,
    /** Some see, some do not: an element mask is applied. */
    PARTIAL;

    /** Classifies query rows {@code [i0, i1)} against key rows {@code [j0, j1)}. */
    static TileVisibility of(AttentionProblem p, long i0, long i1, long j0, long j1) {
        AttentionMask mask = p.options().mask();
        if (!mask.isCausal()) {
            return ALL;
        }
        long offset = mask.diagonalOffset(p.seqQ(), p.seqK());
        if (j1 - 1 <= i0 + offset) {
            return ALL;
        }
        if (j0 > i1 - 1 + offset) {
            return HIDDEN;
        }
        return PARTIAL;
    }

    /**
     * {@code [i1 - i0, j1 - j0]} in {@code like}'s dtype: 0 where query i sees key j ({@code j <= i +
     * offset}), {@code -inf} elsewhere, to be added to the scores.
     */
    NDArray scoreBias(AttentionProblem p, NDArray like, long i0, long i1, long j0, long j1) {
        NDArray visible = visibleMask(p, like, i0, i1, j0, j1);
        NDManager m = like.getManager();
        Shape shape = visible.getShape();
        return NDArrays.where(visible,
                m.zeros(shape, like.getDataType(), like.getDevice()),
                m.full(shape, Float.NEGATIVE_INFINITY, like.getDataType(), like.getDevice()));
    }

    /** Boolean {@code [i1 - i0, j1 - j0]}: true where query i sees key j, i.e. {@code j <= i + offset}. */
    NDArray visibleMask(AttentionProblem p, NDArray like, long i0, long i1, long j0, long j1) {
        long offset = p.options().mask().diagonalOffset(p.seqQ(), p.seqK());
        NDManager m = like.getManager();
        NDArray lastVisibleKey = m.arange((int) (i0 + offset), (int) (i1 + offset), 1, DataType.INT64)
                .reshape(i1 - i0, 1);
        NDArray keys = m.arange((int) j0, (int) j1, 1, DataType.INT64).reshape(1, j1 - j0);
        return keys.lte(lastVisibleKey).toDevice(like.getDevice(), false);
    }
}
