package io.flashdjl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.spi.OwnedScalar;
import io.flashdjl.spi.Visibility;
import java.util.function.UnaryOperator;

/**
 * Attention written out with engine ops (matmul, softmax, matmul), DJL's own way with DJL's mask semantics: the
 * path of a {@code naive} block (the baseline the flash block is measured against). It materialises the {@code T
 * x F} scores; the engine differentiates it.
 * Inputs and output are BSHD ({@code [B, S, heads, headDim]}), grouped-query heads allowed.
 */
final class MaskedAttention {

    /** What DJL adds to hidden scores (its mask semantics, kept exactly). */
    private static final double HIDDEN_OFFSET = -100000.0;

    /** Added to scores outside the band (causal, window): large enough that exp underflows to exactly 0. */
    private static final double BAND_OFFSET = -1e9;

    private MaskedAttention() {}

    /**
     * @param mask null, a {@code [B, T, F]} mask of 1/0, or a 4-dimensional additive offset
     * @param band the keys each query may see besides the mask (the block's causal mask and window)
     * @param dropout applied to the probabilities (DJL's dropout in training, else the identity)
     */
    static NDArray compute(
            NDArray q,
            NDArray k,
            NDArray v,
            NDArray mask,
            Visibility band,
            double scale,
            UnaryOperator<NDArray> dropout) {
        Shape qs = q.getShape();
        long b = qs.get(0);
        long t = qs.get(1);
        long heads = qs.get(2);
        long f = k.getShape().get(1);
        long kvHeads = k.getShape().get(2);
        long group = heads / kvHeads;
        NDArray qh =
                q.transpose(0, 2, 1, 3).reshape(b, kvHeads, group, t, qs.get(3)); // query head h -> kv head h / group
        NDArray kh = k.transpose(0, 2, 1, 3).expandDims(2); // [B, Hkv, 1, F, D]
        NDArray vh = v.transpose(0, 2, 1, 3).expandDims(2);
        NDArray product = qh.matMul(kh.swapAxes(3, 4));
        NDArray scores = product.mul(OwnedScalar.like(product, scale)); // [B, Hkv, G, T, F]
        if (mask != null) {
            scores = scores.add(offset(mask, b, heads, kvHeads, group, t, f, scores.getDataType()));
        }
        if (!band.isFull()) {
            NDArray hidden =
                    band.visibleMask(q.getManager(), q.getDevice(), 0, t, 0, f).logicalNot();
            scores = scores.add(hidden.toType(scores.getDataType(), false).mul(BAND_OFFSET));
        }
        NDArray out = dropout.apply(scores.softmax(-1)).matMul(vh); // [B, Hkv, G, T, Dv]
        return out.reshape(b, heads, t, v.getShape().get(3)).transpose(0, 2, 1, 3);
    }

    /** DJL's reading of a mask as an offset, shaped to broadcast over {@code [B, Hkv, G, T, F]}. */
    private static NDArray offset(
            NDArray mask, long b, long heads, long kvHeads, long group, long t, long f, DataType type) {
        if (mask.getShape().dimension() != 4) {
            NDArray keep = mask.toType(type, false).reshape(b, 1, 1, t, f);
            return keep.neg().add(1).mul(HIDDEN_OFFSET); // 1 -> 0, 0 -> -100000
        }
        NDArray m = mask.toType(type, false);
        if (m.getShape().get(1) == 1) {
            return m.expandDims(1); // [b, 1, 1, t, f]
        }
        return m.broadcast(new Shape(m.getShape().get(0), heads, t, f))
                .reshape(m.getShape().get(0), kvHeads, group, t, f);
    }
}
