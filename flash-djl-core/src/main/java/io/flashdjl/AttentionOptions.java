package io.flashdjl;

import java.util.Objects;
import java.util.OptionalDouble;

/**
 * Immutable options of one attention call. Build with {@link #builder()}; the defaults are no mask,
 * scale {@code 1/sqrt(D)}, {@link Backend#AUTO}, {@link Layout#BHSD}, non-deterministic backward,
 * reference tiles of 64 queries by 64 keys.
 *
 * <pre>{@code
 * AttentionOptions opts = AttentionOptions.builder().optCausal(true).optBackend(Backend.CUDA).build();
 * }</pre>
 */
public final class AttentionOptions {

    /** The options used when none are given: full (non-causal) attention, everything default. */
    public static final AttentionOptions DEFAULT = builder().build();

    private final AttentionMask mask;
    private final Double scale;
    private final Backend backend;
    private final Layout layout;
    private final boolean deterministic;
    private final int referenceBlockQ;
    private final int referenceBlockK;

    private AttentionOptions(Builder b) {
        this.mask = b.mask;
        this.scale = b.scale;
        this.backend = b.backend;
        this.layout = b.layout;
        this.deterministic = b.deterministic;
        this.referenceBlockQ = b.referenceBlockQ;
        this.referenceBlockK = b.referenceBlockK;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding these options, to change a few. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.mask = mask;
        b.scale = scale;
        b.backend = backend;
        b.layout = layout;
        b.deterministic = deterministic;
        b.referenceBlockQ = referenceBlockQ;
        b.referenceBlockK = referenceBlockK;
        return b;
    }

    public AttentionMask mask() {
        return mask;
    }

    /** Whether any causal mask is set. */
    public boolean isCausal() {
        return mask.isCausal();
    }

    /** The softmax scale if one was set; empty means {@code 1/sqrt(D)}. */
    public OptionalDouble scale() {
        return scale == null ? OptionalDouble.empty() : OptionalDouble.of(scale);
    }

    /** The scale for a head dimension {@code headDim}: the one set, else {@code 1/sqrt(headDim)}. */
    public double scaleFor(long headDim) {
        return scale != null ? scale : 1.0 / Math.sqrt(headDim);
    }

    public Backend backend() {
        return backend;
    }

    public Layout layout() {
        return layout;
    }

    /** Whether backward must give the same bits on every run (CUDA: no atomic adds). */
    public boolean deterministic() {
        return deterministic;
    }

    /** Query rows per tile of the REFERENCE backend. */
    public int referenceBlockQ() {
        return referenceBlockQ;
    }

    /** Key rows per tile of the REFERENCE backend. */
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
                && Objects.equals(scale, that.scale)
                && backend == that.backend
                && layout == that.layout
                && deterministic == that.deterministic
                && referenceBlockQ == that.referenceBlockQ
                && referenceBlockK == that.referenceBlockK;
    }

    @Override
    public int hashCode() {
        return Objects.hash(mask, scale, backend, layout, deterministic, referenceBlockQ, referenceBlockK);
    }

    @Override
    public String toString() {
        return "AttentionOptions{mask=" + mask + ", scale=" + (scale == null ? "1/sqrt(D)" : scale)
                + ", backend=" + backend + ", layout=" + layout + ", deterministic=" + deterministic
                + ", referenceTile=" + referenceBlockQ + "x" + referenceBlockK + "}";
    }

    /** Builds {@link AttentionOptions}; every setter checks its argument at once. */
    public static final class Builder {
        private AttentionMask mask = AttentionMask.NONE;
        private Double scale;
        private Backend backend = Backend.AUTO;
        private Layout layout = Layout.BHSD;
        private boolean deterministic;
        private int referenceBlockQ = 64;
        private int referenceBlockK = 64;

        private Builder() {}

        /** {@code true}: top-left causal mask, exactly SDPA's {@code is_causal}; {@code false}: no mask. */
        public Builder optCausal(boolean causal) {
            this.mask = causal ? AttentionMask.CAUSAL_TOP_LEFT : AttentionMask.NONE;
            return this;
        }

        /** Bottom-right causal mask: query i sees keys {@code j <= i + Nk - Nq} (decoding with a cache). */
        public Builder optCausalBottomRight() {
            this.mask = AttentionMask.CAUSAL_BOTTOM_RIGHT;
            return this;
        }

        public Builder optMask(AttentionMask mask) {
            this.mask = Objects.requireNonNull(mask, "mask");
            return this;
        }

        /**
         * The softmax scale applied to {@code q·k}.
         *
         * @throws IllegalArgumentException if it is not finite or not positive
         */
        public Builder optScale(double scale) {
            if (!Double.isFinite(scale) || scale <= 0) {
                throw new IllegalArgumentException(
                        "scale: expected a finite number > 0 but got " + scale);
            }
            this.scale = scale;
            return this;
        }

        /** Back to the default scale {@code 1/sqrt(D)}. */
        public Builder optDefaultScale() {
            this.scale = null;
            return this;
        }

        public Builder optBackend(Backend backend) {
            if (backend == null) {
                throw new IllegalArgumentException("backend: expected one of AUTO, CUDA, REFERENCE, SDPA but got null");
            }
            this.backend = backend;
            return this;
        }

        /** @see Backend#parse(String) */
        public Builder optBackend(String backend) {
            return optBackend(Backend.parse(backend));
        }

        public Builder optLayout(Layout layout) {
            if (layout == null) {
                throw new IllegalArgumentException("layout: expected one of BHSD, BSHD but got null");
            }
            this.layout = layout;
            return this;
        }

        /** @see Layout#parse(String) */
        public Builder optLayout(String layout) {
            return optLayout(Layout.parse(layout));
        }

        public Builder optDeterministic(boolean deterministic) {
            this.deterministic = deterministic;
            return this;
        }

        /**
         * Tile sizes of the REFERENCE backend (small tiles let tests exercise many tiles).
         *
         * @throws IllegalArgumentException if either is below 1
         */
        public Builder optReferenceTile(int queryRows, int keyRows) {
            if (queryRows < 1 || keyRows < 1) {
                throw new IllegalArgumentException("referenceTile: expected query and key rows >= 1 but got "
                        + queryRows + " x " + keyRows);
            }
            this.referenceBlockQ = queryRows;
            this.referenceBlockK = keyRows;
            return this;
        }

        public AttentionOptions build() {
            return new AttentionOptions(this);
        }
    }
}
