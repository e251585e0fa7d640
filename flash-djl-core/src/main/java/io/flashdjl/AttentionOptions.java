package io.flashdjl;

import java.util.Objects;
import java.util.OptionalDouble;

/**
 * Immutable options of one attention call. Build with {@link #builder()}; the defaults are no mask,
 * scale {@code 1/sqrt(D)}, {@link Backend#AUTO}, {@link Layout#BHSD}, {@link Precision#FULL},
 * non-deterministic backward, no dropout, reference tiles of 64 queries by 64 keys.
 *
 * <pre>{@code
 * AttentionOptions opts = AttentionOptions.builder().optCausal(true).optBackend(Backend.CUDA).build();
 * }</pre>
 */
public final class AttentionOptions {

    /** The options used when none are given: full (non-causal) attention, everything default. */
    public static final AttentionOptions DEFAULT = builder().build();

    private final AttentionMask mask;
    private final int windowLeft;
    private final int windowRight;
    private final Double scale;
    private final Backend backend;
    private final Layout layout;
    private final Precision precision;
    private final boolean deterministic;
    private final int referenceBlockQ;
    private final int referenceBlockK;
    private final double dropoutRate;
    private final long dropoutSeed;
    private final int dropoutOffset;

    private AttentionOptions(Builder b) {
        this.mask = b.mask;
        this.windowLeft = b.windowLeft;
        this.windowRight = b.windowRight;
        this.scale = b.scale;
        this.backend = b.backend;
        this.layout = b.layout;
        this.precision = b.precision;
        this.deterministic = b.deterministic;
        this.referenceBlockQ = b.referenceBlockQ;
        this.referenceBlockK = b.referenceBlockK;
        this.dropoutRate = b.dropoutRate;
        this.dropoutSeed = b.dropoutSeed;
        this.dropoutOffset = b.dropoutOffset;
    }

    /**
     * A builder with the default options.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * A builder holding these options, to change a few.
     *
     * @return a new builder with these options
     */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.mask = mask;
        b.windowLeft = windowLeft;
        b.windowRight = windowRight;
        b.scale = scale;
        b.backend = backend;
        b.layout = layout;
        b.precision = precision;
        b.deterministic = deterministic;
        b.referenceBlockQ = referenceBlockQ;
        b.referenceBlockK = referenceBlockK;
        b.dropoutRate = dropoutRate;
        b.dropoutSeed = dropoutSeed;
        b.dropoutOffset = dropoutOffset;
        return b;
    }

    /**
     * The dropout rate on the attention probabilities.
     *
     * @return the rate set by {@link Builder#optDropout}, 0 without dropout
     */
    public double dropoutRate() {
        return dropoutRate;
    }

    /**
     * The seed of the dropout generator.
     *
     * @return the seed set by {@link Builder#optDropout}
     */
    public long dropoutSeed() {
        return dropoutSeed;
    }

    /**
     * The offset of the dropout generator: calls with one seed and different offsets draw independent bits.
     *
     * @return the offset set by {@link Builder#optDropout}
     */
    public int dropoutOffset() {
        return dropoutOffset;
    }

    /**
     * Which keys each query may see.
     *
     * @return the mask
     */
    public AttentionMask mask() {
        return mask;
    }

    /**
     * Keys a query sees before its diagonal, when a sliding window is set.
     *
     * @return the left width of the window, or -1 for no bound (the default)
     * @see Builder#optSlidingWindow(int, int)
     */
    public int windowLeft() {
        return windowLeft;
    }

    /**
     * Keys a query sees after its diagonal, when a sliding window is set.
     *
     * @return the right width of the window, or -1 for no bound (the default)
     * @see Builder#optSlidingWindow(int, int)
     */
    public int windowRight() {
        return windowRight;
    }

    /**
     * Whether any causal mask is set.
     *
     * @return true unless the mask is {@link AttentionMask#NONE}
     */
    public boolean isCausal() {
        return mask.isCausal();
    }

    /**
     * The softmax scale, if one was set.
     *
     * @return the scale, or empty for {@code 1/sqrt(D)}
     */
    public OptionalDouble scale() {
        return scale == null ? OptionalDouble.empty() : OptionalDouble.of(scale);
    }

    /**
     * The scale for one head dimension.
     *
     * @param headDim the head dimension of q and k
     * @return the scale set, else {@code 1/sqrt(headDim)}
     */
    public double scaleFor(long headDim) {
        return scale != null ? scale : 1.0 / Math.sqrt(headDim);
    }

    /**
     * Which backend computes attention.
     *
     * @return the backend (AUTO by default)
     */
    public Backend backend() {
        return backend;
    }

    /**
     * How the dimensions of q, k, v and the output are ordered.
     *
     * @return the layout (BHSD by default)
     */
    public Layout layout() {
        return layout;
    }

    /**
     * How precisely the products are computed.
     *
     * @return the precision (FULL by default)
     */
    public Precision precision() {
        return precision;
    }

    /**
     * Whether backward must give the same bits on every run (CUDA: no atomic adds).
     *
     * @return true for a deterministic backward
     */
    public boolean deterministic() {
        return deterministic;
    }

    /**
     * Query rows per tile of the REFERENCE backend.
     *
     * @return the rows (64 by default)
     */
    public int referenceBlockQ() {
        return referenceBlockQ;
    }

    /**
     * Key rows per tile of the REFERENCE backend.
     *
     * @return the rows (64 by default)
     */
    public int referenceBlockK() {
        return referenceBlockK;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof AttentionOptions)) {
            return false;
        }
        AttentionOptions that = (AttentionOptions) o;
        return mask == that.mask
                && windowLeft == that.windowLeft
                && windowRight == that.windowRight
                && Objects.equals(scale, that.scale)
                && backend == that.backend
                && layout == that.layout
                && precision == that.precision
                && deterministic == that.deterministic
                && referenceBlockQ == that.referenceBlockQ
                && referenceBlockK == that.referenceBlockK
                && dropoutRate == that.dropoutRate
                && dropoutSeed == that.dropoutSeed
                && dropoutOffset == that.dropoutOffset;
    }

    @Override
    public int hashCode() {
        return Objects.hash(
                mask,
                windowLeft,
                windowRight,
                scale,
                backend,
                layout,
                precision,
                deterministic,
                referenceBlockQ,
                referenceBlockK,
                dropoutRate,
                dropoutSeed,
                dropoutOffset);
    }

    @Override
    public String toString() {
        return "AttentionOptions{mask=" + mask
                + (windowLeft < 0 && windowRight < 0 ? "" : ", window=(" + windowLeft + ", " + windowRight + ")")
                + ", scale=" + (scale == null ? "1/sqrt(D)" : scale)
                + ", backend=" + backend + ", layout=" + layout + ", precision=" + precision
                + ", deterministic=" + deterministic
                + (dropoutRate == 0
                        ? ""
                        : ", dropout=" + dropoutRate + " (seed " + dropoutSeed + ", offset " + dropoutOffset + ")")
                + ", referenceTile=" + referenceBlockQ + "x" + referenceBlockK + "}";
    }

    /** Builds {@link AttentionOptions}; every setter checks its argument at once. */
    public static final class Builder {
        private AttentionMask mask = AttentionMask.NONE;
        private int windowLeft = -1;
        private int windowRight = -1;
        private Double scale;
        private Backend backend = Backend.AUTO;
        private Layout layout = Layout.BHSD;
        private Precision precision = Precision.FULL;
        private boolean deterministic;
        private int referenceBlockQ = 64;
        private int referenceBlockK = 64;
        private double dropoutRate;
        private long dropoutSeed;
        private int dropoutOffset;

        private Builder() {}

        /**
         * Sets dropout on the attention probabilities, as FlashAttention-2 has it: after the softmax, each
         * probability is kept with probability {@code 1 - rate} and then scaled by the inverse of that
         * probability. The bits come from a counter-based generator keyed by the seed and offset
         * ({@code io.flashdjl.spi.DropoutBits}), regenerated by the backward pass and never stored; the same
         * seed and offset give the same bits on every backend that takes dropout (CUDA, REFERENCE). The keep
         * probability is quantised to 256ths, as FlashAttention-2's. Calls of one training step need distinct
         * offsets (or seeds); the forward and backward of one call need the same.
         *
         * @param rate the dropout rate, in {@code [0, 1)}; 0 turns dropout off
         * @param seed the generator's seed
         * @param offset the generator's offset
         * @return this builder
         * @throws IllegalArgumentException if the rate is outside {@code [0, 1)}
         */
        public Builder optDropout(double rate, long seed, int offset) {
            if (!(rate >= 0 && rate < 1)) {
                throw new IllegalArgumentException("dropout: expected a rate in [0, 1) but got " + rate);
            }
            this.dropoutRate = rate;
            this.dropoutSeed = seed;
            this.dropoutOffset = offset;
            return this;
        }

        /**
         * Sets a top-left causal mask or none.
         *
         * @param causal {@code true}: top-left causal mask, exactly SDPA's {@code is_causal}; {@code false}: no mask
         * @return this builder
         */
        public Builder optCausal(boolean causal) {
            this.mask = causal ? AttentionMask.CAUSAL_TOP_LEFT : AttentionMask.NONE;
            return this;
        }

        /**
         * Sets the bottom-right causal mask: query i sees keys {@code j <= i + Nk - Nq} (decoding with a cache).
         *
         * @return this builder
         */
        public Builder optCausalBottomRight() {
            this.mask = AttentionMask.CAUSAL_BOTTOM_RIGHT;
            return this;
        }

        /**
         * Sets the mask.
         *
         * @param mask the mask (default {@link AttentionMask#NONE})
         * @return this builder
         * @throws IllegalArgumentException if it is null
         */
        public Builder optMask(AttentionMask mask) {
            if (mask == null) {
                throw new IllegalArgumentException(
                        "mask: expected one of NONE, CAUSAL_TOP_LEFT, CAUSAL_BOTTOM_RIGHT but got null");
            }
            this.mask = mask;
            return this;
        }

        /**
         * Sets a sliding (local) window around each query's diagonal, as FlashAttention-2's {@code window_size}:
         * query {@code i} sees key {@code j} only when {@code c(i) - left <= j <= c(i) + right}, where the
         * diagonal {@code c(i)} is {@code i}, or {@code i + Nk - Nq} with {@link #optCausalBottomRight()}. The
         * window narrows the mask: with a causal mask, keys after the diagonal stay hidden whatever {@code right}
         * is. A query that sees no key gets output 0 and log-sum-exp {@code -inf}.
         *
         * @param left keys before the diagonal, at least 0, or -1 for no bound
         * @param right keys after the diagonal, at least 0, or -1 for no bound
         * @return this builder
         * @throws IllegalArgumentException if either is below -1
         */
        public Builder optSlidingWindow(int left, int right) {
            if (left < -1 || right < -1) {
                throw new IllegalArgumentException("slidingWindow: expected left and right >= 0, or -1 for no bound,"
                        + " but got (" + left + ", " + right + ")");
            }
            this.windowLeft = left;
            this.windowRight = right;
            return this;
        }

        /**
         * Sets the softmax scale applied to {@code q·k}.
         *
         * @param scale a finite number above 0 (default {@code 1/sqrt(D)})
         * @return this builder
         * @throws IllegalArgumentException if it is not finite or not positive
         */
        public Builder optScale(double scale) {
            if (!Double.isFinite(scale) || scale <= 0) {
                throw new IllegalArgumentException("scale: expected a finite number > 0 but got " + scale);
            }
            this.scale = scale;
            return this;
        }

        /**
         * Goes back to the default scale {@code 1/sqrt(D)}.
         *
         * @return this builder
         */
        public Builder optDefaultScale() {
            this.scale = null;
            return this;
        }

        /**
         * Sets the backend.
         *
         * @param backend the backend (default AUTO)
         * @return this builder
         * @throws IllegalArgumentException if it is null
         */
        public Builder optBackend(Backend backend) {
            if (backend == null) {
                throw new IllegalArgumentException("backend: expected one of AUTO, CUDA, REFERENCE, SDPA but got null");
            }
            this.backend = backend;
            return this;
        }

        /**
         * Sets the backend by name.
         *
         * @param backend AUTO, CUDA, REFERENCE or SDPA, in any case
         * @return this builder
         * @throws IllegalArgumentException if it names no backend
         * @see Backend#parse(String)
         */
        public Builder optBackend(String backend) {
            return optBackend(Backend.parse(backend));
        }

        /**
         * Sets the layout.
         *
         * @param layout the layout (default BHSD)
         * @return this builder
         * @throws IllegalArgumentException if it is null
         */
        public Builder optLayout(Layout layout) {
            if (layout == null) {
                throw new IllegalArgumentException("layout: expected one of BHSD, BSHD but got null");
            }
            this.layout = layout;
            return this;
        }

        /**
         * Sets the layout by name.
         *
         * @param layout BHSD or BSHD, in any case
         * @return this builder
         * @throws IllegalArgumentException if it names no layout
         * @see Layout#parse(String)
         */
        public Builder optLayout(String layout) {
            return optLayout(Layout.parse(layout));
        }

        /**
         * Sets how precisely the products are computed.
         *
         * @param precision {@link Precision#FULL} (default) or, for float32 data, {@link Precision#BFLOAT16}
         * @return this builder
         * @throws IllegalArgumentException if it is null
         */
        public Builder optPrecision(Precision precision) {
            if (precision == null) {
                throw new IllegalArgumentException("precision: expected one of FULL, BFLOAT16 but got null");
            }
            this.precision = precision;
            return this;
        }

        /**
         * Sets the precision by name.
         *
         * @param precision FULL or BFLOAT16, in any case
         * @return this builder
         * @throws IllegalArgumentException if it names no precision
         * @see Precision#parse(String)
         */
        public Builder optPrecision(String precision) {
            return optPrecision(Precision.parse(precision));
        }

        /**
         * Sets whether backward must give the same bits on every run.
         *
         * @param deterministic true for a deterministic backward (default false)
         * @return this builder
         */
        public Builder optDeterministic(boolean deterministic) {
            this.deterministic = deterministic;
            return this;
        }

        /**
         * Sets the tile sizes of the REFERENCE backend (small tiles let tests exercise many tiles).
         *
         * @param queryRows query rows per tile (default 64)
         * @param keyRows key rows per tile (default 64)
         * @return this builder
         * @throws IllegalArgumentException if either is below 1
         */
        public Builder optReferenceTile(int queryRows, int keyRows) {
            if (queryRows < 1 || keyRows < 1) {
                throw new IllegalArgumentException(
                        "referenceTile: expected query and key rows >= 1 but got " + queryRows + " x " + keyRows);
            }
            this.referenceBlockQ = queryRows;
            this.referenceBlockK = keyRows;
            return this;
        }

        /**
         * Builds the options.
         *
         * @return immutable options
         */
        public AttentionOptions build() {
            return new AttentionOptions(this);
        }
    }
}
