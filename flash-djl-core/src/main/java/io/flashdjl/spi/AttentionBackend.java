package io.flashdjl.spi;

import ai.djl.ndarray.NDArray;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import java.util.Optional;

/**
 * An implementation of attention, found through {@link java.util.ServiceLoader}: a module adds one
 * by listing its class in {@code META-INF/services/io.flashdjl.spi.AttentionBackend}.
 *
 * <p>This package is the public SPI for backends: {@link AttentionProblem} (a validated call), {@link
 * Visibility} (which keys each query sees) and this interface; the results are {@link AttentionResult}
 * and {@link AttentionGradients}, whose constructors are public for backends. Every problem a backend
 * receives has passed validation, and the library selects a backend (through {@link #unavailableReason}
 * and {@link #unsupportedReason}) before it calls {@link #forward} or {@link #backward}. Outputs go to
 * q's device and q's manager, in the problem's layout.
 */
public interface AttentionBackend {

    /**
     * Which backend this is.
     *
     * @return the kind (never AUTO)
     */
    Backend kind();

    /**
     * Whether this backend can run on this machine at all, whatever the problem.
     *
     * @return empty if it can, else one line saying why not
     */
    default Optional<String> unavailableReason() {
        return Optional.empty();
    }

    /**
     * Whether this backend takes this problem.
     *
     * @param problem a validated call
     * @return empty if it does, else one line saying why not (shown to users)
     */
    Optional<String> unsupportedReason(AttentionProblem problem);

    /**
     * Computes the output and the log-sum-exp.
     *
     * @param problem a validated call this backend takes
     * @return the output (q's dtype and layout) and the log-sum-exp {@code [B, Hq, Nq]}
     */
    AttentionResult forward(AttentionProblem problem);

    /**
     * Computes the output alone, for a caller that runs no backward ({@code FlashAttention.attention} outside
     * training). By default the forward with its log-sum-exp and saved state freed at once; a backend may skip
     * making them.
     *
     * @param problem a validated call this backend takes
     * @return the output (q's dtype and layout)
     */
    default NDArray output(AttentionProblem problem) {
        AttentionResult r = forward(problem);
        r.closeAllButOutput();
        return r.output();
    }

    /**
     * Computes dq, dk, dv from the output gradient and the forward result of the same problem
     * (its output and log-sum-exp are reused, never recomputed).
     *
     * @param problem the validated call of the forward pass
     * @param dOut the gradient of the output: the output's shape, q's dtype and device
     * @param forward this backend's forward result for {@code problem}
     * @return dq, dk, dv, each with the shape, dtype and layout of its input
     */
    AttentionGradients backward(AttentionProblem problem, NDArray dOut, AttentionResult forward);
}
