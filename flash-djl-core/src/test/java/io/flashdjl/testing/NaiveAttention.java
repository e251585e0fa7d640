package io.flashdjl.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Layout;
import io.flashdjl.spi.DropoutBits;
import io.flashdjl.spi.Visibility;
import java.util.ArrayList;
import java.util.List;

/**
 * The one naive attention of the tests: {@code S = scale q k^T + mask; P = softmax(S); O = P v},
 * with the whole score matrix in memory and the gradients from their closed forms. Run in float64
 * it is the ground truth of every test; run in the inputs' own dtype it is "PyTorch's own attention
 * in that dtype", whose error sets the tolerance ({@link ErrorBudget}). Rows that see no key give
 * output 0, log-sum-exp -inf and zero gradients, as the library documents.
 */
public final class NaiveAttention {

    /** Output, log-sum-exp and gradients, in the inputs' layout, computed in {@code computeType}. */
    public static final class Outcome {
        public final NDArray output;
        public final NDArray logSumExp;
        public final NDArray dq;
        public final NDArray dk;
        public final NDArray dv;
        /** The gradient of the score bias, in its shape ({@code [Bb, Hb, Rb, Nk]}); null without one. */
        public final NDArray dBias;

        Outcome(NDArray output, NDArray logSumExp, NDArray dq, NDArray dk, NDArray dv, NDArray dBias) {
            this.output = output;
            this.logSumExp = logSumExp;
            this.dq = dq;
            this.dk = dk;
            this.dv = dv;
            this.dBias = dBias;
        }
    }

    private NaiveAttention() {}

    /**
     * @param dOut the output gradient, or null to skip the gradients
     */
    public static Outcome compute(
            NDArray q, NDArray k, NDArray v, NDArray dOut, AttentionOptions options, DataType computeType) {
        return compute(q, k, v, dOut, options, computeType, null);
    }

    /**
     * With dropout: {@code O = (P * Z) v}, where {@code Z} ({@code dropout}, {@code [B, Hq, Nq, Nk]}) is the
     * factor of each probability (0 where dropped, the keep scale where kept); the log-sum-exp is that of the
     * undropped scores.
     *
     * @param dropout the factor, or null for none
     */
    public static Outcome compute(
            NDArray q,
            NDArray k,
            NDArray v,
            NDArray dOut,
            AttentionOptions options,
            DataType computeType,
            NDArray dropout) {
        return compute(q, k, v, dOut, options, computeType, dropout, null);
    }

    /**
     * With a score bias: {@code S = scale q k^T + bias}, {@code bias} additive ({@code -inf} hides), rank 4
     * {@code [Bb, Hb, Rb, Nk]}, each of the first three 1 or the call's size; the outcome's {@code dBias} is
     * {@code dS} summed over the dimensions it broadcasts.
     *
     * @param scoreBias the additive bias, or null for none
     */
    public static Outcome compute(
            NDArray q,
            NDArray k,
            NDArray v,
            NDArray dOut,
            AttentionOptions options,
            DataType computeType,
            NDArray dropout,
            NDArray scoreBias) {
        Layout layout = options.layout();
        NDArray qb = bhsd(q, layout).toType(computeType, false);
        NDArray kb = bhsd(k, layout).toType(computeType, false);
        NDArray vb = bhsd(v, layout).toType(computeType, false);
        long b = qb.getShape().get(0);
        long hq = qb.getShape().get(1);
        long nq = qb.getShape().get(2);
        long d = qb.getShape().get(3);
        long hkv = kb.getShape().get(1);
        long nk = kb.getShape().get(2);
        long dv = vb.getShape().get(3);
        long g = hq / hkv;
        double scale = options.scaleFor(d);

        NDArray qg = qb.reshape(b, hkv, g, nq, d);
        NDArray kg = kb.expandDims(2);
        NDArray vg = vb.expandDims(2);
        NDArray s = qg.matMul(kg.swapAxes(3, 4)).mul(scale);
        NDArray visible = visibility(q.getManager(), options, nq, nk).toDevice(s.getDevice(), false);
        NDManager m = s.getManager();
        Shape vs = visible.getShape();
        NDArray bias = NDArrays.where(
                visible,
                m.zeros(vs, computeType, s.getDevice()),
                m.full(vs, Float.NEGATIVE_INFINITY, computeType, s.getDevice()));
        NDArray zero = m.full(new Shape(), 0f, computeType, s.getDevice());
        NDArray one = m.full(new Shape(), 1f, computeType, s.getDevice());
        s = s.add(bias);
        if (scoreBias != null) {
            Shape bs = scoreBias.getShape();
            NDArray sb = scoreBias.toDevice(s.getDevice(), false).toType(computeType, false);
            s = s.add(bs.get(1) == 1 ? sb.expandDims(1) : sb.reshape(bs.get(0), hkv, g, bs.get(2), bs.get(3)));
        }
        NDArray rowMax = s.max(new int[] {-1}, true);
        // rows that see no key: shift by 0 so exp(-inf) = 0 everywhere and P's row is 0
        NDArray shift = NDArrays.where(rowMax.isInfinite().logicalNot(), rowMax, zero);
        NDArray e = s.sub(shift).exp();
        NDArray sum = e.sum(new int[] {-1}, true);
        NDArray p = e.div(NDArrays.where(sum.gt(zero), sum, one));
        NDArray lse = shift.add(sum.log()).squeeze(-1).reshape(b, hq, nq);
        NDArray z = dropout == null
                ? null
                : dropout.toDevice(s.getDevice(), false)
                        .toType(computeType, false)
                        .reshape(b, hkv, g, nq, nk);
        NDArray pz = z == null ? p : p.mul(z);
        NDArray out = pz.matMul(vg);
        NDArray output = fromBhsd(out.reshape(b, hq, nq, dv), layout);
        if (dOut == null) {
            return new Outcome(output, lse, null, null, null, null);
        }
        NDArray dOg = bhsd(dOut, layout).toType(computeType, false).reshape(b, hkv, g, nq, dv);
        NDArray dV = pz.swapAxes(3, 4).matMul(dOg).sum(new int[] {2});
        NDArray dP = dOg.matMul(vg.swapAxes(3, 4));
        if (z != null) {
            dP = dP.mul(z); // sum_j P dP Z = dO . O still: the softmax Jacobian below is unchanged
        }
        NDArray dS = p.mul(dP.sub(dP.mul(p).sum(new int[] {-1}, true)));
        NDArray dQ = dS.matMul(kg).mul(scale).reshape(b, hq, nq, d);
        NDArray dK = dS.swapAxes(3, 4).matMul(qg).sum(new int[] {2}).mul(scale);
        NDArray dBias = null;
        if (scoreBias != null) {
            NDArray dSf = dS.reshape(b, hq, nq, nk);
            Shape bs = scoreBias.getShape();
            List<Integer> axes = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                if (bs.get(i) == 1 && dSf.getShape().get(i) != 1) {
                    axes.add(i);
                }
            }
            dBias = axes.isEmpty()
                    ? dSf
                    : dSf.sum(axes.stream().mapToInt(Integer::intValue).toArray(), true);
        }
        return new Outcome(output, lse, fromBhsd(dQ, layout), fromBhsd(dK, layout), fromBhsd(dV, layout), dBias);
    }

    /**
     * The dropout factor of every probability of a call without sequences, from the generator's per-element
     * definition ({@link DropoutBits#keep}): the keep scale where kept, 0 where dropped; {@code [B, Hq, Nq, Nk]}
     * float32 on the CPU, for {@link #compute(NDArray, NDArray, NDArray, NDArray, AttentionOptions, DataType,
     * NDArray)}.
     */
    public static NDArray dropoutFactor(
            NDManager manager, AttentionOptions options, int batch, int heads, int nq, int nk) {
        DropoutBits bits = DropoutBits.of(options);
        float[] z = new float[batch * heads * nq * nk];
        int at = 0;
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < nq; i++) {
                    for (int j = 0; j < nk; j++) {
                        z[at++] = bits.keep(b, heads, h, i, j) ? bits.scale() : 0f;
                    }
                }
            }
        }
        return manager.create(z, new Shape(batch, heads, nq, nk));
    }

    /** Boolean {@code [Nq, Nk]}: true where query i sees key j, by the library's own rule ({@link Visibility}). */
    public static NDArray visibility(NDManager manager, AttentionOptions options, long nq, long nk) {
        Visibility band = Visibility.of(options, nq, nk);
        boolean[] visible = new boolean[Math.toIntExact(nq * nk)];
        for (int i = 0; i < nq; i++) {
            for (int j = 0; j < nk; j++) {
                visible[(int) (i * nk + j)] = band.visible(i, j);
            }
        }
        return manager.create(visible, new Shape(nq, nk));
    }

    private static NDArray bhsd(NDArray a, Layout layout) {
        return layout == Layout.BHSD ? a : a.transpose(0, 2, 1, 3);
    }

    private static NDArray fromBhsd(NDArray a, Layout layout) {
        return layout == Layout.BHSD ? a : a.transpose(0, 2, 1, 3);
    }
}
