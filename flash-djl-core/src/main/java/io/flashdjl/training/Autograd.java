package io.flashdjl.training;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.function.Supplier;

/**
 * The few engine-autograd facts the tape needs. Only the PyTorch engine has the autograd this
 * project builds on; arrays of any other engine count as not differentiable.
 *
 * <p>{@link #isRecording()} is public because {@code FlashAttention.attention} decides with it whether a
 * call must be differentiable; the rest stays inside the training package.
 */
public final class Autograd {

    private Autograd() {}

    /**
     * Whether the engine is recording on this thread (inside a gradient collector), taken as
     * "these arrays may take part in the graph". DJL cannot tell more: its {@code requiresGrad}
     * reports false for the result of recorded ops, and asking such an array for its gradient
     * function aborts the JVM when it has none.
     *
     * @return whether the engine's grad mode is on for this thread
     */
    public static boolean isRecording() {
        return JniUtils.isGradMode();
    }

    /** The array's accumulated gradient, or null when no backward pass has reached it. */
    static NDArray gradientOrNull(NDArray a) {
        return a instanceof PtNDArray ? JniUtils.getGradient((PtNDArray) a) : null;
    }

    /** Runs {@code work} with the engine's recording switched off, then restores the mode. */
    static <T> T withoutGrad(Supplier<T> work) {
        boolean mode = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try {
            return work.get();
        } finally {
            JniUtils.setGradMode(mode);
        }
    }

    /** Runs {@code work} with the engine recording, then restores the mode. */
    static void withGrad(Runnable work) {
        boolean mode = JniUtils.isGradMode();
        JniUtils.setGradMode(true);
        try {
            work.run();
        } finally {
            JniUtils.setGradMode(mode);
        }
    }
}
