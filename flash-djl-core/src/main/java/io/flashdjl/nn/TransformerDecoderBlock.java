package io.flashdjl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Backend;
import io.flashdjl.Precision;
import io.flashdjl.training.FlashGradientCollector;

/**
 * A pre-LN transformer decoder block (GPT-2 style) on {@code [B, S, E]}:
 * {@code x + dropout(attn(LN(x)))} with causal {@link FlashAttentionBlock}, then
 * {@code x + dropout(MLP(LN(x)))} with a GELU MLP of {@code hiddenSize} units. Inputs: {@code [x]}, or
 * {@code [x, mask]} with a mask as {@link FlashAttentionBlock} reads it (key padding or int32 {@code [B]} key
 * lengths as key lengths, any other mask as a score bias: on the flash backend either way).
 *
 * <p>In training under a {@link FlashGradientCollector} the block's input is cut
 * ({@link FlashGradientCollector#cut}), so the backward pass of a deep stack stays linear in depth.
 */
public final class TransformerDecoderBlock extends AbstractBlock {

    private static final byte VERSION = 1;

    private final int embeddingSize;
    private final Block attentionNorm;
    private final Block attention;
    private final Block attentionDropout;
    private final Block mlpNorm;
    private final Block mlp;
    private final Block mlpDropout;

    private TransformerDecoderBlock(Builder b) {
        super(VERSION);
        this.embeddingSize = b.embeddingSize;
        this.attentionNorm =
                addChildBlock("attentionNorm", LayerNorm.builder().axis(2).build());
        this.attention = addChildBlock(
                "attention",
                FlashAttentionBlock.builder()
                        .setEmbeddingSize(b.embeddingSize)
                        .setHeadCount(b.headCount)
                        .optKvHeadCount(b.kvHeadCount == 0 ? b.headCount : b.kvHeadCount)
                        .optCausal(true)
                        .optAttentionProbsDropoutProb(b.probsDropout)
                        .optBackend(b.backend)
                        .optPrecision(b.precision)
                        .optSlidingWindow(b.windowLeft, b.windowRight)
                        .optNaiveAttention(b.naive)
                        .build());
        this.attentionDropout = addChildBlock(
                "attentionDropout", Dropout.builder().optRate(b.dropout).build());
        this.mlpNorm = addChildBlock("mlpNorm", LayerNorm.builder().axis(2).build());
        this.mlp = addChildBlock(
                "mlp",
                new SequentialBlock()
                        .add(Linear.builder().setUnits(b.hiddenSize).build())
                        .add(Activation.geluBlock())
                        .add(Linear.builder().setUnits(b.embeddingSize).build()));
        this.mlpDropout =
                addChildBlock("mlpDropout", Dropout.builder().optRate(b.dropout).build());
    }

    /**
     * A builder for the block: {@code setEmbeddingSize}, {@code setHeadCount} and {@code setHiddenSize} are
     * required.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    public void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        for (Block child : children.values()) {
            child.initialize(manager, dataType, inputShapes[0]);
        }
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        if (inputs == null || inputs.isEmpty() || inputs.size() > 2) {
            throw new IllegalArgumentException("inputs: expected [x] or [x, mask] with x [batch, sequence, "
                    + embeddingSize + "] but got " + (inputs == null ? 0 : inputs.size()) + " arrays");
        }
        NDArray x = BlockInputs.embeddings("inputs", inputs.head(), embeddingSize);
        if (training) {
            x = FlashGradientCollector.cutIfCollecting(x);
        }
        NDList attentionInputs = new NDList(run(attentionNorm, ps, x, training, params));
        if (inputs.size() == 2) {
            attentionInputs.add(inputs.get(1)); // FlashAttentionBlock reads the mask (key lengths or a bias)
        }
        NDArray a = attention.forward(ps, attentionInputs, training, params).head();
        x = x.add(run(attentionDropout, ps, a, training, params));
        NDArray m = run(mlp, ps, run(mlpNorm, ps, x, training, params), training, params);
        return new NDList(x.add(run(mlpDropout, ps, m, training, params)));
    }

    private static NDArray run(
            Block b, ParameterStore ps, NDArray x, boolean training, PairList<String, Object> params) {
        return b.forward(ps, new NDList(x), training, params).head();
    }

    /** Builds a {@link TransformerDecoderBlock}; {@link #build()} checks the sizes. */
    public static final class Builder {
        private int embeddingSize;
        private int headCount;
        private int hiddenSize;
        private int kvHeadCount;
        private float dropout;
        private float probsDropout;
        private boolean naive;
        private Backend backend = Backend.AUTO;
        private Precision precision = Precision.FULL;
        private int windowLeft = -1;
        private int windowRight = -1;

        private Builder() {}

        /**
         * Sets the embedding size {@code E} (required).
         *
         * @param embeddingSize the size, at least 1
         * @return this builder
         */
        public Builder setEmbeddingSize(int embeddingSize) {
            this.embeddingSize = embeddingSize;
            return this;
        }

        /**
         * Sets the number of attention heads (required); it must divide the embedding size.
         *
         * @param headCount the number of heads, at least 1
         * @return this builder
         */
        public Builder setHeadCount(int headCount) {
            this.headCount = headCount;
            return this;
        }

        /**
         * Sets the units of the MLP's hidden layer (required; GPT-2: 4 times the embedding size).
         *
         * @param hiddenSize the units, at least 1
         * @return this builder
         */
        public Builder setHiddenSize(int hiddenSize) {
            this.hiddenSize = hiddenSize;
            return this;
        }

        /**
         * Sets the key/value heads for grouped-query attention; default: the head count.
         *
         * @param kvHeadCount the number of key/value heads, dividing the head count
         * @return this builder
         * @see FlashAttentionBlock.Builder#optKvHeadCount
         */
        public Builder optKvHeadCount(int kvHeadCount) {
            this.kvHeadCount = kvHeadCount;
            return this;
        }

        /**
         * Sets the dropout on the attention and MLP outputs before each residual sum (not on attention
         * probabilities).
         *
         * @param probability the dropout rate, in {@code [0, 1)} (default 0)
         * @return this builder
         * @throws IllegalArgumentException if the rate is outside {@code [0, 1)}
         */
        public Builder optDropoutProbability(float probability) {
            if (!(probability >= 0 && probability < 1)) {
                throw new IllegalArgumentException(
                        "optDropoutProbability: expected a rate in [0, 1) but got " + probability);
            }
            this.dropout = probability;
            return this;
        }

        /**
         * Sets the dropout on the attention probabilities (FlashAttentionBlock's {@code
         * optAttentionProbsDropoutProb}: in training only, drawn by the kernels' generator); default 0.
         *
         * @param probability the rate, in {@code [0, 1)}
         * @return this builder
         * @throws IllegalArgumentException if it is outside {@code [0, 1)}
         */
        public Builder optAttentionProbsDropoutProb(float probability) {
            if (!(probability >= 0 && probability < 1)) {
                throw new IllegalArgumentException(
                        "optAttentionProbsDropoutProb: expected a rate in [0, 1) but got " + probability);
            }
            this.probsDropout = probability;
            return this;
        }

        /**
         * Sets a sliding (local) window on the causal attention: each position sees itself and at most
         * {@code left} positions before it (Mistral-style local attention).
         *
         * @param left positions before, at least 0, or -1 for no bound (default)
         * @return this builder
         * @throws IllegalArgumentException if it is below -1
         * @see FlashAttentionBlock.Builder#optSlidingWindow(int, int)
         */
        public Builder optSlidingWindow(int left) {
            AttentionOptions.builder().optSlidingWindow(left, -1); // the one check of the width
            this.windowLeft = left;
            this.windowRight = -1;
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
         * Computes attention with plain engine ops instead of a flash backend, for checking results.
         *
         * @param naive whether to use the engine ops (default false)
         * @return this builder
         * @see FlashAttentionBlock.Builder#optNaiveAttention
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
        public TransformerDecoderBlock build() {
            if (hiddenSize < 1) {
                throw new IllegalArgumentException("setHiddenSize: expected a size >= 1 but got " + hiddenSize);
            }
            // the attention block built in the constructor checks the embedding and head sizes
            return new TransformerDecoderBlock(this);
        }
    }
}
