package io.flashdjl.examples.text;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;

/**
 * Mean token cross-entropy over the positions the mask selects (the GPT's next tokens, the BERT example's
 * masked tokens). Labels: {@code (targets [B, T], mask [B, T])}; predictions: {@code (logits [B, T, V])}.
 */
public final class MaskedTokenLoss extends Loss {

    /** The loss, named {@code MaskedTokenLoss}. */
    public MaskedTokenLoss() {
        super("MaskedTokenLoss");
    }

    /**
     * The loss of one batch.
     *
     * @param labels {@code (targets [B, T], mask [B, T])}
     * @param predictions {@code (logits [B, T, V])}
     * @return the mean cross-entropy over the selected positions, a 0-d array
     */
    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        NDArray logits = predictions.singletonOrThrow();
        NDArray targets = labels.get(0);
        NDArray mask = labels.get(1).toType(logits.getDataType(), false);
        long vocabulary = logits.getShape().get(2);
        NDArray logProbabilities = logits.logSoftmax(-1);
        NDArray picked = logProbabilities
                .mul(targets.oneHot((int) vocabulary, logits.getDataType()))
                .sum(new int[] {-1});
        return picked.mul(mask).sum().neg().div(mask.sum());
    }
}
