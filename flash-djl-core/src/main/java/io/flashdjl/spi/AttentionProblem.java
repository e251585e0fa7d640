package io.flashdjl.spi;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionBias;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Layout;
import io.flashdjl.Precision;
import io.flashdjl.Sequences;
import java.util.Optional;

/**
 * One validated attention call: the inputs, the options, and the sizes read off the inputs.
 *
 * <p>The only way to get one is {@link #validate}, which runs every check on q, k, v and the options
 * (or {@link #withInputs}, which moves an already validated problem onto arrays of the same shape,
 * dtype, device and engine). A backend can therefore trust every field.
 */
public final class AttentionProblem {

    private final NDArray q;
    private final NDArray k;
    private final NDArray v;
    private final AttentionOptions options;
    private final Sequences sequences; // null: every row of every batch row takes part
    private final AttentionBias bias; // null: no score bias
    private final long batch;
    private final long headsQ;
    private final long headsKv;
    private final long seqQ;
    private final long seqK;
    private final long headDim;
    private final long valueDim;

    /** Reads the sizes off inputs that {@link InputValidation} has accepted. */
    private AttentionProblem(
            NDArray q, NDArray k, NDArray v, Sequences sequences, AttentionBias bias, AttentionOptions options) {
        this.q = q;
        this.k = k;
        this.v = v;
        this.options = options;
        this.sequences = sequences;
        this.bias = bias;
        Layout layout = options.layout();
        this.batch = q.getShape().get(0);
        this.headsQ = q.getShape().get(layout.headAxis());
        this.headsKv = k.getShape().get(layout.headAxis());
        this.seqQ = q.getShape().get(layout.sequenceAxis());
        this.seqK = k.getShape().get(layout.sequenceAxis());
        this.headDim = q.getShape().get(3);
        this.valueDim = v.getShape().get(3);
    }

    /**
     * Validates one attention call: ranks, dtypes, devices and sizes of q, k, v against each other and
     * the options (BSHD swaps the two middle dimensions of each shape below; {@code Hq % Hkv == 0}).
     *
     * @param q the queries, {@code [B, Hq, Nq, D]} in BHSD
     * @param k the keys, {@code [B, Hkv, Nk, D]} in BHSD
     * @param v the values, {@code [B, Hkv, Nk, Dv]} in BHSD
     * @param options the options of the call
     * @return the validated problem
     * @throws IllegalArgumentException naming the first argument that does not fit, what was expected and what
     *     came
     */
    public static AttentionProblem validate(NDArray q, NDArray k, NDArray v, AttentionOptions options) {
        return validate(q, k, v, null, options);
    }

    /**
     * Validates one attention call over sequences of different lengths: {@link #validate(NDArray, NDArray,
     * NDArray, AttentionOptions)}, and the sequences against q and k (packed offsets are read to the host once
     * per {@link Sequences} instance and checked).
     *
     * @param q the queries, {@code [B, Hq, Nq, D]} in BHSD
     * @param k the keys, {@code [B, Hkv, Nk, D]} in BHSD
     * @param v the values, {@code [B, Hkv, Nk, Dv]} in BHSD
     * @param sequences which rows are tokens; null when all are
     * @param options the options of the call
     * @return the validated problem
     * @throws IllegalArgumentException naming the first argument that does not fit, what was expected and what
     *     came
     */
    public static AttentionProblem validate(
            NDArray q, NDArray k, NDArray v, Sequences sequences, AttentionOptions options) {
        return validate(q, k, v, sequences, null, options);
    }

    /**
     * Validates one attention call with a score bias: {@link #validate(NDArray, NDArray, NDArray, Sequences,
     * AttentionOptions)}, and the bias against q and k (rank, broadcastable shape, dtype, device).
     *
     * @param q the queries, {@code [B, Hq, Nq, D]} in BHSD
     * @param k the keys, {@code [B, Hkv, Nk, D]} in BHSD
     * @param v the values, {@code [B, Hkv, Nk, Dv]} in BHSD
     * @param sequences which rows are tokens; null when all are
     * @param bias the score bias (SDPA's attn_mask); null for none
     * @param options the options of the call
     * @return the validated problem
     * @throws IllegalArgumentException naming the first argument that does not fit, what was expected and what
     *     came
     */
    public static AttentionProblem validate(
            NDArray q, NDArray k, NDArray v, Sequences sequences, AttentionBias bias, AttentionOptions options) {
        InputValidation.requireProblem(q, k, v, options);
        if (sequences != null) {
            InputValidation.requireSequences(sequences, q, k, options.layout());
        }
        if (bias != null) {
            InputValidation.requireBias(bias, q, k, options.layout());
        }
        return new AttentionProblem(q, k, v, sequences, bias, options);
    }

    /**
     * This problem on other arrays that stand for the same inputs, such as views detached from the autograd
     * graph. It checks only that each array has the shape, dtype, device and engine of the one it replaces; the
     * rest of the validation carries over, since it depends on nothing else.
     *
     * @param q replaces {@link #q()}
     * @param k replaces {@link #k()}
     * @param v replaces {@link #v()}
     * @return a problem with this one's options and sizes on the given arrays
     * @throws IllegalArgumentException naming the array whose shape, dtype, device or engine differs
     */
    public AttentionProblem withInputs(NDArray q, NDArray k, NDArray v) {
        InputValidation.requireLike("q", q, this.q);
        InputValidation.requireLike("k", k, this.k);
        InputValidation.requireLike("v", v, this.v);
        return new AttentionProblem(q, k, v, sequences, bias, options);
    }

    /**
     * Validates the arguments of a backward pass against this problem.
     *
     * @param dOut the gradient of the output: the output's shape, q's dtype and device
     * @param forward the forward result of this problem
     * @throws IllegalArgumentException naming the argument that does not fit
     */
    public void checkBackwardInputs(NDArray dOut, AttentionResult forward) {
        InputValidation.requireBackwardInputs(
                dOut, forward, outputShape(), dataType(), device(), new Shape(batch, headsQ, seqQ), logSumExpType());
    }

    /**
     * The queries.
     *
     * @return q, in the problem's layout
     */
    public NDArray q() {
        return q;
    }

    /**
     * The keys.
     *
     * @return k, in the problem's layout
     */
    public NDArray k() {
        return k;
    }

    /**
     * The values.
     *
     * @return v, in the problem's layout
     */
    public NDArray v() {
        return v;
    }

    /**
     * The options of the call.
     *
     * @return the options
     */
    public AttentionOptions options() {
        return options;
    }

    /**
     * Which rows are tokens, for batches of sequences of different lengths.
     *
     * @return the sequences; empty when every row of every batch row takes part
     */
    public Optional<Sequences> sequences() {
        return Optional.ofNullable(sequences);
    }

    /**
     * The score bias of the call (SDPA's attn_mask).
     *
     * @return the bias; empty when there is none
     */
    public Optional<AttentionBias> bias() {
        return Optional.ofNullable(bias);
    }

    /**
     * The number of sequences: the batch size, or for packed sequences their count.
     *
     * @return B, or S for packed sequences
     */
    public long sequenceCount() {
        return isPacked() ? sequences.hostQueries().length - 1 : batch;
    }

    /**
     * The query rows of the longest sequence.
     *
     * @return Nq, or for packed sequences the most rows of one sequence
     */
    public long longestQuery() {
        return isPacked() ? longest(sequences.hostQueries()) : seqQ;
    }

    /**
     * The key rows of the longest sequence.
     *
     * @return Nk, or for packed sequences the most rows of one sequence
     */
    public long longestKey() {
        return isPacked() ? longest(sequences.hostKeys()) : seqK;
    }

    private boolean isPacked() {
        return sequences != null && sequences.form() == Sequences.Form.PACKED;
    }

    private static long longest(int[] offsets) {
        long most = 0;
        for (int s = 1; s < offsets.length; s++) {
            most = Math.max(most, offsets[s] - offsets[s - 1]);
        }
        return most;
    }

    /**
     * The layout of q, k, v and of the output.
     *
     * @return the options' layout
     */
    public Layout layout() {
        return options.layout();
    }

    /**
     * The batch size {@code B}.
     *
     * @return B
     */
    public long batch() {
        return batch;
    }

    /**
     * The number of query heads {@code Hq}.
     *
     * @return Hq
     */
    public long headsQ() {
        return headsQ;
    }

    /**
     * The number of key/value heads {@code Hkv}.
     *
     * @return Hkv
     */
    public long headsKv() {
        return headsKv;
    }

    /**
     * Query heads that share one key/value head.
     *
     * @return {@code Hq / Hkv}
     */
    public long groupSize() {
        return headsQ / headsKv;
    }

    /**
     * The number of queries {@code Nq}.
     *
     * @return Nq
     */
    public long seqQ() {
        return seqQ;
    }

    /**
     * The number of keys (and values) {@code Nk}.
     *
     * @return Nk
     */
    public long seqK() {
        return seqK;
    }

    /**
     * The head dimension of q and k.
     *
     * @return D
     */
    public long headDim() {
        return headDim;
    }

    /**
     * The head dimension of v and of the output.
     *
     * @return Dv
     */
    public long valueDim() {
        return valueDim;
    }

    /**
     * The band of the options for the whole tensors ({@code Nq x Nk}): without sequences, which keys each query
     * sees, the one source of the visibility rule for every backend. With sequences, each sequence has its own
     * band ({@link #batchVisibility()}).
     *
     * @return the band of the options' mask for this problem's sequence lengths
     */
    public Visibility visibility() {
        return Visibility.of(options, seqQ, seqK);
    }

    /**
     * Which keys each query sees, batch row by batch row: the band of each sequence (with its own lengths),
     * nothing across sequences or in padding. Reads the sequences to the host (once per {@link Sequences}).
     *
     * @return the visibility of every batch row
     */
    public BatchVisibility batchVisibility() {
        return BatchVisibility.of(this);
    }

    /**
     * The softmax scale to use.
     *
     * @return the one set in the options, else {@code 1/sqrt(D)}
     */
    public double scale() {
        return options.scaleFor(headDim);
    }

    /**
     * The dtype of the log-sum-exp (float64 for float64 inputs, so that a float64 backward pass is not
     * limited by a float32 log-sum-exp).
     *
     * @return float32, or float64 for float64 inputs
     */
    public DataType logSumExpType() {
        return dataType() == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32;
    }

    /**
     * The dtype of q, k, v and of the output.
     *
     * @return q's dtype
     */
    public DataType dataType() {
        return q.getDataType();
    }

    /**
     * The device of every input and output.
     *
     * @return q's device
     */
    public Device device() {
        return q.getDevice();
    }

    /**
     * Views an array of this problem's layout as BHSD; no copy with the PyTorch engine.
     *
     * @param a a q-, k-, v- or output-shaped array in this problem's layout
     * @return {@code a} itself for BHSD, else a transposed view
     */
    public NDArray toBhsd(NDArray a) {
        return layout() == Layout.BHSD ? a : a.transpose(0, 2, 1, 3);
    }

    /**
     * Views a BHSD array in this problem's layout; no copy with the PyTorch engine.
     *
     * @param a a BHSD array
     * @return {@code a} itself for BHSD, else a transposed view
     */
    public NDArray fromBhsd(NDArray a) {
        return layout() == Layout.BHSD ? a : a.transpose(0, 2, 1, 3);
    }

    /**
     * Floating-point operations of the forward pass, counted as the FlashAttention papers do.
     *
     * @return {@code 2 B Hq Nq Nk (D + Dv)}, halved when causal
     */
    public double forwardFlops() {
        double f = 2.0 * batch * headsQ * seqQ * seqK * (headDim + valueDim);
        return options.isCausal() ? f / 2 : f;
    }

    /** The shape of the attention output in this problem's layout. */
    private Shape outputShape() {
        return layout() == Layout.BHSD
                ? new Shape(batch, headsQ, seqQ, valueDim)
                : new Shape(batch, seqQ, headsQ, valueDim);
    }

    @Override
    public String toString() {
        return "B=" + batch + " Hq=" + headsQ + " Hkv=" + headsKv + " Nq=" + seqQ + " Nk=" + seqK
                + " D=" + headDim + " Dv=" + valueDim + " " + dataType() + " on " + device()
                + " " + options.layout() + " " + options.mask()
                + (options.windowLeft() < 0 && options.windowRight() < 0
                        ? ""
                        : " window (" + options.windowLeft() + ", " + options.windowRight() + ")")
                + (options.precision() == Precision.FULL ? "" : " precision " + options.precision())
                + (sequences == null ? "" : " " + sequences)
                + (bias == null ? "" : " " + bias);
    }
}
