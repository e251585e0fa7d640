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
import java.util.EnumSet;
import java.util.Set;

/**
 * The checks behind {@code AttentionProblem.validate} and {@code AttentionProblem.checkBackwardInputs}: the
 * inputs of every public call, before any backend sees them. Each failure is an {@link
 * IllegalArgumentException} that names the argument, what was expected and what came.
 */
final class InputValidation {

    private static final Set<DataType> FLOAT_TYPES = EnumSet.of(DataType.FLOAT16, DataType.FLOAT32, DataType.FLOAT64);

    private InputValidation() {}

    /** Checks q, k, v against each other and the options: what {@code AttentionProblem} then trusts. */
    static void requireProblem(NDArray q, NDArray k, NDArray v, AttentionOptions options) {
        if (options == null) {
            throw new IllegalArgumentException("options: expected AttentionOptions but got null");
        }
        Layout layout = options.layout();
        requireFourDims("q", q, layout);
        requireFourDims("k", k, layout);
        requireFourDims("v", v, layout);
        requireFloat("q", q);
        requireSame("k", k.getDataType(), q.getDataType(), "dtype", "the dtype of q");
        requireSame("v", v.getDataType(), q.getDataType(), "dtype", "the dtype of q");
        requireSame("k", k.getDevice(), q.getDevice(), "device", "the device of q");
        requireSame("v", v.getDevice(), q.getDevice(), "device", "the device of q");
        if (options.precision() == Precision.BFLOAT16 && q.getDataType() != DataType.FLOAT32) {
            throw new IllegalArgumentException("q: precision BFLOAT16 computes float32 data in bfloat16, expected"
                    + " dtype float32 but got " + q.getDataType() + " (use Precision.FULL)");
        }

        Shape qs = q.getShape();
        Shape ks = k.getShape();
        Shape vs = v.getShape();
        int h = layout.headAxis();
        int n = layout.sequenceAxis();
        requireDim("k", ks, 0, qs.get(0), "batch size", "the batch size of q");
        requireDim("v", vs, 0, qs.get(0), "batch size", "the batch size of q");
        requireDim("v", vs, h, ks.get(h), "head count", "the head count of k");
        if (qs.get(h) % ks.get(h) != 0) {
            throw new IllegalArgumentException("k: expected a head count that divides the " + qs.get(h)
                    + " heads of q (grouped-query attention needs Hq % Hkv == 0) but got " + ks.get(h)
                    + " heads in shape " + ks + " (" + layout + ")");
        }
        requireDim("k", ks, 3, qs.get(3), "head dimension", "the head dimension of q");
        requireDim("v", vs, n, ks.get(n), "sequence length", "the sequence length of k");
    }

    /**
     * Checks the sequences of a call against q and k (already checked by {@link #requireProblem}): padded
     * lengths are int32 {@code [B]} on q's device; packed offsets are int32 {@code [S + 1]} on q's device for a
     * batch of one, and their values (read to the host once per {@link Sequences}) start at 0, never decrease
     * and end at the rows of q and k.
     */
    static void requireSequences(Sequences sequences, NDArray q, NDArray k, Layout layout) {
        long batch = q.getShape().get(0);
        long seqQ = q.getShape().get(layout.sequenceAxis());
        long seqK = k.getShape().get(layout.sequenceAxis());
        if (sequences.form() == Sequences.Form.PADDED) {
            sequences.queries().ifPresent(a -> requireIndexArray("sequences.queries()", a, batch, q, "[B]"));
            sequences.keys().ifPresent(a -> requireIndexArray("sequences.keys()", a, batch, q, "[B]"));
            return;
        }
        if (batch != 1) {
            throw new IllegalArgumentException("q: packed sequences expected batch size 1 (the sequences one after"
                    + " another along the sequence axis) but got shape " + q.getShape() + " (" + layout + ")");
        }
        NDArray qo = sequences
                .queries()
                .orElseThrow(() -> new IllegalArgumentException(
                        "sequences.queries(): expected int32 [S + 1] query offsets but got null"));
        NDArray ko = sequences
                .keys()
                .orElseThrow(() -> new IllegalArgumentException(
                        "sequences.keys(): expected int32 [S + 1] key offsets but got null"));
        long n = qo.getShape().dimension() == 1 ? qo.getShape().get(0) : -1;
        if (n < 2) {
            throw new IllegalArgumentException("sequences.queries(): expected int32 [S + 1] offsets with S >= 1"
                    + " but got shape " + qo.getShape());
        }
        requireIndexArray("sequences.queries()", qo, n, q, "[S + 1]");
        requireIndexArray("sequences.keys()", ko, n, q, "[S + 1], S from the query offsets");
        requireOffsets("sequences.queries()", sequences.hostQueries(), seqQ, "the query rows of q");
        requireOffsets("sequences.keys()", sequences.hostKeys(), seqK, "the key rows of k");
    }

    /**
     * Checks a score bias against q and k (already checked by {@link #requireProblem}): rank 2 to 4, each
     * dimension broadcastable to {@code [B, Hq, Nq, Nk]} (its size or 1; the last exactly {@code Nk}), boolean or
     * a float type (float64 only with float64 inputs), on q's device.
     */
    static void requireBias(AttentionBias bias, NDArray q, NDArray k, Layout layout) {
        NDArray b = bias.values();
        Shape s = b.getShape();
        Shape qs = q.getShape();
        long[] full = {
            qs.get(0),
            qs.get(layout.headAxis()),
            qs.get(layout.sequenceAxis()),
            k.getShape().get(layout.sequenceAxis())
        };
        String expected = "a shape broadcastable to [B, Hq, Nq, Nk] = [" + full[0] + ", " + full[1] + ", " + full[2]
                + ", " + full[3] + "] (each dimension its size or 1, the last " + full[3] + ")";
        if (s.dimension() < 2 || s.dimension() > 4) {
            throw new IllegalArgumentException("bias: expected rank 2 to 4, " + expected + ", but got shape " + s);
        }
        Shape s4 = bias.shape4();
        for (int i = 0; i < 4; i++) {
            boolean fits = i == 3 ? s4.get(i) == full[i] : s4.get(i) == 1 || s4.get(i) == full[i];
            if (!fits) {
                throw new IllegalArgumentException("bias: expected " + expected + " but got shape " + s);
            }
        }
        DataType t = b.getDataType();
        boolean floatOk = t == DataType.FLOAT16
                || t == DataType.FLOAT32
                || (t == DataType.FLOAT64 && q.getDataType() == DataType.FLOAT64);
        if (t != DataType.BOOLEAN && !floatOk) {
            throw new IllegalArgumentException("bias: expected dtype boolean (a keep mask), float16 or float32 (an"
                    + " additive bias; float64 with float64 inputs) but got " + t + " (inputs " + q.getDataType()
                    + ")");
        }
        requireSame("bias", b.getDevice(), q.getDevice(), "device", "the device of q");
    }

    /**
     * Checks the backward arguments against what the forward problem expects of them.
     *
     * @param outputShape the shape of the attention output, in the problem's layout
     * @param logSumExpShape {@code [B, Hq, Nq]}
     */
    static void requireBackwardInputs(
            NDArray dOut,
            AttentionResult forward,
            Shape outputShape,
            DataType dataType,
            Device device,
            Shape logSumExpShape,
            DataType logSumExpType) {
        if (forward == null) {
            throw new IllegalArgumentException(
                    "forward: expected the AttentionResult of forward(q, k, v) but got null");
        }
        requireShape("dOut", dOut, outputShape, "the shape of the attention output");
        requireSame("dOut", dOut.getDataType(), dataType, "dtype", "the dtype of q");
        requireSame("dOut", dOut.getDevice(), device, "device", "the device of q");
        // every field a kernel reads: a buffer of another dtype or device would be read as garbage
        requireShape("forward.output()", forward.output(), outputShape, "the shape of the attention output");
        requireSame("forward.output()", forward.output().getDataType(), dataType, "dtype", "the dtype of q");
        requireSame("forward.output()", forward.output().getDevice(), device, "device", "the device of q");
        requireShape("forward.logSumExp()", forward.logSumExp(), logSumExpShape, "[B, Hq, Nq]");
        requireSame("forward.logSumExp()", forward.logSumExp().getDevice(), device, "device", "the device of q");
        requireSame(
                "forward.logSumExp()",
                forward.logSumExp().getDataType(),
                logSumExpType,
                "dtype",
                "float32, float64 for float64 inputs");
    }

    /**
     * Checks that {@code replacement} can stand for {@code original} in a validated problem: same shape,
     * dtype, device and engine. Everything else validation checked follows from those.
     */
    static void requireLike(String name, NDArray replacement, NDArray original) {
        if (replacement == null) {
            throw new IllegalArgumentException(name + ": expected an NDArray but got null");
        }
        requireSame(name, replacement.getShape(), original.getShape(), "shape", "the validated input's");
        requireSame(name, replacement.getDataType(), original.getDataType(), "dtype", "the validated input's");
        requireSame(name, replacement.getDevice(), original.getDevice(), "device", "the validated input's");
        requireSame(
                name,
                replacement.getManager().getEngine().getEngineName(),
                original.getManager().getEngine().getEngineName(),
                "engine",
                "the validated input's");
    }

    private static void requireIndexArray(String name, NDArray a, long length, NDArray q, String what) {
        if (a.getShape().dimension() != 1 || a.getShape().get(0) != length) {
            throw new IllegalArgumentException(
                    name + ": expected shape (" + length + ") " + what + " but got " + a.getShape());
        }
        requireSame(name, a.getDataType(), DataType.INT32, "dtype", "what the kernels read");
        requireSame(name, a.getDevice(), q.getDevice(), "device", "the device of q");
    }

    private static void requireOffsets(String name, int[] offsets, long rows, String whose) {
        if (offsets[0] != 0) {
            throw new IllegalArgumentException(name + ": expected offsets starting at 0 but got " + offsets[0]);
        }
        for (int s = 1; s < offsets.length; s++) {
            if (offsets[s] < offsets[s - 1]) {
                throw new IllegalArgumentException(name + ": expected non-decreasing offsets but got " + offsets[s - 1]
                        + " then " + offsets[s] + " at index " + s);
            }
        }
        if (offsets[offsets.length - 1] != rows) {
            throw new IllegalArgumentException(name + ": expected the last offset to be " + rows + " (" + whose
                    + ") but got " + offsets[offsets.length - 1]);
        }
    }

    private static void requireFourDims(String name, NDArray a, Layout layout) {
        if (a == null) {
            throw new IllegalArgumentException(name + ": expected an NDArray but got null");
        }
        Shape s = a.getShape();
        if (s.dimension() != 4) {
            throw new IllegalArgumentException(name + ": expected rank 4 ("
                    + (layout == Layout.BHSD ? "[B, H, N, D]" : "[B, N, H, D]") + " for " + layout
                    + ") but got rank " + s.dimension() + " with shape " + s);
        }
        for (int i = 0; i < 4; i++) {
            if (s.get(i) < 1) {
                throw new IllegalArgumentException(name + ": expected every dimension >= 1 but got shape " + s
                        + " (dimension " + i + " is " + s.get(i) + ")");
            }
        }
    }

    private static void requireFloat(String name, NDArray a) {
        if (a.getDataType() == DataType.BFLOAT16) {
            // DJL 0.35.1's PyTorch JNI maps no DataType to torch.bfloat16 (its conversion aborts the
            // JVM), so no backend could return a bfloat16 result through DJL
            throw new IllegalArgumentException(name + ": expected dtype float16, float32 or float64 but got bfloat16, "
                    + "which DJL 0.35.1's PyTorch engine cannot create or convert to; use float16");
        }
        if (!FLOAT_TYPES.contains(a.getDataType())) {
            throw new IllegalArgumentException(
                    name + ": expected dtype float16, float32 or float64 but got " + a.getDataType());
        }
    }

    private static void requireDim(String name, Shape s, int axis, long expected, String what, String whose) {
        if (s.get(axis) != expected) {
            throw new IllegalArgumentException(name + ": expected " + what + " " + expected + " (" + whose
                    + ") but got " + s.get(axis) + " in shape " + s);
        }
    }

    private static void requireShape(String name, NDArray a, Shape expected, String whose) {
        if (a == null) {
            throw new IllegalArgumentException(name + ": expected an NDArray of shape " + expected + " but got null");
        }
        if (!a.getShape().equals(expected)) {
            throw new IllegalArgumentException(
                    name + ": expected shape " + expected + " (" + whose + ") but got " + a.getShape());
        }
    }

    private static <T> void requireSame(String name, T actual, T expected, String what, String whose) {
        if (!actual.equals(expected)) {
            throw new IllegalArgumentException(
                    name + ": expected " + what + " " + expected + " (" + whose + ") but got " + actual);
        }
    }
}
