package io.flashdjl.examples.gpt;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;

/**
 * Mean next-token cross-entropy over the positions the mask selects. Labels: {@code (targets [B,
 * T], mask [B, T])}; predictions: {@code (logits [B, T, V])}.
 */
final class MaskedTokenLoss extends Loss {

    MaskedTokenLoss() {
        super("MaskedTokenLoss");
    }

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
