package io.flashdjl.training;

import ai.djl.ndarray.NDArray;

/**
 * A block boundary: the model continues from a detached leaf, and the leaf's gradient is pushed
 * into the graph below the boundary only when everything above it has been visited. Each push
 * from an attention node above then stops at the leaf instead of walking down to the embedding,
 * which keeps the backward pass of a deep residual stack linear in its depth.
 */
final class CutNode implements TapeNode {

    private final NDArray input;
    private final NDArray leaf;

    CutNode(NDArray input, NDArray leaf) {
        this.input = input;
        this.leaf = leaf;
    }

    @Override
    public boolean propagate() {
        NDArray grad = Autograd.gradientOrNull(leaf);
        if (grad == null) {
            return false;
        }
        try {
            GradientPush.push(new NDArray[] {input}, new NDArray[] {grad});
        } finally {
            grad.close();
        }
        return true;
    }

    @Override
    public void close() {
        // the leaf is the model's own activation from here on; its manager frees it
    }
}
