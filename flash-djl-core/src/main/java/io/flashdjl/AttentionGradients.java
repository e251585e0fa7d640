package io.flashdjl;

import ai.djl.ndarray.NDArray;
import java.util.Optional;

/**
 * Gradients of a scalar loss with respect to q, k and v, each with the shape, dtype and layout of its input, and
 * of the score bias when the call had one that requires a gradient ({@link AttentionBias#requiresGradient()}).
 */
public final class AttentionGradients implements AutoCloseable {

    private final NDArray dq;
    private final NDArray dk;
    private final NDArray dv;
    private final NDArray bias; // null: no bias gradient
    private final Backend backend;

    /**
     * Wraps the gradients a backend computed. Public for backends ({@code AttentionBackend}
     * implementations in other modules); users receive instances from {@code FlashAttention.backward}.
     *
     * @param dq the gradient of q
     * @param dk the gradient of k
     * @param dv the gradient of v
     * @param backend the backend that computed them (not AUTO)
     */
    public AttentionGradients(NDArray dq, NDArray dk, NDArray dv, Backend backend) {
        this(dq, dk, dv, null, backend);
    }

    /**
     * Wraps the gradients a backend computed, with that of the score bias.
     *
     * @param dq the gradient of q
     * @param dk the gradient of k
     * @param dv the gradient of v
     * @param bias the gradient of the bias (its shape and dtype), or null when none was asked for
     * @param backend the backend that computed them (not AUTO)
     */
    public AttentionGradients(NDArray dq, NDArray dk, NDArray dv, NDArray bias, Backend backend) {
        this.dq = dq;
        this.dk = dk;
        this.dv = dv;
        this.bias = bias;
        this.backend = backend;
    }

    /**
     * The gradient of q.
     *
     * @return dq, with q's shape, dtype and layout
     */
    public NDArray dq() {
        return dq;
    }

    /**
     * The gradient of k.
     *
     * @return dk, with k's shape, dtype and layout
     */
    public NDArray dk() {
        return dk;
    }

    /**
     * The gradient of v.
     *
     * @return dv, with v's shape, dtype and layout
     */
    public NDArray dv() {
        return dv;
    }

    /**
     * The gradient of the score bias: {@code dS}, the gradient of the biased scores, summed over the dimensions
     * the bias broadcasts.
     *
     * @return the gradient with the bias's shape and dtype; empty without a bias that requires one
     */
    public Optional<NDArray> bias() {
        return Optional.ofNullable(bias);
    }

    /**
     * The backend that computed these gradients.
     *
     * @return the backend (never AUTO)
     */
    public Backend backend() {
        return backend;
    }

    /** Frees the gradients now rather than with their manager. */
    @Override
    public void close() {
        dq.close();
        dk.close();
        dv.close();
        if (bias != null) {
            bias.close();
        }
    }
}
