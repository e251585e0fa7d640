package io.flashdjl.spi;

import ai.djl.ndarray.NDArray;

/**
 * A scalar operand for arrays that may be in the engine graph. Write {@code x.mul(OwnedScalar.like(x, c))},
 * never {@code x.mul(c)}: on the CPU, DJL's PyTorch engine turns a Java number into a tensor over a
 * Java direct buffer, without copying, and closes it as soon as the op returns. Autograd keeps that
 * tensor for the backward pass (the other factor of a product), and once the JVM collects the buffer
 * the backward pass reads freed memory: silently wrong gradients, depending on when the GC runs. A copy
 * made by the engine owns its memory.
 */
public final class OwnedScalar {

    private OwnedScalar() {}

    /**
     * {@code value} as a 0-dimensional float64 array on {@code like}'s device, in memory the engine owns.
     * Like a Java number, a 0-dimensional operand does not change the dtype of the result.
     *
     * @param like an array whose manager and device the scalar takes
     * @param value the scalar
     * @return the scalar array, owned by {@code like}'s manager
     */
    public static NDArray like(NDArray like, double value) {
        try (NDArray borrowed = like.getManager().create(value)) {
            NDArray onDevice = borrowed.toDevice(like.getDevice(), false);
            NDArray owned = onDevice.duplicate(); // the engine's own copy
            if (onDevice != borrowed) {
                onDevice.close();
            }
            return owned;
        }
    }
}
