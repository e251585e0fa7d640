package io.flashdjl.cuda;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionBias;
import io.flashdjl.spi.AttentionProblem;
import java.util.Optional;

/**
 * The score bias of a call as the kernels take it ({@code SCORE BIAS} in flash_params.h): the values (a dense
 * copy of a strided view), zero strides where the bias broadcasts, its tile summary and, in the backward pass of
 * a bias that requires one, the float32 gradient the kernels add dS into.
 *
 * <p>The summary (one byte per 64 x 64 cell: hidden, nothing to read, or partial) is made once per {@link
 * AttentionBias} instance by the {@code flash_bias_tiles} kernel and kept with the instance, for the query length
 * it was made for.
 */
final class BiasArrays {

    private static final String SUMMARY_KERNEL = "flash_bias_tiles";
    private static final int CELL = 64;

    /** No bias. */
    static final BiasArrays NONE = new BiasArrays(KernelParams.Bias.NONE, null, null, null);

    final KernelParams.Bias params;
    private final AttentionBias bias;
    private final NDArray copy; // a dense copy of a strided view, or null
    private final NDArray gradient; // float32, the bias's rank-4 shape, or null

    private BiasArrays(KernelParams.Bias params, AttentionBias bias, NDArray copy, NDArray gradient) {
        this.params = params;
        this.bias = bias;
        this.copy = copy;
        this.gradient = gradient;
    }

    /** What the summary of a bias is, for the query length it was made for. */
    private record Summary(NDArray tiles, long seqQ) {}

    /**
     * The bias arguments of a call (NONE without a bias).
     *
     * @param withGradient whether to allocate the gradient (a backward pass of a bias that requires one)
     */
    static BiasArrays of(CudaKernels kernels, NDManager manager, AttentionProblem p, boolean withGradient) {
        Optional<AttentionBias> given = p.bias();
        if (given.isEmpty()) {
            return NONE;
        }
        AttentionBias bias = given.get();
        DenseArray dense = DenseArray.of("bias", bias.values());
        NDArray values = dense.array();
        Shape s = bias.shape4();
        KernelParams.Strides strides = broadcastStrides(s);
        long data = dense.address();
        int kind = kind(values.getDataType());
        long cellsQ = (p.seqQ() + CELL - 1) / CELL;
        long cellsK = (p.seqK() + CELL - 1) / CELL;
        long tilesBatch = s.get(0) == 1 ? 0 : s.get(1) * cellsQ * cellsK;
        long tilesHead = s.get(1) == 1 ? 0 : cellsQ * cellsK;
        KernelParams.Bias noTiles = new KernelParams.Bias(
                data, 0, 0, strides, tilesBatch, tilesHead, new KernelParams.Strides(0, 0, 0), kind);
        Summary summary = bias.tileSummary(Summary.class, () -> summarise(kernels, noTiles, values, s, p));
        if (summary.seqQ() != p.seqQ()) { // a bias with broadcast rows, reused with another query length
            summary = summarise(kernels, noTiles, values, s, p);
        }
        NDArray gradient = withGradient ? manager.zeros(s, DataType.FLOAT32) : null;
        KernelParams.Bias params = new KernelParams.Bias(
                data,
                NDArrayMemory.address("bias summary", summary.tiles()),
                gradient == null ? 0 : NDArrayMemory.address("bias gradient", gradient),
                strides,
                tilesBatch,
                tilesHead,
                gradient == null ? new KernelParams.Strides(0, 0, 0) : strides,
                kind);
        return new BiasArrays(params, bias, values == bias.values() ? null : values, gradient);
    }

    /** Whether the call has a bias (and runs the _bias kernels). */
    boolean present() {
        return params.present();
    }

    /**
     * The gradient in the bias's own shape and dtype, or null when none was computed. Call after the backward
     * kernels are queued.
     */
    NDArray gradient() {
        if (gradient == null) {
            return null;
        }
        NDArray values = bias.values();
        NDArray g = gradient.reshape(values.getShape());
        if (values.getDataType() == DataType.FLOAT32) {
            return g;
        }
        NDArray cast = g.toType(values.getDataType(), false);
        gradient.close();
        return cast;
    }

    /** Frees the dense copy; safe once the kernels are queued (stream-ordered reuse). */
    void release() {
        if (copy != null) {
            copy.close();
        }
    }

    /** Element strides of a dense rank-4 array, 0 where a dimension is 1 (broadcast; the last is dense). */
    static KernelParams.Strides broadcastStrides(Shape s) {
        return new KernelParams.Strides(
                s.get(0) == 1 ? 0 : s.get(1) * s.get(2) * s.get(3),
                s.get(1) == 1 ? 0 : s.get(2) * s.get(3),
                s.get(2) == 1 ? 0 : s.get(3));
    }

    /** The ABI's bias_kind of a dtype (validation admits no other on this backend's problems). */
    static int kind(DataType t) {
        switch (t) {
            case BOOLEAN:
                return 1;
            case FLOAT32:
                return 2;
            case FLOAT16:
                return 3;
            default:
                throw new IllegalArgumentException(
                        "bias: no kernel reads a " + t + " bias (boolean, float16, float32)");
        }
    }

    /** Queues flash_bias_tiles: a uint8 [Bb, Hb, cells_q, cells_k] summary, in the values' manager. */
    private static Summary summarise(
            CudaKernels kernels, KernelParams.Bias noTiles, NDArray values, Shape s, AttentionProblem p) {
        long cellsQ = (p.seqQ() + CELL - 1) / CELL;
        long cellsK = (p.seqK() + CELL - 1) / CELL;
        NDArray tiles = values.getManager().create(new Shape(s.get(0), s.get(1), cellsQ, cellsK), DataType.UINT8);
        KernelParams.Bias target = new KernelParams.Bias(
                noTiles.data(),
                NDArrayMemory.address("bias summary", tiles),
                0,
                noTiles.strides(),
                noTiles.tilesBatchStride(),
                noTiles.tilesHeadStride(),
                noTiles.gradStrides(),
                noTiles.kind());
        byte[] params = KernelParams.biasTiles(target, (int) s.get(0), (int) s.get(1), (int) p.seqQ(), (int) p.seqK());
        kernels.launch(kernels.kernel(SUMMARY_KERNEL), p.seqK(), cellsQ, s.get(0) * s.get(1), params, "bias summary");
        return new Summary(tiles, p.seqQ());
    }
}
