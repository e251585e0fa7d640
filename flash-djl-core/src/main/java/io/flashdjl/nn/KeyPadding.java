package io.flashdjl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.spi.Visibility;
import java.lang.ref.WeakReference;
import java.util.Optional;

/**
 * Reads a DJL mask as key padding when it is one, so that it reaches the flash backends as key lengths
 * ({@link io.flashdjl.Sequences#padded}) instead of a materialised {@code T x F} mask.
 *
 * <p>A {@code [B, T, F]} mask of 1 (keep) and 0 (hide) is key padding for a block whose own band (causal,
 * window) is {@code V} when, in every batch row, every query row keeps, among the keys {@code V} shows it,
 * exactly those of one run of ones followed by zeros: what DJL's BERT builds from its input masks, and the
 * same combined with the block's causal mask (what a padded GPT builds). Then it is exactly key lengths, as
 * long as every query row sees at least one kept key: DJL adds {@code -100000} to the hidden scores, whose
 * weight underflows to 0, and the flash backends give the padding keys weight 0 (a row with no kept key is
 * where the two differ: DJL weighs its keys alike, the flash backends give 0, so such a mask is not taken).
 *
 * <p>The test runs on the mask's device and costs one read of a boolean back to the host, once per mask array
 * and band: a model passes the same mask to every layer, and the answer for the last mask array of each thread
 * is kept (so a mask changed in place between two forwards is not read again). An int32 {@code [B]} "mask" is
 * taken as key lengths directly.
 */
final class KeyPadding {

    /** The last mask array and band read on this thread and the answer (lengths, or null: not key padding). */
    private record Last(WeakReference<NDArray> mask, long lower, long upper, NDArray lengths) {}

    private static final ThreadLocal<Last> LAST = new ThreadLocal<>();

    private KeyPadding() {}

    /**
     * The key lengths a mask stands for, for a block whose own band is {@code band}.
     *
     * @param mask a checked block mask ({@code BlockInputs}): {@code [B, T, F]}, a 4-dimensional offset, or
     *     int32 {@code [B]} key lengths
     * @param band the block's own visibility ({@code Visibility.of(options, T, F)})
     * @return int32 {@code [B]} key lengths, or empty when the mask is not key padding
     */
    static Optional<NDArray> lengthsOf(NDArray mask, Visibility band) {
        Shape s = mask.getShape();
        if (s.dimension() == 1) {
            return Optional.of(mask); // given directly (BlockInputs checked int32 [B])
        }
        if (s.dimension() != 3) {
            return Optional.empty(); // an additive offset: not 1/0
        }
        Last last = LAST.get();
        if (last != null
                && last.mask().get() == mask
                && last.lower() == band.lowerOffset()
                && last.upper() == band.upperOffset()
                && (last.lengths() == null || !last.lengths().isReleased())) {
            return Optional.ofNullable(last.lengths());
        }
        NDArray lengths = read(mask, s, band);
        LAST.set(new Last(new WeakReference<>(mask), band.lowerOffset(), band.upperOffset(), lengths));
        return Optional.ofNullable(lengths);
    }

    /** The test itself: int32 [B] lengths, or null. */
    private static NDArray read(NDArray mask, Shape s, Visibility band) {
        NDArray keep = mask.toType(DataType.FLOAT32, false);
        // the keys' pattern: a key is kept when some row keeps it
        NDArray pattern = keep.max(new int[] {1}, true); // [B, 1, F]
        NDArray seen = band.isFull()
                ? null
                : band.visibleMask(mask.getManager(), mask.getDevice(), 0, s.get(1), 0, s.get(2))
                        .expandDims(0)
                        .broadcast(s);
        NDArray agrees = keep.eq(pattern.broadcast(s));
        NDArray sameRows = (seen == null ? agrees : agrees.logicalOr(seen.logicalNot())).all();
        NDArray zeroOrOne = pattern.eq(0).logicalOr(pattern.eq(1)).all();
        NDArray prefix = s.get(2) < 2
                ? sameRows
                : pattern.get(":, :, 1:").lte(pattern.get(":, :, :-1")).all(); // no 1 after a 0
        NDArray kept = pattern.gt(0).broadcast(s);
        NDArray everyRowSeesAKey = (seen == null ? kept : kept.logicalAnd(seen))
                .toType(DataType.FLOAT32, false)
                .max(new int[] {2})
                .gt(0)
                .all();
        boolean padding = sameRows.logicalAnd(zeroOrOne)
                .logicalAnd(prefix)
                .logicalAnd(everyRowSeesAKey)
                .getBoolean();
        return padding ? pattern.sum(new int[] {1, 2}).toType(DataType.INT32, false) : null;
    }
}
