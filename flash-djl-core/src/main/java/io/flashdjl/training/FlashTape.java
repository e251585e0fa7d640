package io.flashdjl.training;

import ai.djl.ndarray.NDArray;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.FlashAttention;
import java.util.ArrayList;
import java.util.List;
import java.util.ListIterator;

/**
 * The record of steps the engine cannot differentiate, kept by a {@link FlashGradientCollector}
 * for its thread. Internal: models reach it through {@link FlashAttention#attention} and {@link
 * FlashGradientCollector#cut}.
 *
 * <p>A node is consumed by the first backward pass that reaches its output: like DJL's own
 * collector, each forward graph takes one backward pass.
 */
public final class FlashTape implements AutoCloseable {

    private static final ThreadLocal<FlashTape> ACTIVE = new ThreadLocal<>();

    private final List<TapeNode> nodes = new ArrayList<>();

    private FlashTape() {}

    /** The tape of the flash-aware collector open on this thread, or null. */
    public static FlashTape active() {
        return ACTIVE.get();
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
     * Attention computed outside the engine graph, recorded for the backward pass.
     *
     * @return the output as a new leaf that requires grad
     */
    public NDArray attention(NDArray q, NDArray k, NDArray v, AttentionOptions options) {
        NDArray[] inputs = {q, k, v};
        NDArray[] detached = {q.stopGradient(), k.stopGradient(), v.stopGradient()};
        AttentionResult r = Autograd.withoutGrad(() -> FlashAttention.forward(detached[0], detached[1], detached[2], options));
        r.output().setRequiresGradient(true);
        nodes.add(new AttentionNode(inputs, detached, r, options));
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

    @Override
    public void close() {
        for (TapeNode n : nodes) {
            n.close();
        }
        nodes.clear();
        if (ACTIVE.get() == this) {
            ACTIVE.remove();
        }
    }
}
