package io.flashdjl.examples.gpt;

import ai.djl.nn.Block;
import io.flashdjl.Backend;
import io.flashdjl.Precision;
import io.flashdjl.nn.TransformerDecoderBlock;

/** Builds the GPT's pre-LN decoder blocks with the attention the options ask for. */
final class DecoderLayers {

    private DecoderLayers() {}

    static Block create(GptOptions o, Precision precision) {
        TransformerDecoderBlock.Builder b = TransformerDecoderBlock.builder()
                .setEmbeddingSize(o.embedding)
                .setHeadCount(o.heads)
                .setHiddenSize(4 * o.embedding)
                .optKvHeadCount(o.kvHeads)
                .optDropoutProbability(0f)
                .optPrecision(precision);
        switch (o.attention) {
            case SDPA:
                b.optBackend(Backend.SDPA);
                break;
            case NAIVE:
                b.optNaiveAttention(true); // matmul, mask, softmax, matmul in DJL ops
                break;
            default:
                b.optBackend(Backend.AUTO); // CUDA kernels on a GPU, REFERENCE on the CPU
        }
        return b.build();
    }
}
