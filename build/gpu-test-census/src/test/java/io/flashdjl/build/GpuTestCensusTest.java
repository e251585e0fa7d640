package io.flashdjl.build;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.platform.engine.discovery.DiscoverySelectors;

class GpuTestCensusTest {

    @Test
    void countsEachInvocationOfTheTaggedTestsAndRunsNone() throws IOException {
        // GpuFixture: 1 plain test + 3 invocations of a parameterized test are tagged gpu, 1 test is not;
        // its @BeforeAll and every test throw, so a census that ran any of them would throw itself
        long count = GpuTestCensus.count(List.of(DiscoverySelectors.selectClass(GpuFixture.class)));
        assertEquals(4, count);
    }

    @Test
    void closingLineSaysWhetherTheTestsRan() {
        assertEquals(
                "GPU tests: 93 tagged `gpu` were not run (no GPU in this build); run them on a CUDA machine:"
                        + " see README 'Testing on a GPU'",
                GpuTestSummary.line(93, true));
        assertTrue(GpuTestSummary.line(93, false).startsWith("GPU tests: 93 tagged `gpu` were included"));
    }
}
