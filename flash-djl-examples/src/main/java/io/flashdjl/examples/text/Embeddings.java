package io.flashdjl.examples.text;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.initializer.NormalInitializer;

/** The learned token and position embedding tables of the text examples' models, and their lookup. */
public final class Embeddings {

    private Embeddings() {}

    /**
     * A table of learned vectors, initialised from N(0, 0.02), as GPT-2 does.
     *
     * @param name the parameter's name (part of a checkpoint)
     * @param rows the rows: vocabulary size or positions
     * @param width the embedding width
     * @return the parameter, for the model's {@code addParameter}
     */
    public static Parameter table(String name, int rows, int width) {
        return Parameter.builder()
                .setName(name)
                .setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(rows, width))
                .optInitializer(new NormalInitializer(0.02f))
                .build();
    }

    /**
     * The token vectors plus the vectors of their positions: one-hot times the token table (a gather with a
     * gradient, fine for the small vocabularies of the examples).
     *
     * @param tokens token ids {@code [B, T]}, any numeric dtype
     * @param tokenTable {@code [V, E]}
     * @param positionTable {@code [P, E]}, {@code P >= T}
     * @return {@code [B, T, E]}
     */
    public static NDArray embed(NDArray tokens, NDArray tokenTable, NDArray positionTable) {
        int vocabulary = Math.toIntExact(tokenTable.getShape().get(0));
        long t = tokens.getShape().get(1);
        return tokens.oneHot(vocabulary, tokenTable.getDataType())
                .matMul(tokenTable)
                .add(positionTable.get("0:" + t));
    }
}
