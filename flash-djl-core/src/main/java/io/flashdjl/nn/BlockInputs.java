package io.flashdjl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The 1 to 4 inputs of {@code FlashAttentionBlock}, read exactly as DJL's
 * {@code ScaledDotProductAttentionBlock} reads them and checked: one array (self-attention), two
 * (self-attention and a mask), three (keys, queries, values: note DJL's order, keys first) or four
 * (keys, queries, values, mask). Every failure names the argument, what was expected and what came.
 */
final class BlockInputs {

    final NDArray keys;
    final NDArray queries;
    final NDArray values;
    final NDArray mask; // null when there is none
    final long batch;
    final long queryLength; // DJL's T ("to" sequence)
    final long keyLength; // DJL's F ("from" sequence)

    private BlockInputs(NDArray keys, NDArray queries, NDArray values, NDArray mask) {
        this.keys = keys;
        this.queries = queries;
        this.values = values;
        this.mask = mask;
        this.batch = queries.getShape().get(0);
        this.queryLength = queries.getShape().get(1);
        this.keyLength = keys.getShape().get(1);
    }

    static BlockInputs of(NDList inputs, long embeddingSize, long heads) {
        int n = inputs == null ? 0 : inputs.size();
        if (n < 1 || n > 4) {
            throw new IllegalArgumentException("inputs: expected 1 to 4 arrays ([embeddings], [embeddings, mask],"
                    + " [keys, queries, values] or [keys, queries, values, mask]) but got " + n);
        }
        BlockInputs in = n < 3
                ? new BlockInputs(
                        embeddings("embeddings", inputs.get(0), embeddingSize),
                        inputs.get(0),
                        inputs.get(0),
                        n == 2 ? inputs.get(1) : null)
                : new BlockInputs(
                        embeddings("keys", inputs.get(0), embeddingSize),
                        embeddings("queries", inputs.get(1), embeddingSize),
                        embeddings("values", inputs.get(2), embeddingSize),
                        n == 4 ? inputs.get(3) : null);
        in.checkAgreement(heads);
        return in;
    }

    /** Checks a {@code [B, S, E]} input. */
    static NDArray embeddings(String name, NDArray a, long embeddingSize) {
        Shape s = a.getShape();
        if (s.dimension() != 3) {
            throw new IllegalArgumentException(
                    name + ": expected 3 dimensions [batch, sequence, " + embeddingSize + "] but got shape " + s);
        }
        if (s.get(2) != embeddingSize) {
            throw new IllegalArgumentException(
                    name + ": expected embedding size " + embeddingSize + " in the last dimension but got shape " + s);
        }
        return a;
    }

    private void checkAgreement(long heads) {
        Shape q = queries.getShape();
        Shape k = keys.getShape();
        Shape v = values.getShape();
        if (k.get(0) != q.get(0) || v.get(0) != q.get(0)) {
            throw new IllegalArgumentException("keys, values: expected the batch size " + q.get(0)
                    + " of queries but got keys " + k + " and values " + v);
        }
        if (v.get(1) != k.get(1)) {
            throw new IllegalArgumentException(
                    "values: expected the sequence length " + k.get(1) + " of keys but got shape " + v);
        }
        if (mask != null) {
            checkMask(heads);
        }
    }

    /**
     * DJL's two mask forms: {@code [B, T, F]} of 1 (keep) and 0 (hide), or a 4-dimensional
     * additive offset broadcast over {@code [B, heads, T, F]}; and this block's own, int32 {@code [B]} key
     * lengths.
     */
    private void checkMask(long heads) {
        Shape m = mask.getShape();
        Shape expected = new Shape(batch, queryLength, keyLength);
        if (m.dimension() == 1) {
            if (m.get(0) != batch || mask.getDataType() != DataType.INT32) {
                throw new IllegalArgumentException("mask: expected shape (" + batch + ") of int32 key lengths, or "
                        + expected + " of 1 (keep) and 0 (hide), but got " + m + " of " + mask.getDataType());
            }
            return;
        }
        if (m.dimension() == 3) {
            if (!m.equals(expected)) {
                throw new IllegalArgumentException("mask: expected shape " + expected
                        + " [batch, query length, key length] of 1 (keep) and 0 (hide) but got " + m);
            }
            return;
        }
        if (m.dimension() == 4) {
            long[] want = {batch, heads, queryLength, keyLength};
            for (int i = 0; i < 4; i++) {
                if (m.get(i) != 1 && m.get(i) != want[i]) {
                    throw new IllegalArgumentException("mask: expected an additive offset broadcastable to [" + batch
                            + ", " + heads + ", " + queryLength + ", " + keyLength + "] but got " + m);
                }
            }
            return;
        }
        throw new IllegalArgumentException("mask: expected shape " + expected
                + " (1 keep, 0 hide) or a 4-dimensional additive offset [" + batch + ", heads, " + queryLength + ", "
                + keyLength + "] but got " + m);
    }
}
