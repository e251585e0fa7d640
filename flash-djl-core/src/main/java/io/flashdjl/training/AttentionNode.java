package io.flashdjl.training;

import ai.djl.ndarray.NDArray;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.FlashAttention;

/**
 * An attention call computed outside the engine graph: its output is a fresh leaf, and on the way
 * back the leaf's gradient goes through the backend's own backward (which reuses the saved
 * log-sum-exp) and on into the graph of the original q, k, v.
 */
final class AttentionNode implements TapeNode {

    private final NDArray[] inputs; // the caller's q, k, v, in the engine graph
    private final NDArray[] detached; // the same storage, outside it: what the backend saw
    private final AttentionResult result;
    private final AttentionOptions options;

    AttentionNode(NDArray[] inputs, NDArray[] detached, AttentionResult result, AttentionOptions options) {
        this.inputs = inputs;
        this.detached = detached;
        this.result = result;
        this.options = options;
    }

    /** The output leaf: the model continues from it, and its gradient is this node's dO. */
    NDArray output() {
        return result.output();
    }

    @Override
    public boolean propagate() {
        NDArray dOut = Autograd.gradientOrNull(result.output());
        if (dOut == null) {
            return false;
        }
        try (AttentionGradients g = Autograd.withoutGrad(() ->
                FlashAttention.backward(dOut, detached[0], detached[1], detached[2], result, options))) {
            GradientPush.push(inputs, new NDArray[] {g.dq(), g.dk(), g.dv()});
        } finally {
            dOut.close();
        }
        return true;
    }

    @Override
    public void close() {
        // the output leaf stays: the caller's predictions may be that very array
        for (NDArray d : detached) {
            d.close();
        }
        result.logSumExp().close();
    }
}
