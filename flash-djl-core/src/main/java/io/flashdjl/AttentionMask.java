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
 * <p>{@code io.flashdjl.spi.Visibility} turns a mask and the two sequence lengths into the band of
 * visible keys that every backend uses.
 *
 * <p>A query row that sees no key at all (top-left with {@code Nq > Nk} never has one; bottom-right
 * with {@code Nq > Nk} has {@code Nq - Nk} of them) gets output 0, log-sum-exp {@code -inf} and
 * zero gradients, never NaN.
 */
public enum AttentionMask {
    /** Every query sees every key. */
    NONE,
    /** Query {@code i} sees keys {@code j <= i}: PyTorch's {@code is_causal=True}. */
    CAUSAL_TOP_LEFT,
    /** Query {@code i} sees keys {@code j <= i + Nk - Nq}: the last query sees every key. */
    CAUSAL_BOTTOM_RIGHT;

    /**
     * Whether any key is hidden from any query (for some sequence lengths).
     *
     * @return false for {@link #NONE} only
     */
    public boolean isCausal() {
        return this != NONE;
    }
}
