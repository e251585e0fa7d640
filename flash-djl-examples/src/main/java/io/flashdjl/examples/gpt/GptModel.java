package io.flashdjl.examples.gpt;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.flashdjl.examples.text.Embeddings;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * A decoder-only GPT: token and learned position embeddings, a stack of pre-LN decoder blocks
 * (causal attention, GELU MLP), a final LayerNorm and a linear LM head. Input: token ids {@code
 * [B, T]} (any numeric dtype); output: logits {@code [B, T, V]}.
 */
final class GptModel extends AbstractBlock {

    private static final byte VERSION = 1;

    private final int vocabulary;
    private final int context;
    private final int embedding;
    private final Parameter tokenEmbedding;
    private final Parameter positionEmbedding;
    private final List<Block> layers = new ArrayList<>();
    private final LayerNorm finalNorm;
    private final Linear head;
    /** The store of the last training forward (the trainer's), whose device replicas hold the gradients. */
    private ParameterStore trainingStore;

    /**
     * @param layer builds decoder block {@code i}; each maps {@code [B, T, E]} to {@code [B, T, E]}
     */
    GptModel(int vocabulary, int context, int embedding, int layerCount, IntFunction<Block> layer) {
        super(VERSION);
        this.vocabulary = vocabulary;
        this.context = context;
        this.embedding = embedding;
        tokenEmbedding = addParameter(Embeddings.table("tokenEmbedding", vocabulary, embedding));
        positionEmbedding = addParameter(Embeddings.table("positionEmbedding", context, embedding));
        for (int i = 0; i < layerCount; i++) {
            layers.add(addChildBlock("layer" + i, layer.apply(i)));
        }
        finalNorm = addChildBlock("finalNorm", LayerNorm.builder().axis(2).build());
        head = addChildBlock("head", Linear.builder().setUnits(vocabulary).build());
    }

    /**
     * The parameter store of the last training forward: the trainer's, which keeps one replica of every
     * parameter per device, each with that device's gradient (DJL sums them in {@code trainer.step()}).
     */
    ParameterStore trainingStore() {
        if (trainingStore == null) {
            throw new IllegalStateException("no training forward has run yet");
        }
        return trainingStore;
    }

    int contextLength() {
        return context;
    }

    int vocabularySize() {
        return vocabulary;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray tokens = inputs.singletonOrThrow();
        if (training) {
            trainingStore = ps;
        }
        if (tokens.getShape().dimension() != 2 || tokens.getShape().get(1) > context) {
            throw new IllegalArgumentException(
                    "tokens: expected shape [B, T] with T <= " + context + " but got " + tokens.getShape());
        }
        NDArray wte = ps.getValue(tokenEmbedding, tokens.getDevice(), training);
        NDArray wpe = ps.getValue(positionEmbedding, tokens.getDevice(), training);
        NDArray x = Embeddings.embed(tokens, wte, wpe);
        NDList h = new NDList(x);
        for (Block layer : layers) {
            h = layer.forward(ps, h, training);
        }
        h = finalNorm.forward(ps, h, training);
        return head.forward(ps, h, training);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape in = inputShapes[0];
        return new Shape[] {new Shape(in.get(0), in.get(1), vocabulary)};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape hidden = new Shape(inputShapes[0].get(0), inputShapes[0].get(1), embedding);
        Shape[] shapes = {hidden};
        for (Block layer : layers) {
            layer.initialize(manager, dataType, shapes);
            shapes = layer.getOutputShapes(shapes);
        }
        finalNorm.initialize(manager, dataType, shapes);
        head.initialize(manager, dataType, finalNorm.getOutputShapes(shapes));
    }
}
