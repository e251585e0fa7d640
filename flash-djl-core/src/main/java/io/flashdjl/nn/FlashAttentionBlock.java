package io.flashdjl.nn;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import ai.djl.util.RandomUtils;
import io.flashdjl.AttentionBias;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.Layout;
import io.flashdjl.Precision;
import io.flashdjl.Sequences;
import io.flashdjl.spi.Visibility;
import java.io.DataInputStream;
import java.io.IOException;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Multi-head attention with FlashAttention: a drop-in for DJL's {@code
 * ai.djl.nn.transformer.ScaledDotProductAttentionBlock}.
 *
 * <p>Same builder methods, same inputs and output, same children in the same order ({@code
 * keyProjection}, {@code queryProjection}, {@code valueProjection}, {@code resultProjection}: linear
 * with bias; {@code probabilityDropout}) and the same block version, so parameters saved by one load
 * into the other. Inputs, as DJL reads them: {@code [x]} or {@code [x, mask]} (self-attention), or
 * {@code [keys, queries, values]} / {@code [keys, queries, values, mask]} (keys first), each
 * {@code [B, S, E]}; the output has the queries' shape.
 *
 * <p>Masks, in DJL's semantics ({@code [B, T, F]} of 1 keep / 0 hide, which adds {@code -100000} to hidden
 * scores, or a 4-dimensional additive offset). Key padding (every query row of a batch row keeps the same run
 * of first keys among those the block's causal mask or window shows it: what DJL's BERT-style models build,
 * alone or combined with a causal mask) is recognised on the device and runs on the flash backend as key
 * lengths ({@link Sequences}); so do int32 {@code [B]} key lengths given as the mask. Any other mask reaches
 * the flash backends as a score bias ({@link io.flashdjl.AttentionBias}, made by {@code MaskBias} with DJL's
 * semantics: a boolean mask when every query row keeps a key, else DJL's own offset as a float bias). Only the
 * {@code naive} block materialises the scores (matmul, softmax, matmul).
 *
 * <p>Attention-probability dropout ({@link Builder#optAttentionProbsDropoutProb}) applies in training only, as
 * DJL's: on the flash backends with flash-djl's generator ({@code AttentionOptions.optDropout}; the block draws
 * a seed once and gives every training call its own offset), on the naive block's path with DJL's dropout.
 *
 * <p>Differences from DJL's block: attention-probability dropout defaults to 0 (DJL: 0.1); parameters are
 * created in the dtype the block is initialised with (DJL: always float32). With {@link
 * Builder#optKvHeadCount} below the head count (grouped-query attention) the key and value projections have
 * {@code kvHeads * E / heads} outputs, so their parameters no longer match DJL's block.
 */
public final class FlashAttentionBlock extends AbstractBlock {

    private static final Logger logger = LoggerFactory.getLogger(FlashAttentionBlock.class);

    /** DJL's block version: the parameter files of both blocks are interchangeable. */
    private static final byte VERSION = 1;

    private final int embeddingSize;
    private final int headCount;
    private final int kvHeadCount;
    private final boolean causal;
    private final boolean naive;
    private final float dropoutRate;
    private final AttentionOptions options;
    private final long dropoutSeed = RandomUtils.RANDOM.nextLong();
    private final AtomicInteger dropoutCalls = new AtomicInteger();

    private final Linear keyProjection;
    private final Linear queryProjection;
    private final Linear valueProjection;
    private final Linear resultProjection;
    private final Dropout probabilityDropout;

    private FlashAttentionBlock(Builder b) {
        super(VERSION);
        this.embeddingSize = b.embeddingSize;
        this.headCount = b.headCount;
        this.kvHeadCount = b.kvHeadCount == 0 ? b.headCount : b.kvHeadCount;
        this.causal = b.causal;
        this.naive = b.naive;
        this.dropoutRate = b.dropoutRate;
        this.options = AttentionOptions.builder()
                .optCausal(causal)
                .optBackend(b.backend)
                .optPrecision(b.precision)
                .optSlidingWindow(b.windowLeft, b.windowRight)
                .optLayout(Layout.BSHD)
                .build();
        int kvUnits = kvHeadCount * headDim();
        // the order of the children is the order of a parameter file: DJL's order
        this.keyProjection = addChildBlock("keyProjection", projection(kvUnits));
        this.queryProjection = addChildBlock("queryProjection", projection(embeddingSize));
        this.valueProjection = addChildBlock("valueProjection", projection(kvUnits));
        this.resultProjection = addChildBlock("resultProjection", projection(embeddingSize));
        this.probabilityDropout = addChildBlock(
                "probabilityDropout", Dropout.builder().optRate(dropoutRate).build());
    }

    private static Linear projection(int units) {
        return Linear.builder().setUnits(units).optBias(true).build();
    }

    /**
     * A builder for the block: {@code setEmbeddingSize} and {@code setHeadCount} are required.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Loads a parameter file as DJL's {@code Block.loadParameters} does, then checks that the key and value
     * projections fit this block's key/value heads: DJL reads a projection of any size without complaint, and a
     * file of another head layout would otherwise fail at the first forward with a reshape error.
     *
     * @throws MalformedModelException naming the projection, the units this block expects and those the file
     *     holds, and the {@code optKvHeadCount} that would load it
     */
    @Override
    public void loadParameters(NDManager manager, DataInputStream is) throws IOException, MalformedModelException {
        super.loadParameters(manager, is);
        requireKvUnits("keyProjection", keyProjection);
        requireKvUnits("valueProjection", valueProjection);
    }

    private void requireKvUnits(String name, Linear projection) throws MalformedModelException {
        long expected = (long) kvHeadCount * headDim();
        long units =
                projection.getParameters().get("weight").getArray().getShape().get(0);
        if (units != expected) {
            String fits = units % headDim() == 0 && units / headDim() >= 1 && headCount % (units / headDim()) == 0
                    ? "; build the block with optKvHeadCount(" + units / headDim() + ") to load it"
                    : "";
            throw new MalformedModelException(name + ": expected " + expected + " output units (" + kvHeadCount
                    + " key/value heads of " + headDim() + ") but the parameter file has " + units + fits);
        }
    }

    private int headDim() {
        return embeddingSize / headCount;
    }

    /**
     * The key projection, as DJL's block has it.
     *
     * @return the linear layer that makes the keys
     */
    public Linear getKeyProjection() {
        return keyProjection;
    }

    /**
     * The query projection, as DJL's block has it.
     *
     * @return the linear layer that makes the queries
     */
    public Linear getQueryProjection() {
        return queryProjection;
    }

    /**
     * The value projection, as DJL's block has it.
     *
     * @return the linear layer that makes the values
     */
    public Linear getValueProjection() {
        return valueProjection;
    }

    /**
     * The output projection, as DJL's block has it.
     *
     * @return the linear layer applied to the merged heads
     */
    public Linear getResultProjection() {
        return resultProjection;
    }

    /**
     * The options of every attention call of this block.
     *
     * @return the options (causal, backend, BSHD layout)
     */
    public AttentionOptions getAttentionOptions() {
        return options;
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        if (inputShapes.length < 1 || inputShapes.length > 4) {
            throw new IllegalArgumentException("inputs: expected 1 to 4 shapes but got " + inputShapes.length);
        }
        return new Shape[] {inputShapes.length < 3 ? inputShapes[0] : inputShapes[1]};
    }

    @Override
    public void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        // the projections act on the last axis only, whatever the batch and sequence sizes
        Shape projectionInput = new Shape(-1L, embeddingSize);
        for (Block child : children.values()) {
            child.initialize(manager, dataType, projectionInput);
        }
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        BlockInputs in = BlockInputs.of(inputs, embeddingSize, headCount);
        boolean dropout = training && dropoutRate > 0;
        long b = in.batch;
        long t = in.queryLength;
        long f = in.keyLength;
        long d = headDim();
        NDArray q = project(queryProjection, ps, in.queries, training, params).reshape(b, t, headCount, d);
        NDArray k = project(keyProjection, ps, in.keys, training, params).reshape(b, f, kvHeadCount, d);
        NDArray v = project(valueProjection, ps, in.values, training, params).reshape(b, f, kvHeadCount, d);
        NDArray o; // BSHD [B, T, heads, d]
        Visibility band = Visibility.of(options, t, f);
        Optional<NDArray> keyLengths =
                in.mask == null || naive ? Optional.empty() : KeyPadding.lengthsOf(in.mask, band);
        if (naive) {
            NDArray mask = in.mask != null && in.mask.getShape().dimension() == 1 ? keyMask(in.mask, t, f) : in.mask;
            UnaryOperator<NDArray> drop = dropout
                    ? probs -> probabilityDropout
                            .forward(ps, new NDList(probs), true, params)
                            .head()
                    : UnaryOperator.identity();
            o = MaskedAttention.compute(q, k, v, mask, band, 1.0 / Math.sqrt(d), drop);
        } else {
            AttentionOptions call = dropout
                    ? options.toBuilder()
                            .optDropout(dropoutRate, dropoutSeed, dropoutCalls.getAndIncrement())
                            .build()
                    : options;
            // the lengths (or bias) on the inputs' device (a mask may come from elsewhere; a no-op when it does not)
            Sequences seqs = keyLengths
                    .map(lengths -> Sequences.padded(null, lengths.toDevice(q.getDevice(), false)))
                    .orElse(null);
            AttentionBias bias = in.mask == null || keyLengths.isPresent()
                    ? null
                    : MaskBias.of(in.mask.toDevice(q.getDevice(), false), band);
            o = FlashAttention.attention(q, k, v, seqs, bias, call);
        }
        NDArray merged = o.reshape(b, t, embeddingSize);
        return resultProjection.forward(ps, new NDList(merged), training, params);
    }

    /** Key lengths {@code [B]} as DJL's {@code [B, T, F]} mask, for the naive block's materialising path. */
    private static NDArray keyMask(NDArray lengths, long t, long f) {
        NDArray keys = lengths.getManager().arange(0, (int) f, 1, DataType.INT32, lengths.getDevice());
        return keys.reshape(1, 1, f)
                .lt(lengths.reshape(-1, 1, 1))
                .broadcast(lengths.getShape().get(0), t, f)
                .toType(DataType.FLOAT32, false);
    }

    private static NDArray project(
            Linear p, ParameterStore ps, NDArray x, boolean training, PairList<String, Object> params) {
        return p.forward(ps, new NDList(x), training, params).head();
    }

    @Override
    public String toString() {
        return "FlashAttentionBlock(embedding=" + embeddingSize + ", heads=" + headCount + ", kvHeads=" + kvHeadCount
                + ", causal=" + causal + ", backend=" + options.backend() + (naive ? ", naive" : "") + ")";
    }

    /** Builds a {@link FlashAttentionBlock}; {@link #build()} checks the sizes. */
    public static final class Builder {
        private int embeddingSize;
        private int headCount;
        private int kvHeadCount;
        private boolean causal;
        private boolean naive;
        private float dropoutRate;
        private Backend backend = Backend.AUTO;
        private Precision precision = Precision.FULL;
        private int windowLeft = -1;
        private int windowRight = -1;

        private Builder() {}

        /**
         * Sets the embedding size {@code E} of the inputs and the output (required).
         *
         * @param embeddingSize the size, at least 1
         * @return this builder
         */
        public Builder setEmbeddingSize(int embeddingSize) {
            this.embeddingSize = embeddingSize;
            return this;
        }

        /**
         * Sets the number of query heads (required); it must divide the embedding size.
         *
         * @param headCount the number of heads, at least 1
         * @return this builder
         */
        public Builder setHeadCount(int headCount) {
            this.headCount = headCount;
            return this;
        }

        /**
         * Dropout on the attention probabilities, as DJL's block has it, in training only. Default 0 (DJL: 0.1).
         * The flash backends draw it from flash-djl's generator (CUDA and REFERENCE; SDPA refuses it, so AUTO
         * does not pick SDPA for it).
         *
         * @param rate the dropout rate, in {@code [0, 1)}
         * @return this builder
         * @throws IllegalArgumentException if the rate is outside {@code [0, 1)}
         */
        public Builder optAttentionProbsDropoutProb(float rate) {
            if (!(rate >= 0 && rate < 1)) {
                throw new IllegalArgumentException(
                        "optAttentionProbsDropoutProb: expected a rate in [0, 1) but got " + rate);
            }
            this.dropoutRate = rate;
            return this;
        }

        /**
         * Sets top-left causal attention (query i sees keys {@code j <= i}), as SDPA's {@code is_causal}.
         *
         * @param causal whether attention is causal (default false)
         * @return this builder
         */
        public Builder optCausal(boolean causal) {
            this.causal = causal;
            return this;
        }

        /**
         * Key/value heads for grouped-query attention (must divide the head count); default: the
         * head count. Below it, the key and value projections are smaller than DJL's.
         *
         * @param kvHeadCount the number of key/value heads
         * @return this builder
         */
        public Builder optKvHeadCount(int kvHeadCount) {
            this.kvHeadCount = kvHeadCount;
            return this;
        }

        /**
         * Sets a sliding (local) window: each query sees at most {@code left} keys before its own position and
         * {@code right} after it (after it: none when the block is causal).
         *
         * @param left keys before, at least 0, or -1 for no bound (default)
         * @param right keys after, at least 0, or -1 for no bound (default)
         * @return this builder
         * @throws IllegalArgumentException if either is below -1
         * @see AttentionOptions.Builder#optSlidingWindow(int, int)
         */
        public Builder optSlidingWindow(int left, int right) {
            AttentionOptions.builder().optSlidingWindow(left, right); // the one check of the widths
            this.windowLeft = left;
            this.windowRight = right;
            return this;
        }

        /**
         * Sets how precisely the attention products are computed.
         *
         * @param precision {@link Precision#FULL} (default) or, for a float32 model, {@link Precision#BFLOAT16}:
         *     bfloat16 products with float32 accumulation, outputs and gradients (what PyTorch's autocast gives)
         * @return this builder
         * @throws IllegalArgumentException if it is null
         * @see AttentionOptions.Builder#optPrecision(Precision)
         */
        public Builder optPrecision(Precision precision) {
            if (precision == null) {
                throw new IllegalArgumentException("optPrecision: expected one of FULL, BFLOAT16 but got null");
            }
            this.precision = precision;
            return this;
        }

        /**
         * Sets the backend of the attention calls.
         *
         * @param backend the backend (default AUTO)
         * @return this builder
         * @throws IllegalArgumentException if it is null
         */
        public Builder optBackend(Backend backend) {
            if (backend == null) {
                throw new IllegalArgumentException(
                        "optBackend: expected one of AUTO, CUDA, REFERENCE, SDPA but got null");
            }
            this.backend = backend;
            return this;
        }

        /**
         * Computes attention with plain engine ops (matmul, softmax, matmul) instead of a flash
         * backend: the textbook formula, differentiated by the engine, for checking results.
         *
         * @param naive whether to use the engine ops (default false)
         * @return this builder
         */
        public Builder optNaiveAttention(boolean naive) {
            this.naive = naive;
            return this;
        }

        /**
         * Builds the block.
         *
         * @return the block
         * @throws IllegalArgumentException when a size is missing or the sizes do not divide
         */
        public FlashAttentionBlock build() {
            if (embeddingSize < 1) {
                throw new IllegalArgumentException("setEmbeddingSize: expected a size >= 1 but got " + embeddingSize);
            }
            if (headCount < 1 || embeddingSize % headCount != 0) {
                throw new IllegalArgumentException(
                        "setHeadCount: expected a count >= 1 that divides the embedding size " + embeddingSize
                                + " but got " + headCount);
            }
            if (kvHeadCount != 0 && (kvHeadCount < 1 || headCount % kvHeadCount != 0)) {
                throw new IllegalArgumentException("optKvHeadCount: expected a count >= 1 that divides the head count "
                        + headCount + " but got " + kvHeadCount);
            }
            return new FlashAttentionBlock(this);
        }
    }
}
