package io.flashdjl.training;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;

/**
 * A DJL {@link GradientCollector} that also differentiates what the engine cannot: attention
 * computed by kernels outside the engine graph ({@code FlashAttention.attention} records it on
 * this collector's tape while it is open on the calling thread).
 *
 * <p>{@link #backward} runs the engine's backward keeping the graph, then visits the tape newest
 * first, turning each attention output's gradient into dq, dk, dv with the backend's backward and
 * pushing those into the graph below q, k, v. Every parameter ends with the same gradient as
 * under the engine's autograd alone.
 *
 * <p>Like DJL's own collector, only one may be open at a time (the engine's is JVM-wide), and the
 * model must run on the thread that opened it.
 */
public final class FlashGradientCollector implements GradientCollector {

    private final GradientCollector engineCollector;
    private final FlashTape tape;

    /** Opens the engine's collector (grad mode on) and this thread's tape. */
    public FlashGradientCollector() {
        this.engineCollector = Engine.getInstance().newGradientCollector();
        try {
            this.tape = FlashTape.open();
        } catch (RuntimeException e) {
            engineCollector.close();
            throw e;
        }
    }

    /**
     * Whether a flash-aware collector is open on this thread.
     *
     * @return true inside a {@link FlashGradientCollector} on this thread
     */
    public static boolean isCollecting() {
        return FlashTape.active().isPresent();
    }

    /**
     * A block boundary for the backward pass: returns a detached leaf standing for {@code x}; the
     * leaf's gradient goes into {@code x}'s graph after everything recorded later. Cutting each
     * block of a residual stack keeps the backward pass linear in depth; the gradients are the
     * same with or without cuts.
     *
     * @param x an activation inside the model
     * @return the leaf, or {@code x} itself when the engine is not recording
     */
    public NDArray cut(NDArray x) {
        return tape.cut(x);
    }

    /**
     * {@link #cut} on the collector open on this thread, for blocks that do not hold the collector.
     *
     * @param x an activation inside the model
     * @return the leaf, or {@code x} itself when no collector is open or the engine is not recording
     */
    public static NDArray cutIfCollecting(NDArray x) {
        return FlashTape.active().map(t -> t.cut(x)).orElse(x);
    }

    /** Back-propagates {@code target} (gradient ones) through the engine graph and the tape. */
    @Override
    public void backward(NDArray target) {
        NDArray ones = target.onesLike();
        JniUtils.backward((PtNDArray) target, (PtNDArray) ones, true, false);
        ones.close();
        tape.propagate();
    }

    /**
     * Nodes on the tape not yet reached by a backward pass.
     *
     * @return the number of pending nodes
     */
    public int pendingNodes() {
        return tape.size();
    }

    @Override
    public void zeroGradients() {
        engineCollector.zeroGradients();
    }

    /** Clears the tape and closes the engine's collector. */
    @Override
    public void close() {
        try {
            tape.close();
        } finally {
            engineCollector.close();
        }
    }
}
