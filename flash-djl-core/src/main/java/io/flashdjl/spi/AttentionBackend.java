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
 * <p>Every problem a backend receives has passed validation (see {@link AttentionProblem}).
 * Outputs go to q's device and q's manager, in the problem's layout.
 */
public interface AttentionBackend {

    /** Which {@link Backend} this is (never AUTO). */
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
     * @return empty if it does, else one line saying why not (shown to users)
     */
    Optional<String> unsupportedReason(AttentionProblem problem);

    /** Computes the output and the log-sum-exp. */
    AttentionResult forward(AttentionProblem problem);

    /**
     * Computes dq, dk, dv from the output gradient and the forward result of the same problem
     * (its output and log-sum-exp are reused, never recomputed).
     */
    AttentionGradients backward(AttentionProblem problem, NDArray dOut, AttentionResult forward);
}
