package io.flashdjl.examples.gpt;

import ai.djl.ndarray.NDArray;

/**
 * Inputs {@code [B, T]} (token ids as float32 for the one-hot embedding), next-token targets
 * {@code [B, T]} and a 0/1 mask {@code [B, T]} of the positions that count in the loss.
 */
final class TokenBatch implements AutoCloseable {
    final NDArray inputs;
    final NDArray targets;
    final NDArray mask;

    TokenBatch(NDArray inputs, NDArray targets, NDArray mask) {
        this.inputs = inputs;
        this.targets = targets;
        this.mask = mask;
    }

    /** Tokens that count in the loss. */
    long countedTokens() {
        return (long) mask.sum().getFloat();
    }

    @Override
    public void close() {
        inputs.close();
        targets.close();
        mask.close();
    }
}
