package io.flashdjl.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionBias;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.Layout;
import java.util.SplittableRandom;

/**
 * One call with a score bias for the tests: sizes, the bias's shape (rank 2 to 4, broadcast where a dimension is
 * 1), whether it is a boolean mask or a float bias, and the options. It makes the inputs, the bias values (30% of
 * the keys hidden, key 0 kept, and one query row with no kept key when the rows do not broadcast) and the bias as
 * the additive float64 term {@link NaiveAttention} takes.
 */
public record BiasCase(
        int batch,
        int headsQ,
        int headsKv,
        int seqQ,
        int seqK,
        int headDim,
        long[] biasShape,
        boolean mask,
        AttentionOptions options) {

    @Override
    public String toString() {
        return "B=" + batch + " Hq=" + headsQ + " Hkv=" + headsKv + " " + seqQ + "x" + seqK + " D=" + headDim + " "
                + (mask ? "mask " : "bias ") + new Shape(biasShape) + " " + options.mask() + " " + options.layout();
    }

    /** q, k, v, dOut in the case's layout, standard normal, in {@code type} on {@code device}. */
    public NDArray[] inputs(NDManager manager, SplittableRandom rng, DataType type, Device device) {
        boolean bshd = options.layout() == Layout.BSHD;
        Shape qs = bshd ? new Shape(batch, seqQ, headsQ, headDim) : new Shape(batch, headsQ, seqQ, headDim);
        Shape ks = bshd ? new Shape(batch, seqK, headsKv, headDim) : new Shape(batch, headsKv, seqK, headDim);
        NDArray[] in = {
            normal(manager, qs, rng), normal(manager, ks, rng), normal(manager, ks, rng), normal(manager, qs, rng)
        };
        for (int i = 0; i < 4; i++) {
            in[i] = in[i].toType(type, false).toDevice(device, false);
        }
        return in;
    }

    /**
     * The bias values: a boolean mask, or a float bias (standard deviation 2, -inf where the mask would hide) in
     * {@code floatType}, on {@code device}.
     */
    public NDArray values(NDManager manager, SplittableRandom rng, DataType floatType, Device device) {
        Shape s = new Shape(biasShape);
        int n = Math.toIntExact(s.size());
        long nk = biasShape[biasShape.length - 1];
        boolean[] keep = new boolean[n];
        float[] value = new float[n];
        for (int i = 0; i < n; i++) {
            keep[i] = rng.nextDouble() > 0.3 || i % nk == 0; // key 0 kept: most rows see something
            value[i] = keep[i] ? (float) (2 * rng.nextGaussian()) : Float.NEGATIVE_INFINITY;
        }
        if (biasShape[biasShape.length - 2] > 2) {
            for (int j = 0; j < nk; j++) {
                keep[(int) (2 * nk + j)] = false; // the third row of the first slice sees nothing
                value[(int) (2 * nk + j)] = Float.NEGATIVE_INFINITY;
            }
        }
        NDArray v = mask ? manager.create(keep, s) : manager.create(value, s).toType(floatType, false);
        return v.toDevice(device, false);
    }

    /** The bias as the rank-4 additive term of the naive attention, float64 on the CPU (-inf where hidden). */
    public static NDArray additive(NDManager cpu, AttentionBias bias) {
        NDArray v = bias.values().stopGradient().reshape(bias.shape4()).toDevice(Device.cpu(), false);
        if (!bias.isMask()) {
            return v.toType(DataType.FLOAT64, false);
        }
        Shape s = v.getShape();
        return NDArrays.where(
                v, cpu.zeros(s, DataType.FLOAT64), cpu.full(s, Float.NEGATIVE_INFINITY, DataType.FLOAT64));
    }

    /**
     * Padded lengths as the additive term of the naive attention, float64 {@code [B, 1, Nq, Nk]} on the CPU: 0
     * where query row {@code i < queryLengths[b]} and key {@code j < keyLengths[b]}, else -inf (a padding row sees
     * nothing, as the library's contract says).
     */
    public static NDArray lengthsAsBias(NDManager cpu, int[] queryLengths, int[] keyLengths, int nq, int nk) {
        int b = queryLengths.length;
        float[] fold = new float[b * nq * nk];
        for (int s = 0; s < b; s++) {
            for (int i = 0; i < nq; i++) {
                for (int j = 0; j < nk; j++) {
                    fold[(s * nq + i) * nk + j] =
                            i < queryLengths[s] && j < keyLengths[s] ? 0f : Float.NEGATIVE_INFINITY;
                }
            }
        }
        return cpu.create(fold, new Shape(b, 1, nq, nk)).toType(DataType.FLOAT64, false);
    }

    /**
     * A biased call's results against float64 naive attention on {@code additive} (rank 4, on the CPU) by {@link
     * ErrorBudget}'s rule: output, log-sum-exp, dq, dk, dv, and the bias's gradient (its shape and dtype; naive's
     * summed to the bias's broadcast shape) or none for a mask.
     *
     * @param in q, k, v, dOut of the call (any device)
     * @param type the inputs' dtype (the baseline's)
     */
    public static void check(
            String at,
            AttentionResult r,
            AttentionGradients g,
            NDArray[] in,
            AttentionOptions opts,
            AttentionBias bias,
            NDArray additive,
            DataType type) {
        NDArray[] host = new NDArray[4];
        for (int i = 0; i < 4; i++) {
            host[i] = in[i].toDevice(Device.cpu(), false);
        }
        AttentionOptions naive = opts.toBuilder().optBackend(Backend.AUTO).build();
        NaiveAttention.Outcome truth =
                NaiveAttention.compute(host[0], host[1], host[2], host[3], naive, DataType.FLOAT64, null, additive);
        NaiveAttention.Outcome base =
                NaiveAttention.compute(host[0], host[1], host[2], host[3], naive, type, null, additive);
        double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
        at += ": ";
        ErrorBudget.check(at + "output", r.output(), base.output, truth.output, type, mag);
        ErrorBudget.check(at + "lse", r.logSumExp(), base.logSumExp, truth.logSumExp, DataType.FLOAT32);
        ErrorBudget.check(at + "dq", g.dq(), base.dq, truth.dq, type, mag);
        ErrorBudget.check(at + "dk", g.dk(), base.dk, truth.dk, type, mag);
        ErrorBudget.check(at + "dv", g.dv(), base.dv, truth.dv, type, mag);
        if (bias.isMask()) {
            assertFalse(g.bias().isPresent(), at + "a mask has no gradient");
            return;
        }
        NDArray dBias = g.bias().orElseThrow();
        assertEquals(bias.values().getShape(), dBias.getShape(), at + "dBias shape");
        assertEquals(bias.values().getDataType(), dBias.getDataType(), at + "dBias dtype");
        NDArray truthDb = reduceTo(truth.dBias, bias.shape4());
        NDArray baseDb = reduceTo(base.dBias, bias.shape4());
        ErrorBudget.check(
                at + "dBias", dBias.reshape(bias.shape4()), baseDb, truthDb, type, ErrorBudget.magnitude(truthDb));
    }

    /** A naive dBias (in the additive term's shape) summed to the bias's own broadcast shape. */
    private static NDArray reduceTo(NDArray dBias, Shape target) {
        NDArray r = dBias;
        for (int i = 0; i < 3; i++) {
            if (target.get(i) == 1 && r.getShape().get(i) != 1) {
                r = r.sum(new int[] {i}, true);
            }
        }
        return r;
    }

    private static NDArray normal(NDManager manager, Shape s, SplittableRandom rng) {
        float[] x = new float[Math.toIntExact(s.size())];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rng.nextGaussian();
        }
        return manager.create(x, s);
    }
}
