package io.flashdjl.examples.bert;

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
 * A BERT-style encoder for masked-language modelling: token and learned position embeddings, a LayerNorm, a
 * stack of post-LN {@link EncoderLayer}s and a linear head over the vocabulary. Inputs: {@code [tokens [B, T],
 * mask [B, T, T]]} (DJL's 1 keep / 0 hide); output: logits {@code [B, T, V]}.
 */
final class BertModel extends AbstractBlock {

    private static final byte VERSION = 1;

    private final int vocabulary;
    private final int sequence;
    private final int embedding;
    private final Parameter tokenEmbedding;
    private final Parameter positionEmbedding;
    private final LayerNorm embeddingNorm;
    private final List<Block> layers = new ArrayList<>();
    private final Linear head;

    /**
     * @param layer builds encoder layer {@code i}
     */
    BertModel(int vocabulary, int sequence, int embedding, int layerCount, IntFunction<Block> layer) {
        super(VERSION);
        this.vocabulary = vocabulary;
        this.sequence = sequence;
        this.embedding = embedding;
        tokenEmbedding = addParameter(Embeddings.table("tokenEmbedding", vocabulary, embedding));
        positionEmbedding = addParameter(Embeddings.table("positionEmbedding", sequence, embedding));
        embeddingNorm =
                addChildBlock("embeddingNorm", LayerNorm.builder().axis(2).build());
        for (int i = 0; i < layerCount; i++) {
            layers.add(addChildBlock("layer" + i, layer.apply(i)));
        }
        head = addChildBlock("head", Linear.builder().setUnits(vocabulary).build());
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray tokens = inputs.get(0);
        NDArray mask = inputs.get(1);
        if (tokens.getShape().dimension() != 2 || tokens.getShape().get(1) > sequence) {
            throw new IllegalArgumentException(
                    "tokens: expected shape [B, T] with T <= " + sequence + " but got " + tokens.getShape());
        }
        NDArray wte = ps.getValue(tokenEmbedding, tokens.getDevice(), training);
        NDArray wpe = ps.getValue(positionEmbedding, tokens.getDevice(), training);
        NDArray x = Embeddings.embed(tokens, wte, wpe);
        x = embeddingNorm.forward(ps, new NDList(x), training).head();
        for (Block layer : layers) {
            x = layer.forward(ps, new NDList(x, mask), training).head();
        }
        return head.forward(ps, new NDList(x), training);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape in = inputShapes[0];
        return new Shape[] {new Shape(in.get(0), in.get(1), vocabulary)};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape hidden = new Shape(inputShapes[0].get(0), inputShapes[0].get(1), embedding);
        embeddingNorm.initialize(manager, dataType, hidden);
        for (Block layer : layers) {
            layer.initialize(manager, dataType, hidden, inputShapes[1]);
        }
        head.initialize(manager, dataType, hidden);
    }
}
