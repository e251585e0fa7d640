package io.flashdjl;

import ai.djl.ndarray.NDArray;

/**
 * The forward pass: the attention output and the log-sum-exp that the backward pass reuses.
 *
 * <p>{@code output} has q's dtype and layout with the head dimension of v; {@code logSumExp} is
 * float32 (float64 for float64 inputs) {@code [B, Hq, Nq]}, the natural log of
 * {@code sum_j exp(scale * q_i·k_j)} over the
 * visible keys ({@code -inf} for a row that sees none). Both live on q's device and in q's manager.
 */
public final class AttentionResult implements AutoCloseable {

    private final NDArray output;
    private final NDArray logSumExp;
    private final Backend backend;
    private final AutoCloseable saved;

    /**
     * Wraps the forward result a backend computed. Public for backends ({@code
     * AttentionBackend} implementations in other modules); users receive instances from
     * {@code FlashAttention.forward}.
     *
     * @param output the attention output
     * @param logSumExp the log-sum-exp {@code [B, Hq, Nq]}
     * @param backend the backend that computed them (not AUTO)
     */
    public AttentionResult(NDArray output, NDArray logSumExp, Backend backend) {
        this(output, logSumExp, backend, null);
    }

    /**
     * Wraps a forward result with what its backend keeps for its own backward beside the output and the
     * log-sum-exp (the CUDA backend: the bfloat16 copies of q, k, v under {@code Precision.BFLOAT16}). The result owns
     * it and frees it with the log-sum-exp.
     *
     * @param output the attention output
     * @param logSumExp the log-sum-exp {@code [B, Hq, Nq]}
     * @param backend the backend that computed them (not AUTO)
     * @param saved the backend's own state for its backward, or null
     */
    public AttentionResult(NDArray output, NDArray logSumExp, Backend backend, AutoCloseable saved) {
        this.output = output;
        this.logSumExp = logSumExp;
        this.backend = backend;
        this.saved = saved;
    }

    /**
     * The attention output.
     *
     * @return the output: q's dtype and layout, v's head dimension
     */
    public NDArray output() {
        return output;
    }

    /**
     * The log-sum-exp of the scaled scores over the visible keys, which the backward pass reuses.
     *
     * @return float32 (float64 for float64 inputs) {@code [B, Hq, Nq]}
     */
    public NDArray logSumExp() {
        return logSumExp;
    }

    /**
     * The backend that computed this result.
     *
     * @return the backend (never AUTO)
     */
    public Backend backend() {
        return backend;
    }

    /**
     * What the backend that computed this result keeps for its backward, in its own type (backends only).
     *
     * @return the state, or null when the backend keeps nothing beyond the output and the log-sum-exp
     */
    public AutoCloseable saved() {
        return saved;
    }

    /**
     * Frees the log-sum-exp and the backend's saved state now, keeping the output: for callers that hand the output
     * on and will run no backward.
     */
    public void closeAllButOutput() {
        logSumExp.close();
        if (saved != null) {
            try {
                saved.close();
            } catch (Exception e) {
                throw new IllegalStateException("freeing the " + backend + " backend's saved state failed", e);
            }
        }
    }

    /** Frees the output, the log-sum-exp and the backend's saved state now rather than with their manager. */
    @Override
    public void close() {
        output.close();
        closeAllButOutput();
    }
}
