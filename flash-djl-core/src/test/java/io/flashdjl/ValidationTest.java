package io.flashdjl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Every kind of bad input gets an IllegalArgumentException naming the argument, the expected and the actual. */
class ValidationTest {

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager(Device.cpu());
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private NDArray arr(long... shape) {
        return manager.ones(new Shape(shape), DataType.FLOAT32);
    }

    /** The backward checks run before any backend: REFERENCE makes the forward results they get. */
    private static final AttentionOptions REFERENCE =
            AttentionOptions.builder().optBackend(Backend.REFERENCE).build();

    private static void fails(String expectedMessage, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertEquals(expectedMessage, e.getMessage());
    }

    private void forwardFails(String expectedMessage, NDArray q, NDArray k, NDArray v) {
        fails(expectedMessage, () -> FlashAttention.forward(q, k, v, AttentionOptions.DEFAULT));
    }

    @Test
    void wrongRank() {
        forwardFails(
                "q: expected rank 4 ([B, H, N, D] for BHSD) but got rank 3 with shape (2, 5, 8)",
                arr(2, 5, 8),
                arr(1, 2, 5, 8),
                arr(1, 2, 5, 8));
    }

    @Test
    void wrongRankNamesTheLayout() {
        fails(
                "k: expected rank 4 ([B, N, H, D] for BSHD) but got rank 5 with shape (1, 5, 2, 8, 1)",
                () -> FlashAttention.forward(
                        arr(1, 5, 2, 8),
                        arr(1, 5, 2, 8, 1),
                        arr(1, 5, 2, 8),
                        AttentionOptions.builder().optLayout(Layout.BSHD).build()));
    }

    @Test
    void zeroSizedDimension() {
        forwardFails(
                "v: expected every dimension >= 1 but got shape (1, 2, 0, 8) (dimension 2 is 0)",
                arr(1, 2, 5, 8),
                arr(1, 2, 5, 8),
                arr(1, 2, 0, 8));
    }

    @Test
    void batchMismatch() {
        forwardFails(
                "k: expected batch size 2 (the batch size of q) but got 3 in shape (3, 2, 5, 8)",
                arr(2, 2, 5, 8),
                arr(3, 2, 5, 8),
                arr(2, 2, 5, 8));
    }

    @Test
    void headMismatchBetweenKeyAndValue() {
        forwardFails(
                "v: expected head count 2 (the head count of k) but got 4 in shape (1, 4, 5, 8)",
                arr(1, 4, 5, 8),
                arr(1, 2, 5, 8),
                arr(1, 4, 5, 8));
    }

    @Test
    void headsNotDivisible() {
        forwardFails(
                "k: expected a head count that divides the 4 heads of q (grouped-query attention needs "
                        + "Hq % Hkv == 0) but got 3 heads in shape (1, 3, 5, 8) (BHSD)",
                arr(1, 4, 5, 8), arr(1, 3, 5, 8), arr(1, 3, 5, 8));
    }

    @Test
    void headDimensionMismatch() {
        forwardFails(
                "k: expected head dimension 8 (the head dimension of q) but got 16 in shape (1, 2, 5, 16)",
                arr(1, 2, 5, 8),
                arr(1, 2, 5, 16),
                arr(1, 2, 5, 8));
    }

    @Test
    void keyValueLengthMismatch() {
        forwardFails(
                "v: expected sequence length 5 (the sequence length of k) but got 6 in shape (1, 2, 6, 8)",
                arr(1, 2, 5, 8),
                arr(1, 2, 5, 8),
                arr(1, 2, 6, 8));
    }

    @Test
    void dtypeMismatch() {
        NDArray k = arr(1, 2, 5, 8).toType(DataType.FLOAT16, false);
        forwardFails("k: expected dtype float32 (the dtype of q) but got float16", arr(1, 2, 5, 8), k, arr(1, 2, 5, 8));
    }

    @Test
    void integerInputs() {
        NDArray q = arr(1, 2, 5, 8).toType(DataType.INT32, false);
        forwardFails("q: expected dtype float16, float32 or float64 but got int32", q, q, q);
    }

    @Test
    void bfloat16IsRefusedBeforeDjlCrashes() {
        NDArray q = reportingType(arr(1, 2, 5, 8), DataType.BFLOAT16);
        forwardFails(
                "q: expected dtype float16, float32 or float64 but got bfloat16, which DJL 0.35.1's PyTorch "
                        + "engine cannot create or convert to; use float16",
                q,
                q,
                q);
    }

    @Test
    void differentDevices() {
        // the CPU is the only device CI has, so a GPU array is faked with a wrapper that reports gpu(0)
        NDArray k = arr(1, 2, 5, 8);
        NDArray onGpu = reportingDevice(k, Device.gpu(0));
        forwardFails("v: expected device cpu() (the device of q) but got gpu(0)", arr(1, 2, 5, 8), k, onGpu);
    }

    /** A view of {@code a} that claims to live on {@code device}; everything else is delegated. */
    private static NDArray reportingDevice(NDArray a, Device device) {
        return reporting(a, "getDevice", device);
    }

    /** A view of {@code a} that claims to hold {@code type} (DJL cannot create bfloat16 arrays). */
    private static NDArray reportingType(NDArray a, DataType type) {
        return reporting(a, "getDataType", type);
    }

    private static NDArray reporting(NDArray a, String getter, Object value) {
        return (NDArray) Proxy.newProxyInstance(
                NDArray.class.getClassLoader(), new Class<?>[] {NDArray.class}, (proxy, method, args) -> {
                    if (method.getName().equals(getter)) {
                        return value;
                    }
                    try {
                        return method.invoke(a, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    @Test
    void nullInput() {
        forwardFails("q: expected an NDArray but got null", null, arr(1, 2, 5, 8), arr(1, 2, 5, 8));
    }

    @Test
    void nullOptions() {
        fails(
                "options: expected AttentionOptions but got null",
                () -> FlashAttention.forward(arr(1, 2, 5, 8), arr(1, 2, 5, 8), arr(1, 2, 5, 8), null));
    }

    @Test
    void nonPositiveScale() {
        fails(
                "scale: expected a finite number > 0 but got 0.0",
                () -> AttentionOptions.builder().optScale(0));
        fails(
                "scale: expected a finite number > 0 but got -1.5",
                () -> AttentionOptions.builder().optScale(-1.5));
    }

    @Test
    void nonFiniteScale() {
        fails(
                "scale: expected a finite number > 0 but got NaN",
                () -> AttentionOptions.builder().optScale(Double.NaN));
        fails(
                "scale: expected a finite number > 0 but got Infinity",
                () -> AttentionOptions.builder().optScale(Double.POSITIVE_INFINITY));
    }

    @Test
    void unknownLayout() {
        fails(
                "layout: expected one of BHSD, BSHD but got 'BHDS'",
                () -> AttentionOptions.builder().optLayout("BHDS"));
        fails(
                "layout: expected one of BHSD, BSHD but got null",
                () -> AttentionOptions.builder().optLayout((Layout) null));
    }

    @Test
    void unknownBackend() {
        fails(
                "backend: expected one of AUTO, CUDA, REFERENCE, SDPA but got 'triton'",
                () -> AttentionOptions.builder().optBackend("triton"));
    }

    @Test
    void badReferenceTile() {
        fails(
                "referenceTile: expected query and key rows >= 1 but got 0 x 16",
                () -> AttentionOptions.builder().optReferenceTile(0, 16));
    }

    @Test
    void backwardOutputGradientShape() {
        NDArray q = arr(1, 2, 5, 8);
        AttentionResult r = FlashAttention.forward(q, q, q, REFERENCE);
        fails(
                "dOut: expected shape (1, 2, 5, 8) (the shape of the attention output) but got (1, 2, 5, 7)",
                () -> FlashAttention.backward(arr(1, 2, 5, 7), q, q, q, r, REFERENCE));
    }

    @Test
    void backwardOutputGradientDtype() {
        NDArray q = arr(1, 2, 5, 8);
        AttentionResult r = FlashAttention.forward(q, q, q, REFERENCE);
        NDArray dOut = arr(1, 2, 5, 8).toType(DataType.FLOAT64, false);
        fails(
                "dOut: expected dtype float32 (the dtype of q) but got float64",
                () -> FlashAttention.backward(dOut, q, q, q, r, REFERENCE));
    }

    @Test
    void backwardWithoutForward() {
        NDArray q = arr(1, 2, 5, 8);
        fails(
                "forward: expected the AttentionResult of forward(q, k, v) but got null",
                () -> FlashAttention.backward(q, q, q, q, null, AttentionOptions.DEFAULT));
    }

    @Test
    void backwardWithAnotherProblemsResult() {
        NDArray q = arr(1, 2, 5, 8);
        AttentionResult other = FlashAttention.forward(arr(1, 2, 6, 8), arr(1, 2, 6, 8), arr(1, 2, 6, 8), REFERENCE);
        fails(
                "forward.output(): expected shape (1, 2, 5, 8) (the shape of the attention output) but got (1, 2, 6, 8)",
                () -> FlashAttention.backward(q, q, q, q, other, REFERENCE));
    }

    @Test
    void backwardWithAnOutputOfAnotherDtype() {
        NDArray q = arr(1, 2, 5, 8);
        AttentionResult r = FlashAttention.forward(q, q, q, REFERENCE);
        AttentionResult wrong =
                new AttentionResult(r.output().toType(DataType.FLOAT64, false), r.logSumExp(), r.backend());
        fails(
                "forward.output(): expected dtype float32 (the dtype of q) but got float64",
                () -> FlashAttention.backward(q, q, q, q, wrong, REFERENCE));
    }

    @Test
    void backwardWithALogSumExpOfAnotherDtype() {
        NDArray q = arr(1, 2, 5, 8);
        AttentionResult r = FlashAttention.forward(q, q, q, REFERENCE);
        AttentionResult wrong =
                new AttentionResult(r.output(), r.logSumExp().toType(DataType.FLOAT16, false), r.backend());
        fails(
                "forward.logSumExp(): expected dtype float32 (float32, float64 for float64 inputs) but got float16",
                () -> FlashAttention.backward(q, q, q, q, wrong, REFERENCE));
    }
}
