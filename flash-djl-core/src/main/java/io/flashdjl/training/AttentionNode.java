package io.flashdjl.training;

import ai.djl.ndarray.NDArray;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionResult;
import io.flashdjl.spi.AttentionBackend;
import io.flashdjl.spi.AttentionProblem;

/**
 * An attention call computed outside the engine graph: its output is a fresh leaf, and on the way
 * back the leaf's gradient goes through the backend's own backward (which reuses the saved
 * log-sum-exp) and on into the graph of the original q, k, v.
 *
 * <p>The node keeps what the forward pass settled: the backend that ran it and the validated problem
 * on the detached views. The backward runs on exactly those, so it is neither revalidated nor reselected;
 * its {@code dOut} is the engine's gradient of the output leaf, which has the output's shape, dtype and
 * device by construction.
 */
final class AttentionNode implements TapeNode {

    private final NDArray[] inputs; // the caller's q, k, v, in the engine graph
    private final AttentionBackend backend;
    private final AttentionProblem problem; // on views of the inputs' storage outside the graph
    private final AttentionResult result;

    AttentionNode(NDArray[] inputs, AttentionBackend backend, AttentionProblem problem, AttentionResult result) {
        this.inputs = inputs;
        this.backend = backend;
        this.problem = problem;
        this.result = result;
    }

    @Override
    public boolean propagate() {
        NDArray dOut = Autograd.gradientOrNull(result.output());
        if (dOut == null) {
            return false;
        }
        try (AttentionGradients g = Autograd.withoutGrad(() -> backend.backward(problem, dOut, result))) {
            if (g.bias().isPresent()) { // a float bias that requires grad: it is an input too
                NDArray bias = problem.bias().orElseThrow().values();
                GradientPush.push(
                        new NDArray[] {inputs[0], inputs[1], inputs[2], bias},
                        new NDArray[] {g.dq(), g.dk(), g.dv(), g.bias().get()});
            } else {
                GradientPush.push(inputs, new NDArray[] {g.dq(), g.dk(), g.dv()});
            }
        } finally {
            dOut.close();
        }
        return true;
    }

    @Override
    public void close() {
        // the output leaf stays: the caller's predictions may be that very array
        problem.q().close();
        problem.k().close();
        problem.v().close();
        result.closeAllButOutput();
    }
}
