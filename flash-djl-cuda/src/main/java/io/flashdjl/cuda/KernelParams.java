package io.flashdjl.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Packs {@code FlashFwdParams} and {@code FlashBwdParams} of {@code src/main/cuda/flash_params.h}
 * byte for byte: little endian, 8-byte fields first, then 4-byte fields, no padding. Field order
 * is the ABI; change both files together.
 */
final class KernelParams {

    /** Element strides of one 4-D tensor, in BHSD order of meaning: batch, head, row. */
    static final class Strides {
        final long batch;
        final long head;
        final long row;

        Strides(long batch, long head, long row) {
            this.batch = batch;
            this.head = head;
            this.row = row;
        }
    }

    /** The sizes and scalars every kernel takes. */
    static final class Dims {
        final int batch;
        final int headsQ;
        final int headsKv;
        final int seqQ;
        final int seqK;
        final int headDim;
        final float scale;
        final int mask;

        Dims(int batch, int headsQ, int headsKv, int seqQ, int seqK, int headDim, float scale, int mask) {
            this.batch = batch;
            this.headsQ = headsQ;
            this.headsKv = headsKv;
            this.seqQ = seqQ;
            this.seqK = seqK;
            this.headDim = headDim;
            this.scale = scale;
            this.mask = mask;
        }
    }

    private static final float LOG2_E = (float) (1.0 / Math.log(2.0));

    private KernelParams() {}

    /** FlashFwdParams: q, k, v, o, lse; strides of q, k, v, o; dims. */
    static byte[] forward(long q, long k, long v, long o, long lse, Strides sq, Strides sk, Strides sv, Strides so,
            Dims d) {
        ByteBuffer b = buffer(5 * 8 + 12 * 8 + 10 * 4);
        b.putLong(q).putLong(k).putLong(v).putLong(o).putLong(lse);
        put(b, sq, sk, sv, so);
        putDims(b, d);
        b.putInt(0); // pad0
        return done(b);
    }

    /** FlashBwdParams: 11 pointers; strides of q, k, v, o, dout, dq, dk, dv; dims; deterministic. */
    static byte[] backward(long[] pointers, Strides[] strides, Dims d, boolean deterministic) {
        if (pointers.length != 11 || strides.length != 8) {
            throw new IllegalArgumentException("backward params need 11 pointers and 8 strides");
        }
        ByteBuffer b = buffer(11 * 8 + 24 * 8 + 10 * 4);
        for (long p : pointers) {
            b.putLong(p);
        }
        put(b, strides);
        putDims(b, d);
        b.putInt(deterministic ? 1 : 0);
        return done(b);
    }

    private static ByteBuffer buffer(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void put(ByteBuffer b, Strides... all) {
        for (Strides s : all) {
            b.putLong(s.batch).putLong(s.head).putLong(s.row);
        }
    }

    private static void putDims(ByteBuffer b, Dims d) {
        b.putInt(d.batch).putInt(d.headsQ).putInt(d.headsKv).putInt(d.seqQ).putInt(d.seqK).putInt(d.headDim);
        b.putFloat(d.scale).putFloat(d.scale * LOG2_E);
        b.putInt(d.mask);
    }

    private static byte[] done(ByteBuffer b) {
        if (b.hasRemaining()) {
            throw new IllegalStateException("kernel parameter block not filled: " + b.remaining() + " bytes left");
        }
        return b.array();
    }
}
