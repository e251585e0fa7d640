package io.flashdjl.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Pushes known gradients into the engine graph below some arrays. One backward of {@code
 * sum_i sum(x_i * g_i)}, the {@code g_i} detached, delivers exactly {@code g_i} at each {@code
 * x_i} (the derivative of a product by a constant is that constant) and walks the shared graph
 * below q, k and v once rather than three times. The graph is kept: later nodes push through it
 * again.
 */
final class GradientPush {

    private GradientPush() {}

    /**
     * Sends {@code grads[i]} into the graph of {@code inputs[i]}. Inputs outside any graph simply
     * receive nothing: a zero anchor that requires grad makes the sum differentiable whatever the
     * inputs are, because DJL cannot say which of them are in the graph.
     */
    static void push(NDArray[] inputs, NDArray[] grads) {
        Autograd.withGrad(() -> {
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray first = inputs[0];
                NDArray total = first.getManager().zeros(new Shape(), first.getDataType(), first.getDevice());
                total.setRequiresGradient(true);
                for (int i = 0; i < inputs.length; i++) {
                    total = total.add(inputs[i].mul(grads[i].stopGradient()).sum());
                }
                JniUtils.backward((PtNDArray) total, (PtNDArray) total.onesLike(), true, false);
            }
        });
    }
}
