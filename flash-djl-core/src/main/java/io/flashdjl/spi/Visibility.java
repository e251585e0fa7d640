package io.flashdjl.spi;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flashdjl.AttentionMask;
import io.flashdjl.AttentionOptions;

/**
 * Which keys each query sees, as one diagonal band: key {@code j} is visible to query {@code i} when
 * {@code i + lowerOffset <= j <= i + upperOffset} (and {@code 0 <= j < Nk}). Every mask of {@link
 * AttentionMask} is such a band, and so is a sliding window; the CUDA kernels take the same two offsets
 * (their {@code Visibility} type). This class is the one place in Java where a mask becomes numbers: the
 * backends classify tiles and build element masks with it rather than restating the rule.
 *
 * <p>The offsets are clamped to {@code [-Nq, Nk]}: a bound that hides nothing is stored as that limit,
 * so sums such as {@code i + upperOffset} never overflow.
 */
public final class Visibility {

    private final long seqQ;
    private final long seqK;
    private final long lowerOffset;
    private final long upperOffset;

    private Visibility(long seqQ, long seqK, long lowerOffset, long upperOffset) {
        this.seqQ = seqQ;
        this.seqK = seqK;
        this.lowerOffset = Math.max(-seqQ, Math.min(seqK, lowerOffset));
        this.upperOffset = Math.max(-seqQ, Math.min(seqK, upperOffset));
    }

    /**
     * The band of a mask.
     *
     * @param mask the mask
     * @param seqQ the number of queries {@code Nq}
     * @param seqK the number of keys {@code Nk}
     * @return the band of {@code mask} for {@code seqQ} queries and {@code seqK} keys
     * @throws IllegalArgumentException if {@code mask} is null
     */
    public static Visibility of(AttentionMask mask, long seqQ, long seqK) {
        if (mask == null) {
            throw new IllegalArgumentException(
                    "mask: expected one of NONE, CAUSAL_TOP_LEFT, CAUSAL_BOTTOM_RIGHT" + " but got null");
        }
        switch (mask) {
            case CAUSAL_TOP_LEFT:
                return new Visibility(seqQ, seqK, -seqQ, 0);
            case CAUSAL_BOTTOM_RIGHT:
                return new Visibility(seqQ, seqK, -seqQ, seqK - seqQ);
            default:
                return new Visibility(seqQ, seqK, -seqQ, seqK);
        }
    }

    /**
     * The band of a call's options: its mask narrowed by its sliding window, if one is set (around the
     * mask's diagonal: {@code j = i}, or {@code j = i + Nk - Nq} for {@link AttentionMask#CAUSAL_BOTTOM_RIGHT}).
     *
     * @param options the options of the call
     * @param seqQ the number of queries {@code Nq}
     * @param seqK the number of keys {@code Nk}
     * @return the band for {@code seqQ} queries and {@code seqK} keys
     */
    public static Visibility of(AttentionOptions options, long seqQ, long seqK) {
        Visibility mask = of(options.mask(), seqQ, seqK);
        long diagonal = options.mask() == AttentionMask.CAUSAL_BOTTOM_RIGHT ? seqK - seqQ : 0;
        long lower = options.windowLeft() < 0 ? mask.lowerOffset : diagonal - options.windowLeft();
        long upper = options.windowRight() < 0 ? mask.upperOffset : diagonal + options.windowRight();
        return new Visibility(seqQ, seqK, Math.max(lower, mask.lowerOffset), Math.min(upper, mask.upperOffset));
    }

    /**
     * The lower edge of the band.
     *
     * @return the offset below which query {@code i} sees no key ({@code j < i + lowerOffset()} is hidden);
     *     {@code -Nq} when nothing is hidden below
     */
    public long lowerOffset() {
        return lowerOffset;
    }

    /**
     * The upper edge of the band.
     *
     * @return the offset above which query {@code i} sees no key ({@code j > i + upperOffset()} is hidden);
     *     {@code Nk} when nothing is hidden above
     */
    public long upperOffset() {
        return upperOffset;
    }

    /**
     * The rule itself.
     *
     * @param i a query index in {@code [0, Nq)}
     * @param j a key index in {@code [0, Nk)}
     * @return whether query {@code i} sees key {@code j}
     */
    public boolean visible(long i, long j) {
        return j - i >= lowerOffset && j - i <= upperOffset;
    }

    /**
     * The first key a query sees.
     *
     * @param i a query index
     * @return the first key query {@code i} sees; at or past {@link #endKey} when it sees none
     */
    public long firstKey(long i) {
        return Math.max(0, i + lowerOffset);
    }

    /**
     * One past the last key a query sees.
     *
     * @param i a query index
     * @return one past the last key query {@code i} sees
     */
    public long endKey(long i) {
        return Math.min(seqK, i + upperOffset + 1);
    }

    /**
     * Whether every query sees every key.
     *
     * @return true when the band hides nothing
     */
    public boolean isFull() {
        return allVisible(0, seqQ, 0, seqK);
    }

    /**
     * Whether the band hides some query's keys below it, as a sliding window does.
     *
     * @return true when a key left of some query's band is hidden
     */
    public boolean hasLowerEdge() {
        return seqQ - 1 + lowerOffset > 0;
    }

    /**
     * Whether the band is exactly PyTorch's {@code is_causal}: query {@code i} sees keys {@code j <= i}, and
     * nothing is hidden below.
     *
     * @return true for the top-left causal band
     */
    public boolean isTopLeftCausal() {
        // with a single key, any band that shows it to every query is also j <= i
        return lowerOffset <= -(seqQ - 1) && (upperOffset == 0 || seqK == 1 && upperOffset > 0);
    }

    /**
     * Whether every query of a tile sees every key of another.
     *
     * @param i0 the first query row
     * @param i1 one past the last query row ({@code > i0})
     * @param j0 the first key row
     * @param j1 one past the last key row ({@code > j0})
     * @return true when no element of the tile is hidden
     */
    public boolean allVisible(long i0, long i1, long j0, long j1) {
        // the hardest pairs: the last query against the first key, the first query against the last key
        return visible(i1 - 1, j0) && visible(i0, j1 - 1);
    }

    /**
     * Whether no query of a tile sees any key of another.
     *
     * @param i0 the first query row
     * @param i1 one past the last query row ({@code > i0})
     * @param j0 the first key row
     * @param j1 one past the last key row ({@code > j0})
     * @return true when every element of the tile is hidden
     */
    public boolean noneVisible(long i0, long i1, long j0, long j1) {
        // j - i over the tile spans [j0 - (i1 - 1), (j1 - 1) - i0]; the band needs [lowerOffset, upperOffset]
        return lowerOffset > upperOffset || j1 - 1 - i0 < lowerOffset || j0 - (i1 - 1) > upperOffset;
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
     * @return boolean {@code [i1 - i0, j1 - j0]}: true where query {@code i0 + r} sees key {@code j0 + c}
     */
    public NDArray visibleMask(NDManager manager, Device device, long i0, long i1, long j0, long j1) {
        NDArray queries = manager.arange(Math.toIntExact(i0), Math.toIntExact(i1), 1, DataType.INT64, device)
                .reshape(i1 - i0, 1);
        NDArray keys = manager.arange(Math.toIntExact(j0), Math.toIntExact(j1), 1, DataType.INT64, device)
                .reshape(1, j1 - j0);
        NDArray distance = keys.sub(queries); // j - i
        return distance.gte(lowerOffset).logicalAnd(distance.lte(upperOffset));
    }

    @Override
    public String toString() {
        return "Visibility{i" + (lowerOffset < 0 ? " - " + -lowerOffset : " + " + lowerOffset) + " <= j <= i"
                + (upperOffset < 0 ? " - " + -upperOffset : " + " + upperOffset) + ", Nq=" + seqQ + ", Nk=" + seqK
                + "}";
    }
}
