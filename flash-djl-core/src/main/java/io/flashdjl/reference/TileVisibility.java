package io.flashdjl.reference;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.spi.BatchVisibility;

/** How much of one (query tile, key tile) block the problem's {@link BatchVisibility} lets through. */
enum TileVisibility {
    /** Every query of the tile sees every key of the tile: no mask needed. */
    ALL,
    /** No query sees any key: the tile is skipped. */
    HIDDEN,
    /** Some see, some do not: an element mask is applied. */
    PARTIAL;

    /** Classifies query rows {@code [i0, i1)} against key rows {@code [j0, j1)}, over every batch row. */
    static TileVisibility of(BatchVisibility visibility, long i0, long i1, long j0, long j1) {
        if (visibility.allVisible(i0, i1, j0, j1)) {
            return ALL;
        }
        if (visibility.noneVisible(i0, i1, j0, j1)) {
            return HIDDEN;
        }
        return PARTIAL;
    }

    /**
     * {@code [R, 1, 1, i1 - i0, j1 - j0]} in {@code like}'s dtype (R: 1 or the batch size): 0 where query i sees
     * key j, {@code -inf} elsewhere, to be added to the {@code [B, Hkv, G, rows, keys]} scores.
     */
    NDArray scoreBias(BatchVisibility visibility, NDArray like, long i0, long i1, long j0, long j1) {
        NDArray visible = visibleMask(visibility, like, i0, i1, j0, j1);
        NDManager m = like.getManager();
        Shape shape = visible.getShape();
        return NDArrays.where(
                visible,
                m.zeros(shape, like.getDataType(), like.getDevice()),
                m.full(shape, Float.NEGATIVE_INFINITY, like.getDataType(), like.getDevice()));
    }

    /**
     * Boolean {@code [R, 1, 1, i1 - i0, j1 - j0]} on {@code like}'s device (R: 1 or the batch size): true where
     * query i sees key j.
     */
    NDArray visibleMask(BatchVisibility visibility, NDArray like, long i0, long i1, long j0, long j1) {
        NDArray mask = visibility.visibleMask(like.getManager(), like.getDevice(), i0, i1, j0, j1);
        return mask.reshape(mask.getShape().get(0), 1, 1, i1 - i0, j1 - j0);
    }
}
