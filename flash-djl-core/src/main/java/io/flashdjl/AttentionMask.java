package io.flashdjl;

/**
 * Which keys each query may see.
 *
 * <p>With {@code Nq} queries and {@code Nk} keys, query {@code i} sees key {@code j} when:
 *
 * <ul>
 *   <li>{@link #NONE}: always;
 *   <li>{@link #CAUSAL_TOP_LEFT}: {@code j <= i}, exactly PyTorch's {@code is_causal=True};
 *   <li>{@link #CAUSAL_BOTTOM_RIGHT}: {@code j <= i + Nk - Nq}, the last query sees every key
 *       (decoding new tokens against a cache).
 * </ul>
 *
 * <p>A query row that sees no key at all (top-left with {@code Nq > Nk} never has one; bottom-right
 * with {@code Nq > Nk} has {@code Nq - Nk} of them) gets output 0, log-sum-exp {@code -inf} and
 * zero gradients, never NaN.
 */
public enum AttentionMask {
    NONE,
    CAUSAL_TOP_LEFT,
    CAUSAL_BOTTOM_RIGHT;

    /** Whether any key is hidden from any query. */
    public boolean isCausal() {
        return this != NONE;
    }

    /**
     * The largest key index visible to query {@code i} is {@code i + diagonalOffset}.
     *
     * @return the offset, or {@link Integer#MAX_VALUE} for {@link #NONE}
     */
    public long diagonalOffset(long queryLength, long keyLength) {
        switch (this) {
            case CAUSAL_TOP_LEFT:
                return 0;
            case CAUSAL_BOTTOM_RIGHT:
                return keyLength - queryLength;
            default:
                return Integer.MAX_VALUE;
        }
    }
}
