package io.flashdjl.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionMask;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Backend;
import io.flashdjl.Layout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** One attention problem for the parity tests: sizes, mask, layout, dtype, and how to fill it. */
public final class AttentionCase {

    public final long batch;
    public final long headsQ;
    public final long headsKv;
    public final long seqQ;
    public final long seqK;
    public final long headDim;
    public final long valueDim;
    public final AttentionMask mask;
    public final Layout layout;
    public final DataType dataType;
    /** NaN for the default 1/sqrt(D). */
    public final double scale;

    public AttentionCase(
            long batch,
            long headsQ,
            long headsKv,
            long seqQ,
            long seqK,
            long headDim,
            long valueDim,
            AttentionMask mask,
            Layout layout,
            DataType dataType,
            double scale) {
        this.batch = batch;
        this.headsQ = headsQ;
        this.headsKv = headsKv;
        this.seqQ = seqQ;
        this.seqK = seqK;
        this.headDim = headDim;
        this.valueDim = valueDim;
        this.mask = mask;
        this.layout = layout;
        this.dataType = dataType;
        this.scale = scale;
    }

    /**
     * This case with v's head dimension equal to that of q and k (what the CUDA kernels take).
     *
     * @return the case with {@code valueDim == headDim}
     */
    public AttentionCase withValueDimOfHeadDim() {
        return new AttentionCase(batch, headsQ, headsKv, seqQ, seqK, headDim, headDim, mask, layout, dataType, scale);
    }

    public AttentionOptions options(Backend backend) {
        AttentionOptions.Builder b =
                AttentionOptions.builder().optMask(mask).optLayout(layout).optBackend(backend);
        if (!Double.isNaN(scale)) {
            b.optScale(scale);
        }
        return b.build();
    }

    public Shape qShape() {
        return shape(headsQ, seqQ, headDim);
    }

    public Shape kShape() {
        return shape(headsKv, seqK, headDim);
    }

    public Shape vShape() {
        return shape(headsKv, seqK, valueDim);
    }

    public Shape outShape() {
        return shape(headsQ, seqQ, valueDim);
    }

    private Shape shape(long heads, long seq, long dim) {
        return layout == Layout.BHSD ? new Shape(batch, heads, seq, dim) : new Shape(batch, seq, heads, dim);
    }

    /** Standard normal values drawn in Java from {@code rng}, stored in this case's dtype. */
    public NDArray random(NDManager manager, Shape shape, SplittableRandom rng) {
        float[] data = new float[Math.toIntExact(shape.size())];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) gaussian(rng);
        }
        return manager.create(data, shape).toType(dataType, false);
    }

    /** Fresh q, k, v and an output gradient dOut for this case, in that order. */
    public NDArray[] randomInputs(NDManager manager, SplittableRandom rng) {
        return new NDArray[] {
            random(manager, qShape(), rng),
            random(manager, kShape(), rng),
            random(manager, vShape(), rng),
            random(manager, outShape(), rng)
        };
    }

    private static double gaussian(SplittableRandom rng) {
        // Box-Muller: SplittableRandom has no nextGaussian on Java 17
        double u = 1.0 - rng.nextDouble();
        double w = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w);
    }

    @Override
    public String toString() {
        return String.format(
                "B%d Hq%d Hkv%d Nq%d Nk%d D%d Dv%d %s %s %s%s",
                batch,
                headsQ,
                headsKv,
                seqQ,
                seqK,
                headDim,
                valueDim,
                mask,
                layout,
                dataType,
                Double.isNaN(scale) ? "" : " scale" + scale);
    }

    /**
     * A spread of awkward problems: every listed sequence length on both sides (none a multiple of
     * the tiles), Nq != Nk, equal heads, GQA 4:1 and MQA, every head dimension, Dv != D, every mask,
     * both layouts, every dtype, custom scales. The values cycle with co-prime periods so that the
     * combinations vary.
     */
    public static List<AttentionCase> grid(long[] seqs, long[] dims, DataType[] types, int count) {
        long[][] heads = {{2, 2}, {4, 1}, {8, 2}, {3, 3}, {6, 1}};
        AttentionMask[] masks = AttentionMask.values();
        Layout[] layouts = Layout.values();
        List<AttentionCase> cases = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            long nq = seqs[i % seqs.length];
            long nk = seqs[(i * 3 + i / seqs.length) % seqs.length];
            long d = dims[(i / 2) % dims.length];
            long dv = i % 11 == 5 ? dims[(i / 2 + 1) % dims.length] : d;
            long[] h = heads[i % heads.length];
            cases.add(new AttentionCase(
                    1 + i % 2,
                    h[0],
                    h[1],
                    nq,
                    nk,
                    d,
                    dv,
                    masks[(i / 3) % masks.length],
                    layouts[(i / 5) % layouts.length],
                    types[(i / 7) % types.length],
                    i % 6 == 4 ? 0.3 + 0.05 * (i % 5) : Double.NaN));
        }
        return cases;
    }
}
