package io.flashdjl.testing;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.opentest4j.AssertionFailedError;

/** The correctness rule itself: what it lets through and what it must refuse. */
@ExtendWith(TestSeed.class)
class ErrorBudgetTest {

    private static final DataType F16 = DataType.FLOAT16;

    /** truth in float64; "stored" results are rounded through float16 like a kernel's output */
    private static NDArray stored(NDArray x) {
        return x.toType(F16, false).toType(DataType.FLOAT64, false);
    }

    @Test
    void resultAsGoodAsTheBaselinePasses() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray truth =
                    m.randomNormal(new ai.djl.ndarray.types.Shape(64, 96)).toType(DataType.FLOAT64, false);
            NDArray ours = stored(truth.mul(1 + 1e-4));
            NDArray base = stored(truth);
            assertDoesNotThrow(() -> ErrorBudget.check("same as baseline", ours, base, truth, F16, 1));
        }
    }

    @Test
    void errorOfManyRoundingUnitsFails() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray truth =
                    m.randomNormal(new ai.djl.ndarray.types.Shape(64, 96)).toType(DataType.FLOAT64, false);
            NDArray base = stored(truth);
            // 8 units of fp16 rounding on the largest element, far beyond 2x the baseline's half unit
            NDArray ours = stored(truth.mul(1 + 8 * 0x1p-10));
            assertThrows(AssertionFailedError.class, () -> ErrorBudget.check("8 ulp", ours, base, truth, F16, 1));
        }
    }

    @Test
    void nanNeverPasses() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray truth = m.ones(new ai.djl.ndarray.types.Shape(4, 4), DataType.FLOAT64);
            NDArray ours = truth.duplicate();
            ours.set(new ai.djl.ndarray.index.NDIndex("0, 0"), Double.NaN);
            assertThrows(AssertionFailedError.class, () -> ErrorBudget.check("nan", ours, truth, truth, F16, 1));
        }
    }
}
