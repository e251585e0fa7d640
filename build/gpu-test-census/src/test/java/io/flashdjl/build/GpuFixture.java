package io.flashdjl.build;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What {@link GpuTestCensusTest} counts; not a test itself (Surefire runs only classes named *Test). Everything
 * throws: the census must register these tests without running any of them.
 */
class GpuFixture {

    @BeforeAll
    static void needsAGpu() {
        throw new IllegalStateException("the census ran a @BeforeAll");
    }

    @Test
    @Tag("gpu")
    void plain() {
        throw new IllegalStateException("the census ran a test");
    }

    @ParameterizedTest
    @Tag("gpu")
    @ValueSource(ints = {1, 2, 3})
    void parameterized(int value) {
        throw new IllegalStateException("the census ran invocation " + value);
    }

    @Test
    void untagged() {
        throw new IllegalStateException("the census ran an untagged test");
    }
}
