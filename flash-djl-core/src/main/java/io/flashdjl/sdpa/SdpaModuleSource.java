package io.flashdjl.sdpa;

import ai.djl.ndarray.types.DataType;
import io.flashdjl.Precision;
import io.flashdjl.spi.AttentionProblem;
import io.flashdjl.spi.BatchVisibility;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;

/**
 * The TorchScript source ({@code code/__torch__.py}) of a module computing attention with {@code
 * torch.scaled_dot_product_attention} and its log-sum-exp.
 *
 * <p>{@code forward(q, k, v[, visible][, bias]) -> (out, lse)} takes BHSD tensors, q {@code [B, Hq, Nq, D]}, k {@code
 * [B, Hkv, Nk, D]}, v {@code [B, Hkv, Nk, Dv]}, and, unless every query sees every key, the boolean {@code [R, 1,
 * Nq, Nk]} mask of the problem's {@link BatchVisibility} (R: 1, or B with sequences; built in Java, so the rule
 * has one source), and with a score bias its values as rank 4 {@code [Bb, Hb, Rb, Nk]} (boolean: kept; float:
 * added to the scaled scores; SDPA takes it combined with the visibility as one {@code attn_mask}). It returns the
 * output (q's dtype) and the log-sum-exp (float32 {@code [B, Hq, Nq]}). What varies with the call (sizes, group
 * size, device, the mask) is read from the tensors at run time; what is baked into the source is this record:
 * the form of the band, the scale, the dtype of the log-sum-exp arithmetic and whether the products are
 * computed in bfloat16 ({@link Precision#BFLOAT16}: q, k, v are cast to bfloat16 inside the module, SDPA runs
 * there, its output is cast back to the data type; autograd goes through both casts, so the gradients are
 * float32, and the log-sum-exp is that of the bfloat16-rounded q and k).
 *
 * <ul>
 *   <li>The output is SDPA's, PyTorch picking its backend. Grouped-query attention passes {@code
 *       enable_gqa}. The top-left causal band is SDPA's own {@code is_causal} (its fast path); any other
 *       band passes the mask. A row that sees no key (bottom-right with {@code Nq > Nk}) is given every key
 *       inside SDPA, so that SDPA computes finite values and gradients there, and is then zeroed with {@code
 *       masked_fill}, whose gradient is zero for that row: output 0, gradients 0.
 *   <li>The log-sum-exp is {@code logsumexp(scale * q k^T)} over the visible keys, computed from detached
 *       inputs in float32 (float64 for float64 inputs), a chunk of query rows at a time so the scores never
 *       take more than 2^24 elements. A row without visible keys gives {@code -inf}.
 * </ul>
 */
record SdpaModuleSource(Band band, double scale, boolean float64, boolean bfloat16, BiasKind bias) {

    /** The module's score bias input. */
    enum BiasKind {
        /** No bias input. */
        NONE,
        /** A boolean keep mask. */
        MASK,
        /** A float bias added to the scaled scores. */
        ADDITIVE
    }

    /** How the module learns which keys each query sees. */
    enum Band {
        /** Every query sees every key: no mask input. */
        FULL,
        /** SDPA's {@code is_causal} (top-left); the mask input serves the log-sum-exp. */
        TOP_LEFT_CAUSAL,
        /** Any other band: SDPA and the log-sum-exp take the mask input. */
        MASKED;

        static Band of(BatchVisibility visibility, boolean biased) {
            if (visibility.isFull()) {
                return FULL;
            }
            // SDPA takes is_causal or an attn_mask, not both: with a bias the band goes into the mask
            return visibility.isTopLeftCausal() && !biased ? TOP_LEFT_CAUSAL : MASKED;
        }

        /** Whether {@code forward} takes the boolean visibility mask as its fourth input. */
        boolean takesMask() {
            return this != FULL;
        }
    }

    /** The module's class name, {@code __torch__.SdpaAttention} once loaded. */
    static final String CLASS_NAME = "SdpaAttention";

    /** Elements of one chunk of scores in the log-sum-exp (64 MiB in float32). */
    static final long LSE_CHUNK_ELEMENTS = 1L << 24;

    // c10::ScalarType codes: TorchScript source names dtypes by number
    private static final int FLOAT32 = 6;
    private static final int FLOAT64 = 7;
    private static final int BFLOAT16 = 15;

    /** The source for a problem whose visibility ({@code p.batchVisibility()}) the caller already holds. */
    static SdpaModuleSource of(AttentionProblem p, BatchVisibility visibility) {
        BiasKind bias = p.bias()
                .map(b -> b.isMask() ? BiasKind.MASK : BiasKind.ADDITIVE)
                .orElse(BiasKind.NONE);
        return new SdpaModuleSource(
                Band.of(visibility, bias != BiasKind.NONE),
                p.scale(),
                p.dataType() == DataType.FLOAT64,
                p.options().precision() == Precision.BFLOAT16,
                bias);
    }

    /** The contents of {@code code/__torch__.py}. */
    String code() {
        String s = literal(scale);
        int acc = float64 ? FLOAT64 : FLOAT32;
        StringBuilder c = new StringBuilder();
        c.append("class ").append(CLASS_NAME).append("(Module):\n");
        c.append("  __parameters__ = []\n");
        c.append("  training : bool\n");
        c.append("  def forward(self: __torch__.").append(CLASS_NAME).append(",\n");
        c.append("    q: Tensor,\n");
        c.append("    k: Tensor,\n");
        List<String> extra = new ArrayList<>();
        if (band.takesMask()) {
            extra.add("visible");
        }
        if (bias != BiasKind.NONE) {
            extra.add("bias");
        }
        c.append("    v: Tensor");
        for (String input : extra) {
            c.append(",\n    ").append(input).append(": Tensor");
        }
        c.append(") -> Tuple[Tensor, Tensor]:\n");
        c.append("    # q [B, Hq, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv]; band ")
                .append(band)
                .append(", scale ")
                .append(s)
                .append('\n');
        c.append("    b = q.size(0)\n");
        c.append("    hq = q.size(1)\n");
        c.append("    nq = q.size(2)\n");
        c.append("    d = q.size(3)\n");
        c.append("    hkv = k.size(1)\n");
        c.append("    nk = k.size(2)\n");
        c.append("    gqa = hq != hkv\n");
        if (bfloat16) {
            c.append("    # precision BFLOAT16: the products in bfloat16, the results back in the data type\n");
            c.append("    q = torch.to(q, ").append(BFLOAT16).append(")\n");
            c.append("    k = torch.to(k, ").append(BFLOAT16).append(")\n");
            c.append("    v = torch.to(v, ").append(BFLOAT16).append(")\n");
        }
        if (bias != BiasKind.NONE) {
            c.append(biasedSdpa(s));
        } else {
            c.append(plainSdpa(s));
        }
        if (bfloat16) {
            c.append("    out = torch.to(out, ").append(FLOAT32).append(")\n"); // BFLOAT16 takes float32 data only
        }
        c.append("    # log-sum-exp of the scaled scores over visible keys, chunks of query rows\n");
        c.append("    g = hq // hkv\n");
        if (bias != BiasKind.NONE) {
            c.append(
                    "    # the bias as an additive term in the grouped layout of the scores, [bb, hkv or 1, g or 1, rb, nk]\n");
            if (bias == BiasKind.MASK) {
                c.append("    badd = torch.masked_fill(torch.sub(torch.to(bias, ")
                        .append(acc)
                        .append("), 1.), torch.logical_not(bias), -inf)\n");
            } else {
                c.append("    badd = torch.to(torch.detach(bias), ").append(acc).append(")\n");
            }
            c.append("    rb = badd.size(2)\n");
            c.append("    if badd.size(1) == 1:\n");
            c.append("      bg = torch.unsqueeze(badd, 2)\n");
            c.append("    else:\n");
            c.append("      bg = torch.reshape(badd, [badd.size(0), hkv, g, rb, nk])\n");
        }
        c.append(logSumExp(s, acc));
        return c.toString();
    }

    /** SDPA on the band alone: is_causal, the visibility mask, or nothing. */
    private String plainSdpa(String s) {
        StringBuilder c = new StringBuilder();
        switch (band) {
            case FULL:
                c.append(sdpa("None", false, s));
                break;
            case TOP_LEFT_CAUSAL:
                c.append(sdpa("None", true, s));
                break;
            case MASKED:
                c.append("    blind = torch.logical_not(torch.any(visible, -1, True))\n");
                c.append(
                        "    # a row that sees no key attends to all keys (finite values and gradients), then is zeroed\n");
                c.append(sdpa("torch.logical_or(visible, blind)", false, s));
                c.append("    out = torch.masked_fill(out, blind, 0.)\n");
                break;
            default:
                throw new IllegalArgumentException("band: unknown " + band);
        }
        return c.toString();
    }

    /**
     * SDPA with the bias and the band as one attn_mask (boolean, or the bias in q's dtype with {@code -inf} where
     * the band hides); a row that sees no key attends to all keys inside SDPA and is then zeroed.
     */
    private String biasedSdpa(String s) {
        StringBuilder c = new StringBuilder();
        if (bias == BiasKind.MASK) {
            c.append(band.takesMask() ? "    keep = torch.logical_and(visible, bias)\n" : "    keep = bias\n");
            c.append("    blind = torch.logical_not(torch.any(keep, -1, True))\n");
            c.append(sdpa("torch.logical_or(keep, blind)", false, s));
        } else {
            c.append("    add = torch.type_as(bias, q)\n");
            if (band.takesMask()) {
                c.append("    add = torch.masked_fill(add, torch.logical_not(visible), -inf)\n");
            }
            c.append("    blind = torch.logical_not(torch.any(torch.gt(add, -inf), -1, True))\n");
            c.append(sdpa("torch.masked_fill(add, blind, 0.)", false, s));
        }
        c.append("    out = torch.masked_fill(out, blind, 0.)\n");
        return c.toString();
    }

    /** The log-sum-exp of the (biased) scaled scores over visible keys, chunks of query rows; returns. */
    private String logSumExp(String s, int acc) {
        StringBuilder c = new StringBuilder();
        c.append("    qa = torch.reshape(torch.to(torch.detach(q), ")
                .append(acc)
                .append("), [b, hkv, g, nq, d])\n");
        c.append("    kt = torch.unsqueeze(torch.transpose(torch.to(torch.detach(k), ")
                .append(acc)
                .append("), -2, -1), 2)\n");
        c.append("    step = max(1, ").append(LSE_CHUNK_ELEMENTS).append(" // max(1, b * hq * nk))\n");
        c.append("    parts = annotate(List[Tensor], [])\n");
        c.append("    for i0 in range(0, nq, step):\n");
        c.append("      i1 = min(nq, i0 + step)\n");
        c.append("      scores = torch.mul(torch.matmul(qa[:, :, :, i0:i1], kt), ")
                .append(s)
                .append(")\n");
        if (band.takesMask()) {
            c.append("      rows = torch.unsqueeze(visible[:, :, i0:i1], 2)\n"); // [R, 1, 1, rows, nk]
            c.append("      scores = torch.masked_fill(scores, torch.logical_not(rows), -inf)\n");
        }
        if (bias != BiasKind.NONE) {
            c.append("      if rb == 1:\n");
            c.append("        scores = torch.add(scores, bg)\n");
            c.append("      else:\n");
            c.append("        scores = torch.add(scores, bg[:, :, :, i0:i1])\n");
        }
        c.append("      parts.append(torch.logsumexp(scores, [-1]))\n");
        c.append("    lse = torch.to(torch.reshape(torch.cat(parts, 3), [b, hq, nq]), ")
                .append(acc)
                .append(")\n");
        c.append("    return (out, lse)\n");
        return c.toString();
    }

    private static String sdpa(String attnMask, boolean isCausal, String scale) {
        return "    out = torch.scaled_dot_product_attention(q, k, v, " + attnMask + ", 0., "
                + (isCausal ? "True" : "False") + ", scale=" + scale + ", enable_gqa=gqa)\n";
    }

    /** A float literal that reads back as exactly {@code x}: plain digits (no exponent), with a point. */
    static String literal(double x) {
        if (!Double.isFinite(x)) {
            throw new IllegalArgumentException("scale: expected a finite number but got " + x);
        }
        String plain = BigDecimal.valueOf(x).toPlainString();
        return plain.contains(".") ? plain : plain + ".0";
    }
}
