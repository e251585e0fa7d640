package io.flashdjl.examples.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flashdjl.AttentionMask;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Backend;
import io.flashdjl.Layout;
import io.flashdjl.testing.AttentionCase;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.NaiveAttention;
import io.flashdjl.testing.TestSeed;
import java.util.SplittableRandom;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The benchmark's "naive" implementation (kept apart for what it measures: the memory and time of
 * attention written the obvious way) computes attention: its output keeps {@link ErrorBudget}'s rule
 * against the tests' one reference, {@link NaiveAttention}. Its causal mask is top-left.
 */
@ExtendWith(TestSeed.class)
class NaiveImplTest {

    @ParameterizedTest(name = "Hq{0} Hkv{1} N{2} causal={3}")
    @CsvSource({"2, 2, 37, false", "4, 1, 50, true", "8, 2, 17, true"})
    void naiveKeepsTheErrorRule(int hq, int hkv, int n, boolean causal, SplittableRandom rng) {
        BenchCase bench = new BenchCase("test", 2, hq, hkv, n, n, 32, causal);
        AttentionCase c = new AttentionCase(
                bench.b(),
                hq,
                hkv,
                n,
                n,
                bench.d(),
                bench.d(),
                causal ? AttentionMask.CAUSAL_TOP_LEFT : AttentionMask.NONE,
                Layout.BHSD,
                DataType.FLOAT32,
                Double.NaN);
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray[] in = c.randomInputs(m, rng);
            Impl.Naive naive = new Impl.Naive();
            NDArray out = (NDArray) naive.forwardForBackward(bench, new Impl.Inputs(in[0], in[1], in[2], in[3]));
            naive.endCase();
            AttentionOptions opts = c.options(Backend.REFERENCE);
            NaiveAttention.Outcome truth = NaiveAttention.compute(in[0], in[1], in[2], null, opts, DataType.FLOAT64);
            NaiveAttention.Outcome base = NaiveAttention.compute(in[0], in[1], in[2], null, opts, c.dataType);
            ErrorBudget.check(bench + " output", out, base.output, truth.output, c.dataType);
        }
    }
}
