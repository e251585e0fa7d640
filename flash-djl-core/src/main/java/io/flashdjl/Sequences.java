package io.flashdjl;

import ai.djl.ndarray.NDArray;
import java.util.Optional;

/**
 * Which rows of a batch are tokens, for batches of sequences of different lengths. Two forms, both as
 * FlashAttention-2 has them:
 *
 * <ul>
 *   <li>{@link #padded}: batch row {@code b} holds one sequence whose first {@code queryLengths[b]} query
 *       rows and {@code keyLengths[b]} key rows are tokens; the rest is padding. Padding query rows get output
 *       0, log-sum-exp {@code -inf} and zero gradients; padding keys are seen by no query and get zero
 *       gradients. Padding rows are never read, so they may hold anything. Either array may be null: all rows
 *       of that side are tokens (key padding alone is what DJL's BERT-style masks say).
 *   <li>{@link #packed}: the sequences are packed one after another into a batch of one (varlen): sequence
 *       {@code s} is query rows {@code queryOffsets[s] .. queryOffsets[s + 1] - 1} and key rows {@code
 *       keyOffsets[s] .. keyOffsets[s + 1] - 1}. No padding is stored. The log-sum-exp is {@code [1, Hq,
 *       total queries]}.
 * </ul>
 *
 * <p>Inside each sequence the options' mask and window apply as if the sequence were alone, with its own
 * lengths: a bottom-right causal mask is anchored at each sequence's own last query and key. No query sees a
 * key of another sequence.
 *
 * <p>The arrays are int32, rank 1, on the inputs' device, and are read by the CUDA kernels in place; they must
 * stay open for the forward and backward calls that use them. A padded batch costs the CUDA backend no
 * device-to-host read; a packed one is read once per instance (to check the offsets and size the launch), and
 * so are the lengths of a padded one on the REFERENCE and SDPA backends.
 */
public final class Sequences {

    /** The two forms. */
    public enum Form {
        /** Rows of a padded batch, with valid lengths per batch row. */
        PADDED,
        /** Sequences packed into one batch row, given by cumulative offsets. */
        PACKED
    }

    private final Form form;
    private final NDArray queries;
    private final NDArray keys;
    private int[] hostQueries;
    private int[] hostKeys;

    private Sequences(Form form, NDArray queries, NDArray keys) {
        this.form = form;
        this.queries = queries;
        this.keys = keys;
    }

    /**
     * A padded batch with per-row valid lengths (values are clamped to {@code [0, N]}).
     *
     * @param queryLengths int32 {@code [B]}: the query rows of each batch row that are tokens; null for all
     * @param keyLengths int32 {@code [B]}: the key rows of each batch row that are tokens; null for all
     * @return the sequences
     * @throws IllegalArgumentException if both are null
     */
    public static Sequences padded(NDArray queryLengths, NDArray keyLengths) {
        if (queryLengths == null && keyLengths == null) {
            throw new IllegalArgumentException(
                    "queryLengths, keyLengths: expected at least one int32 [B] array but got null for both");
        }
        return new Sequences(Form.PADDED, queryLengths, keyLengths);
    }

    /**
     * Sequences packed into a batch of one. Validation reads the offsets to the host once per instance (to
     * check them and size the CUDA launch): reuse one instance for the forward and backward calls of a step.
     *
     * @param queryOffsets int32 {@code [S + 1]}: 0, then the cumulative query rows of the sequences
     * @param keyOffsets int32 {@code [S + 1]}: 0, then the cumulative key rows of the sequences
     * @return the sequences
     */
    public static Sequences packed(NDArray queryOffsets, NDArray keyOffsets) {
        return new Sequences(Form.PACKED, queryOffsets, keyOffsets);
    }

    /**
     * The form.
     *
     * @return padded or packed
     */
    public Form form() {
        return form;
    }

    /**
     * The query side: lengths {@code [B]} (padded) or offsets {@code [S + 1]} (packed).
     *
     * @return the array, empty for a padded batch whose query rows are all tokens
     */
    public Optional<NDArray> queries() {
        return Optional.ofNullable(queries);
    }

    /**
     * The key side: lengths {@code [B]} (padded) or offsets {@code [S + 1]} (packed).
     *
     * @return the array, empty for a padded batch whose key rows are all tokens
     */
    public Optional<NDArray> keys() {
        return Optional.ofNullable(keys);
    }

    /**
     * The query side's values on the host, read once (a device-to-host copy the first time).
     *
     * @return the lengths or offsets; null for a padded batch whose query rows are all tokens
     */
    public synchronized int[] hostQueries() {
        if (hostQueries == null && queries != null) {
            hostQueries = queries.toIntArray();
        }
        return hostQueries;
    }

    /**
     * The key side's values on the host, read once (a device-to-host copy the first time).
     *
     * @return the lengths or offsets; null for a padded batch whose key rows are all tokens
     */
    public synchronized int[] hostKeys() {
        if (hostKeys == null && keys != null) {
            hostKeys = keys.toIntArray();
        }
        return hostKeys;
    }

    @Override
    public String toString() {
        if (form == Form.PACKED) {
            return "packed sequences"
                    + (queries == null ? "" : " (" + (queries.getShape().get(0) - 1) + ")");
        }
        return "padded sequences (" + (queries == null ? "all queries" : "query lengths") + ", "
                + (keys == null ? "all keys" : "key lengths") + ")";
    }
}
