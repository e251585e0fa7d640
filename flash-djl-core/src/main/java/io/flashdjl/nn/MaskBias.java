package io.flashdjl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionBias;
import io.flashdjl.spi.Visibility;
import java.lang.ref.WeakReference;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A DJL mask that is not key padding ({@link KeyPadding}) as a score bias for the flash backends ({@link
 * AttentionBias}), with DJL's semantics kept:
 *
 * <ul>
 *   <li>a {@code [B, T, F]} mask of only 1 (keep) and 0 (hide), of which every query row keeps at least one key
 *       among those the block's band shows it: a boolean mask {@code [B, 1, T, F]}. DJL adds {@code -100000} to the
 *       hidden scores, whose weight underflows to exactly 0; the kernels skip them (and whole hidden tiles);
 *   <li>any other {@code [B, T, F]} mask (a row without a kept key, where DJL weighs the row's keys alike, or
 *       values other than 0 and 1): DJL's offset itself, {@code (mask - 1) * 100000}, as a float32 bias (float16
 *       cannot hold it);
 *   <li>a 4-dimensional additive offset {@code [B, heads or 1, T, F]}: as it is, in float32.
 * </ul>
 *
 * <p>The row test costs one read of a boolean back to the host, once per mask array and band; the bias for the
 * last mask array of each thread is kept, so that the layers of a model share one bias and its tile summary (a
 * mask changed in place between two forwards is not read again).
 */
final class MaskBias {

    /** What DJL adds to hidden scores. */
    private static final float HIDDEN_OFFSET = -100000f;

    private record Last(WeakReference<NDArray> mask, long lower, long upper, AttentionBias bias) {}

    private static final ThreadLocal<Last> LAST = new ThreadLocal<>();

    private static final Logger logger = LoggerFactory.getLogger(MaskBias.class);

    /** Whether the slower float form was logged (once per JVM). */
    private static final AtomicBoolean FLOAT_FORM_LOGGED = new AtomicBoolean();

    private MaskBias() {}

    /**
     * The score bias a checked block mask ({@code BlockInputs}) stands for.
     *
     * @param mask {@code [B, T, F]} of 1/0, or a 4-dimensional additive offset
     * @param band the block's own visibility ({@code Visibility.of(options, T, F)})
     * @return the bias, on the mask's device
     */
    static AttentionBias of(NDArray mask, Visibility band) {
        Last last = LAST.get();
        if (last != null
                && last.mask().get() == mask
                && last.lower() == band.lowerOffset()
                && last.upper() == band.upperOffset()
                && !last.bias().values().isReleased()) {
            return last.bias();
        }
        AttentionBias bias = AttentionBias.of(values(mask, band));
        LAST.set(new Last(new WeakReference<>(mask), band.lowerOffset(), band.upperOffset(), bias));
        return bias;
    }

    private static NDArray values(NDArray mask, Visibility band) {
        Shape s = mask.getShape();
        if (s.dimension() == 4) {
            return mask.toType(DataType.FLOAT32, false); // an offset: read at every score, as DJL adds it
        }
        Shape s4 = new Shape(s.get(0), 1, s.get(1), s.get(2));
        NDArray keep = mask.toType(DataType.FLOAT32, false);
        NDArray seen = band.isFull()
                ? null
                : band.visibleMask(mask.getManager(), mask.getDevice(), 0, s.get(1), 0, s.get(2))
                        .expandDims(0)
                        .broadcast(s);
        NDArray kept = keep.eq(1f);
        boolean booleanFits = keep.eq(0f)
                .logicalOr(kept)
                .all()
                .logicalAnd((seen == null ? kept : kept.logicalAnd(seen))
                        .toType(DataType.FLOAT32, false)
                        .max(new int[] {2})
                        .gt(0)
                        .all())
                .getBoolean();
        if (booleanFits) {
            return kept.reshape(s4);
        }
        if (FLOAT_FORM_LOGGED.compareAndSet(false, true)) {
            logger.info("FlashAttentionBlock: a mask with a row that keeps no key (or values other than 0 and 1)"
                    + " runs as DJL's offset, a float32 bias the kernels read at every score: slower than a 1/0 mask"
                    + " whose every row keeps a key");
        }
        return keep.sub(1f).mul(-HIDDEN_OFFSET).reshape(s4);
    }
}
