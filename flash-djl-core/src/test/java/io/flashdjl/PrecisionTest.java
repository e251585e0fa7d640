package io.flashdjl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flashdjl.testing.AttentionCase;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.NaiveAttention;
import io.flashdjl.testing.TestSeed;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@link Precision} on the CPU: who honours BFLOAT16 (SDPA, and AUTO through it), who refuses it and how, and that
 * SDPA's BFLOAT16 really computes in bfloat16 while keeping float32 results.
 */
@ExtendWith(TestSeed.class)
class PrecisionTest {

    private static final AttentionCase CASE = new AttentionCase(
            2, 4, 2, 37, 45, 24, 24, AttentionMask.CAUSAL_TOP_LEFT, Layout.BSHD, DataType.FLOAT32, Double.NaN);

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager(Device.cpu(), "PyTorch");
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private static AttentionOptions bfloat16(Backend backend) {
        return CASE.options(backend).toBuilder()
                .optPrecision(Precision.BFLOAT16)
                .build();
    }

    @Test
    void namesParseInAnyCaseAndNullIsRefusedByName() {
        assertEquals(Precision.BFLOAT16, Precision.parse(" bfloat16 "));
        assertEquals(Precision.FULL, AttentionOptions.DEFAULT.precision());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Precision.parse("tf32"));
        assertEquals("precision: expected one of FULL, BFLOAT16 but got 'tf32'", e.getMessage());
        assertThrows(
                IllegalArgumentException.class, () -> AttentionOptions.builder().optPrecision((Precision) null));
    }

    @Test
    void bfloat16OnFloat16DataIsRefusedNamingTheDtype(SplittableRandom rng) {
        NDArray q = manager.randomNormal(CASE.qShape()).toType(DataType.FLOAT16, false);
        NDArray k = manager.randomNormal(CASE.kShape()).toType(DataType.FLOAT16, false);
        NDArray v = manager.randomNormal(CASE.vShape()).toType(DataType.FLOAT16, false);
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> FlashAttention.attention(q, k, v, bfloat16(Backend.AUTO)));
        assertTrue(e.getMessage().startsWith("q: precision BFLOAT16"), e.getMessage());
        assertTrue(e.getMessage().contains("float16"), e.getMessage());
    }

    @Test
    void referenceRefusesBfloat16InOneLine(SplittableRandom rng) {
        NDArray[] in = CASE.randomInputs(manager, rng);
        UnsupportedOperationException e = assertThrows(
                UnsupportedOperationException.class,
                () -> FlashAttention.forward(in[0], in[1], in[2], bfloat16(Backend.REFERENCE)));
        assertTrue(e.getMessage().contains("REFERENCE computes in the data type"), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void autoRunsBfloat16OnSdpaOnTheCpu(SplittableRandom rng) {
        NDArray[] in = CASE.randomInputs(manager, rng);
        AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], bfloat16(Backend.AUTO));
        assertEquals(Backend.SDPA, r.backend());
        assertEquals(DataType.FLOAT32, r.output().getDataType());
    }

    /**
     * SDPA with BFLOAT16: results and gradients are float32 arrays, their error is that of bfloat16 products (far
     * above float32's, far below nonsense), and the output values are bfloat16 numbers (SDPA's bfloat16 output
     * widened, as autocast gives it).
     */
    @Test
    void sdpaBfloat16ComputesInBfloat16(SplittableRandom rng) {
        NDArray[] in = CASE.randomInputs(manager, rng);
        AttentionOptions opts = bfloat16(Backend.SDPA);
        AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
        AttentionGradients g = FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
        assertEquals(DataType.FLOAT32, g.dk().getDataType());
        NaiveAttention.Outcome truth = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, DataType.FLOAT64);
        NaiveAttention.Outcome f32 = NaiveAttention.compute(in[0], in[1], in[2], in[3], opts, DataType.FLOAT32);
        double mag = ErrorBudget.magnitude(truth.output, truth.dq, truth.dk, truth.dv);
        double[][] errors = {
            {
                ErrorBudget.maxAbsError("output", r.output(), truth.output),
                ErrorBudget.maxAbsError("float32 output", f32.output, truth.output)
            },
            {ErrorBudget.maxAbsError("dq", g.dq(), truth.dq), ErrorBudget.maxAbsError("float32 dq", f32.dq, truth.dq)}
        };
        for (double[] e : errors) {
            assertTrue(e[0] > 8 * e[1], "bfloat16 error " + e[0] + " is float32-like (" + e[1] + ")");
            assertTrue(e[0] < 0x1p-4 * mag, "bfloat16 error " + e[0] + " is above bfloat16's (magnitude " + mag + ")");
        }
        for (float x : r.output().toFloatArray()) {
            assertEquals(0, Float.floatToRawIntBits(x) & 0xFFFF, "not a bfloat16 number: " + x);
        }
    }
}
