package io.flashdjl.training;

import ai.djl.ndarray.NDArray;
import io.flashdjl.AttentionResult;
import io.flashdjl.spi.AttentionBackend;
import io.flashdjl.spi.AttentionProblem;
import java.util.ArrayList;
import java.util.List;
import java.util.ListIterator;
import java.util.Optional;

/**
 * The record of steps the engine cannot differentiate, kept by a {@code FlashGradientCollector} for
 * its thread.
 *
 * <p>Its public surface is the seam through which {@code FlashAttention.attention} records a call, public
 * only because the two live in different packages: {@link #active()} and {@link #record}. Both are safe to
 * call, since {@code record} takes a validated {@link AttentionProblem} and only the collector opens and
 * closes a tape; models have no reason to, and reach the tape through {@code FlashAttention.attention} and
 * {@code FlashGradientCollector.cut}. The tape depends on the backend SPI only, never on {@code
 * FlashAttention}.
 *
 * <p>A node is consumed by the first backward pass that reaches its output: like DJL's own
 * collector, each forward graph takes one backward pass.
 */
public final class FlashTape {

    private static final ThreadLocal<FlashTape> ACTIVE = new ThreadLocal<>();

    private final List<TapeNode> nodes = new ArrayList<>();

    private FlashTape() {}

    /**
     * The tape of the flash-aware collector open on this thread.
     *
     * @return the tape, or empty when no {@code FlashGradientCollector} is open on this thread
     */
    public static Optional<FlashTape> active() {
        return Optional.ofNullable(ACTIVE.get());
    }

    static FlashTape open() {
        if (ACTIVE.get() != null) {
            throw new IllegalStateException("a FlashGradientCollector is already open on this thread; close it first");
        }
        FlashTape tape = new FlashTape();
        ACTIVE.set(tape);
        return tape;
    }

    /**
     * Runs attention outside the engine graph and records it for the backward pass. The backend runs on
     * views of q, k, v detached from the graph ({@link AttentionProblem#withInputs}); on the way back the
     * same backend's backward gets the same problem, the output gradient and this forward result, with no
     * second validation or selection.
     *
     * @param backend the backend chosen for {@code problem}
     * @param problem the validated call, on the caller's q, k, v (in the engine graph)
     * @return the output as a new leaf that requires grad
     * @throws IllegalStateException when this tape is not the one open on the calling thread
     */
    public NDArray record(AttentionBackend backend, AttentionProblem problem) {
        if (ACTIVE.get() != this) {
            throw new IllegalStateException(
                    "this tape's FlashGradientCollector is closed or belongs to another thread");
        }
        NDArray[] inputs = {problem.q(), problem.k(), problem.v()};
        AttentionProblem detached =
                problem.withInputs(inputs[0].stopGradient(), inputs[1].stopGradient(), inputs[2].stopGradient());
        AttentionResult r = Autograd.withoutGrad(() -> backend.forward(detached));
        r.output().setRequiresGradient(true);
        nodes.add(new AttentionNode(inputs, backend, detached, r));
        return r.output();
    }

    /** A detached leaf that requires grad, standing for {@code x} above a block boundary. */
    NDArray cut(NDArray x) {
        if (!Autograd.isRecording()) {
            return x; // no graph is being built
        }
        NDArray leaf = x.stopGradient();
        leaf.setRequiresGradient(true);
        nodes.add(new CutNode(x, leaf));
        return leaf;
    }

    /**
     * Visits the nodes newest first. A node's output feeds only later steps, and those were
     * visited (or reached by the engine's backward) before it, so its gradient is complete.
     */
    void propagate() {
        ListIterator<TapeNode> it = nodes.listIterator(nodes.size());
        while (it.hasPrevious()) {
            TapeNode node = it.previous();
            if (node.propagate()) {
                it.remove();
                node.close();
            }
        }
    }

    /** Nodes recorded and not yet consumed. */
    int size() {
        return nodes.size();
    }

    /** Frees every node not yet consumed and detaches the tape from its thread (the collector's close). */
    void close() {
        for (TapeNode n : nodes) {
            n.close();
        }
        nodes.clear();
        if (ACTIVE.get() == this) {
            ACTIVE.remove();
        }
    }
}
