package io.flashdjl.reference;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.spi.AttentionProblem;
import io.flashdjl.spi.Visibility;

/** How much of one (query tile, key tile) block the problem's {@link Visibility} lets through. */
enum TileVisibility {
    /** Every query of the tile sees every key of the tile: no mask needed. */
    ALL,
    /** No query sees any key: the tile is skipped. */
    HIDDEN,
    /** Some see, some do not: an element mask is applied. */
    PARTIAL;

    /** Classifies query rows {@code [i0, i1)} against key rows {@code [j0, j1)}. */
    static TileVisibility of(AttentionProblem p, long i0, long i1, long j0, long j1) {
        Visibility visibility = p.visibility();
        if (visibility.allVisible(i0, i1, j0, j1)) {
            return ALL;
        }
        if (visibility.noneVisible(i0, i1, j0, j1)) {
            return HIDDEN;
        }
        return PARTIAL;
    }

    /**
     * {@code [i1 - i0, j1 - j0]} in {@code like}'s dtype: 0 where query i sees key j, {@code -inf} elsewhere,
     * to be added to the scores.
     */
    NDArray scoreBias(AttentionProblem p, NDArray like, long i0, long i1, long j0, long j1) {
        NDArray visible = visibleMask(p, like, i0, i1, j0, j1);
        NDManager m = like.getManager();
        Shape shape = visible.getShape();
        return NDArrays.where(
                visible,
                m.zeros(shape, like.getDataType(), like.getDevice()),
                m.full(shape, Float.NEGATIVE_INFINITY, like.getDataType(), like.getDevice()));
    }

    /** Boolean {@code [i1 - i0, j1 - j0]} on {@code like}'s device: true where query i sees key j. */
    NDArray visibleMask(AttentionProblem p, NDArray like, long i0, long i1, long j0, long j1) {
        return p.visibility().visibleMask(like.getManager(), like.getDevice(), i0, i1, j0, j1);
    }
}
