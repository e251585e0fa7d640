package io.flashdjl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.function.Supplier;

/**
 * A score bias for one attention call, what PyTorch's {@code scaled_dot_product_attention} takes as {@code
 * attn_mask}:
 *
 * <ul>
 *   <li>a boolean array: {@code true} keeps the key, {@code false} hides it (a key-padding mask {@code [B, 1, 1,
 *       Nk]}, a document mask {@code [B, 1, Nq, Nk]}, any pattern);
 *   <li>a float array (float16, float32, or float64 with float64 inputs): added to the scaled scores, {@code
 *       scale * q.k + bias}; {@code -inf} hides the key (ALiBi, relative-position biases).
 * </ul>
 *
 * <p>The shape is that of SDPA's mask, whatever the call's layout: rank 2 to 4, broadcastable to {@code [B, Hq,
 * Nq, Nk]}: the last dimension is {@code Nk}, the others are their size or 1 ({@code [Nq, Nk]}, {@code [Hq, 1,
 * Nk]}, {@code [B, 1, 1, Nk]}, ...). With {@link Sequences} the rows and keys are the tensors' own (for packed
 * sequences, the rows of the batch of one). The options' mask and window and the sequences still apply: the bias
 * only hides or shifts what they show. A query row left without a visible key gets output 0, log-sum-exp {@code
 * -inf} and zero gradients.
 *
 * <p>A float bias whose array requires a gradient ({@code setRequiresGradient(true)}) gets one: {@code
 * FlashAttention.backward} returns it ({@link AttentionGradients#bias()}, the bias's shape and dtype: summed over
 * the dimensions it broadcasts), and in training it reaches the array like the gradients of q, k and v.
 *
 * <p>Keep one instance for the forward and backward calls of a step, and for every layer that shares the mask:
 * the CUDA backend summarises the bias once per instance (which 64 x 64 tiles are hidden, to skip them) and keeps
 * the summary here. The array must stay open while the calls use it.
 */
public final class AttentionBias {

    private final NDArray values;
    private Object summary; // a backend's summary, made once (tileSummary)

    private AttentionBias(NDArray values) {
        this.values = values;
    }

    /**
     * A bias from its values: boolean (keep mask) or float (added to the scores).
     *
     * @param values the mask or bias, rank 2 to 4, broadcastable to {@code [B, Hq, Nq, Nk]}
     * @return the bias
     * @throws IllegalArgumentException if values is null (the rest is checked against q and k by each call)
     */
    public static AttentionBias of(NDArray values) {
        if (values == null) {
            throw new IllegalArgumentException("bias: expected a boolean or float NDArray but got null");
        }
        return new AttentionBias(values);
    }

    /**
     * The values as given.
     *
     * @return the mask or bias array
     */
    public NDArray values() {
        return values;
    }

    /**
     * Whether this is a boolean keep mask rather than an additive bias.
     *
     * @return true for a boolean array
     */
    public boolean isMask() {
        return values.getDataType() == DataType.BOOLEAN;
    }

    /**
     * Whether the backward pass computes the bias's gradient: a float bias whose array requires one.
     *
     * @return true for a float bias with {@code hasGradient()}
     */
    public boolean requiresGradient() {
        return !isMask() && values.hasGradient();
    }

    /**
     * The shape as rank 4, {@code [Bb, Hb, Rb, Nk]}: the values' shape with leading ones added.
     *
     * @return the rank-4 shape (each of the first three dimensions 1 or the call's size)
     */
    public Shape shape4() {
        Shape s = values.getShape();
        long[] d = {1, 1, 1, 1};
        for (int i = 0; i < s.dimension() && i < 4; i++) {
            d[4 - s.dimension() + i] = s.get(i);
        }
        return new Shape(d);
    }

    /**
     * For backends: a summary of the bias made once per instance and kept with it (the CUDA backend's tile
     * summary). The first call makes it; later calls return the same object.
     *
     * @param type the summary's class
     * @param make makes the summary
     * @param <T> the summary's type
     * @return the summary
     * @throws IllegalStateException if a summary of another type was made before
     */
    public synchronized <T> T tileSummary(Class<T> type, Supplier<T> make) {
        if (summary == null) {
            summary = make.get();
        }
        if (!type.isInstance(summary)) {
            throw new IllegalStateException(
                    "bias: its summary is a " + summary.getClass().getName() + ", not a " + type.getName());
        }
        return type.cast(summary);
    }

    @Override
    public String toString() {
        return (isMask() ? "boolean mask " : values.getDataType() + " bias ")
                + values.getShape()
                + (requiresGradient() ? " (with gradient)" : "");
    }
}
