package io.flashdjl.examples.bert;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.flashdjl.training.FlashGradientCollector;

/**
 * A post-LN transformer encoder layer, as DJL's {@code TransformerEncoderBlock} computes it: {@code x =
 * LN(x + dropout(attention([x, mask])))}, then {@code x = LN(x + dropout(W2 gelu(W1 x)))}. The attention block
 * is given: DJL's own {@code ScaledDotProductAttentionBlock} or flash-djl's {@code FlashAttentionBlock}, built
 * with the same builder calls; DJL's encoder block creates its attention itself, so this layer is the place
 * where one is swapped for the other. Inputs: {@code [x [B, T, E], mask [B, T, T]]}.
 *
 * <p>In training under flash-djl's collector the layer's input is cut ({@link FlashGradientCollector#cut}): each
 * attention's gradients then reach the engine graph of this layer only, and the backward pass of a deep stack
 * stays linear in its depth (without the cut, 12 layers trained 2.5 times slower than DJL's own block).
 */
final class EncoderLayer extends AbstractBlock {

    private static final byte VERSION = 1;

    private final Block attention;
    private final Dropout attentionDropout;
    private final LayerNorm attentionNorm;
    private final Linear expand;
    private final Linear contract;
    private final Dropout outputDropout;
    private final LayerNorm outputNorm;

    EncoderLayer(Block attention, int embedding, int hidden, float dropout) {
        super(VERSION);
        this.attention = addChildBlock("attention", attention);
        this.attentionDropout = addChildBlock(
                "attentionDropout", Dropout.builder().optRate(dropout).build());
        this.attentionNorm =
                addChildBlock("attentionNorm", LayerNorm.builder().axis(2).build());
        this.expand = addChildBlock("expand", Linear.builder().setUnits(hidden).build());
        this.contract =
                addChildBlock("contract", Linear.builder().setUnits(embedding).build());
        this.outputDropout = addChildBlock(
                "outputDropout", Dropout.builder().optRate(dropout).build());
        this.outputNorm =
                addChildBlock("outputNorm", LayerNorm.builder().axis(2).build());
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = training ? FlashGradientCollector.cutIfCollecting(inputs.get(0)) : inputs.get(0);
        NDArray a = attention
                .forward(ps, new NDList(x, inputs.get(1)), training, params)
                .head();
        x = run(attentionNorm, ps, x.add(run(attentionDropout, ps, a, training)), training);
        NDArray h = Activation.gelu(run(expand, ps, x, training));
        NDArray m = run(outputDropout, ps, run(contract, ps, h, training), training);
        return new NDList(run(outputNorm, ps, x.add(m), training));
    }

    private static NDArray run(Block b, ParameterStore ps, NDArray x, boolean training) {
        return b.forward(ps, new NDList(x), training).head();
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape x = inputShapes[0];
        attention.initialize(manager, dataType, inputShapes);
        attentionDropout.initialize(manager, dataType, x);
        attentionNorm.initialize(manager, dataType, x);
        expand.initialize(manager, dataType, x);
        Shape wide = expand.getOutputShapes(new Shape[] {x})[0];
        contract.initialize(manager, dataType, wide);
        outputDropout.initialize(manager, dataType, x);
        outputNorm.initialize(manager, dataType, x);
    }
}
