package io.flashdjl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.lang.ref.WeakReference;
import java.util.Optional;

/**
 * Reads a DJL mask as key padding when it is one, so that it reaches the flash backends as key lengths
 * ({@link io.flashdjl.Sequences#padded}) instead of a materialised {@code T x F} mask.
 *
 * <p>A {@code [B, T, F]} mask of 1 (keep) and 0 (hide) is key padding when, in every batch row, every query row
 * is the same run of ones followed by zeros: what DJL's BERT-style models build from their input masks. Then it
 * is exactly key lengths (at least one key per row): DJL adds {@code -100000} to the hidden scores, whose
 * weight underflows to 0, and the flash backends give the padding keys weight 0. The test runs on the mask's
 * device and costs one read of a boolean back to the host, once per mask array: a model passes the same mask to
 * every layer, and the answer for the last mask array of each thread is kept (so a mask changed in place between
 * two forwards is not read again). An int32 {@code [B]} "mask" is taken as key lengths directly.
 */
final class KeyPadding {

    /** The last mask array read on this thread and its answer (lengths, or null: not key padding). */
    private record Last(WeakReference<NDArray> mask, NDArray lengths) {}

    private static final ThreadLocal<Last> LAST = new ThreadLocal<>();

    private KeyPadding() {}

    /**
     * The key lengths a mask stands for.
     *
     * @param mask a checked block mask ({@code BlockInputs}): {@code [B, T, F]}, a 4-dimensional offset, or
     *     int32 {@code [B]} key lengths
     * @return int32 {@code [B]} key lengths, or empty when the mask is not key padding
     */
    static Optional<NDArray> lengthsOf(NDArray mask) {
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
                && (last.lengths() == null || !last.lengths().isReleased())) {
            return Optional.ofNullable(last.lengths());
        }
        NDArray lengths = read(mask, s);
        LAST.set(new Last(new WeakReference<>(mask), lengths));
        return Optional.ofNullable(lengths);
    }

    /** The test itself: int32 [B] lengths, or null. */
    private static NDArray read(NDArray mask, Shape s) {
        NDArray keep = mask.toType(DataType.FLOAT32, false);
        NDArray first = keep.get(":, 0:1, :"); // [B, 1, F]: the pattern every row must repeat
        NDArray sameRows = keep.eq(first.broadcast(s)).all();
        NDArray zeroOrOne = first.eq(0).logicalOr(first.eq(1)).all();
        NDArray ones = first.get(":, :, 1:");
        NDArray before = first.get(":, :, :-1");
        NDArray prefix = s.get(2) < 2 ? sameRows : ones.lte(before).all(); // no 1 after a 0
        // a row without keys is not padding: DJL's offsets then weigh every key alike, the flash backends give 0
        NDArray someKey = first.get(":, :, 0:1").eq(1).all();
        boolean padding = sameRows.logicalAnd(zeroOrOne)
                .logicalAnd(prefix)
                .logicalAnd(someKey)
                .getBoolean();
        return padding ? first.sum(new int[] {1, 2}).toType(DataType.INT32, false) : null;
    }
}
