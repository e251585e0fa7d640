package io.flashdjl.spi;

import io.flashdjl.AttentionMask;

/**
 * Which keys each query sees, as one diagonal band: key {@code j} is visible to query {@code i} when
 * {@code i + lowerOffset <= j <= i + upperOffset} (and {@code 0 <= j < Nk}). Every mask of {@link
 * AttentionMask} is such a band, and so is a sliding window; the CUDA kernels take the same two offsets
 * (their {@code Visibility} type), so this class is the one place where a mask becomes numbers.
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

    /** The band of {@code mask} for {@code seqQ} queries and {@code seqK} keys. */
    public static Visibility of(AttentionMask mask, long seqQ, long seqK) {
        switch (mask) {
            case CAUSAL_TOP_LEFT:
                return new Visibility(seqQ, seqK, -seqQ, 0);
            case CAUSAL_BOTTOM_RIGHT:
                return new Visibility(seqQ, seqK, -seqQ, seqK - seqQ);
            case NONE:
                return new Visibility(seqQ, seqK, -seqQ, seqK);
            default:
                throw new IllegalArgumentException("mask: expected one of NONE, CAUSAL_TOP_LEFT, CAUSAL_BOTTOM_RIGHT"
                        + " but got " + mask);
        }
    }

    /** Query {@code i} sees no key below {@code i + lowerOffset()}; {@code -Nq} when nothing is hidden below. */
    public long lowerOffset() {
        return lowerOffset;
    }

    /** Query {@code i} sees no key above {@code i + upperOffset()}; {@code Nk} when nothing is hidden above. */
    public long upperOffset() {
        return upperOffset;
    }

    /** Whether query {@code i} sees key {@code j} (both in range). */
    public boolean visible(long i, long j) {
        return j >= i + lowerOffset && j <= i + upperOffset;
    }

    /** The first key query {@code i} sees (may be {@code >= endKey(i)}: then it sees none). */
    public long firstKey(long i) {
        return Math.max(0, i + lowerOffset);
    }

    /** One past the last key query {@code i} sees. */
    public long endKey(long i) {
        return Math.min(seqK, i + upperOffset + 1);
    }

    /** Whether every query sees every key. */
    public boolean isFull() {
        return lowerOffset <= -(seqQ - 1) && upperOffset >= seqK - 1;
    }

    @Override
    public String toString() {
        return "Visibility{i" + (lowerOffset < 0 ? " - " + -lowerOffset : " + " + lowerOffset) + " <= j <= i"
                + (upperOffset < 0 ? " - " + -upperOffset : " + " + upperOffset) + ", Nq=" + seqQ + ", Nk=" + seqK
                + "}";
    }
}
