package io.flashdjl.spi;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Layout;

/**
 * One validated attention call: the inputs, the options, and the sizes read off the inputs.
 * Only {@link io.flashdjl.FlashAttention} creates these, after every check has passed, so a
 * backend can trust every field.
 */
public final class AttentionProblem {

    private final NDArray q;
    private final NDArray k;
    private final NDArray v;
    private final AttentionOptions options;
    private final long batch;
    private final long headsQ;
    private final long headsKv;
    private final long seqQ;
    private final long seqK;
    private final long headDim;
    private final long valueDim;

    public AttentionProblem(NDArray q, NDArray k, NDArray v, AttentionOptions options) {
        this.q = q;
        this.k = k;
        this.v = v;
        this.options = options;
        Layout layout = options.layout();
        this.batch = q.getShape().get(0);
        this.headsQ = q.getShape().get(layout.headAxis());
        this.headsKv = k.getShape().get(layout.headAxis());
        this.seqQ = q.getShape().get(layout.sequenceAxis());
        this.seqK = k.getShape().get(layout.sequenceAxis());
        this.headDim = q.getShape().get(3);
        this.valueDim = v.getShape().get(3);
    }

    public NDArray q() {
        return q;
    }

    public NDArray k() {
        return k;
    }

    public NDArray v() {
        return v;
    }

    public AttentionOptions options() {
        return options;
    }

    public Layout layout() {
        return options.layout();
    }

    public long batch() {
        return batch;
    }

    public long headsQ() {
        return headsQ;
    }

    public long headsKv() {
        return headsKv;
    }

    /** Query heads that share one key/value head: {@code Hq / Hkv}. */
    public long groupSize() {
        return headsQ / headsKv;
    }

    public long seqQ() {
        return seqQ;
    }

    public long seqK() {
        return seqK;
    }

    /** Head dimension of q and k. */
    public long headDim() {
        return headDim;
    }

    /** Head dimension of v and of the output. */
    public long valueDim() {
        return valueDim;
    }

    /** Which keys each query sees, from the options' mask and this problem's sequence lengths. */
    public Visibility visibility() {
        return Visibility.of(options.mask(), seqQ, seqK);
    }

    /** The softmax scale to use: the one set in the options, else {@code 1/sqrt(D)}. */
    public double scale() {
        return options.scaleFor(headDim);
    }

    /**
     * The dtype of the log-sum-exp: float32, or float64 for float64 inputs (so that a float64
     * backward pass is not limited by a float32 log-sum-exp).
     */
    public DataType logSumExpType() {
        return dataType() == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32;
    }

    public DataType dataType() {
        return q.getDataType();
    }

    public Device device() {
        return q.getDevice();
    }

    /** Views {@code a} (in this problem's layout) as BHSD; no copy with the PyTorch engine. */
    public NDArray toBhsd(NDArray a) {
        return layout() == Layout.BHSD ? a : a.transpose(0, 2, 1, 3);
    }

    /** Views a BHSD array in this problem's layout; no copy with the PyTorch engine. */
    public NDArray fromBhsd(NDArray a) {
        return layout() == Layout.BHSD ? a : a.transpose(0, 2, 1, 3);
    }

    /** Floating-point operations of the forward pass, {@code 4 B Hq Nq Nk D}, halved when causal (as the FlashAttention papers count). */
    public double forwardFlops() {
        double f = 2.0 * batch * headsQ * seqQ * seqK * (headDim + valueDim);
        return options.isCausal() ? f / 2 : f;
    }

    @Override
    public String toString() {
        return "B=" + batch + " Hq=" + headsQ + " Hkv=" + headsKv + " Nq=" + seqQ + " Nk=" + seqK
                + " D=" + headDim + " Dv=" + valueDim + " " + dataType() + " on " + device()
                + " " + options.layout() + " " + options.mask();
    }
}
