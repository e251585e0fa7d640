package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The sizes a thread's {@link Workspace} takes: powers of two from 1024 floats, never past its cap. */
class WorkspaceCpuTest {

    @Test
    void sizesArePowersOfTwoFromTheFloorToTheCap() {
        long cap = Workspace.MAX_BYTES / 4;
        assertEquals(1024, Workspace.heldFloats(1));
        assertEquals(1024, Workspace.heldFloats(1024));
        assertEquals(2048, Workspace.heldFloats(1025));
        assertEquals(1L << 20, Workspace.heldFloats((1L << 20) - 3));
        assertEquals(cap, Workspace.heldFloats(cap));
        assertEquals(cap, Workspace.heldFloats(cap - 1));
        for (long f = 1; f <= cap; f = f * 3 + 1) {
            long held = Workspace.heldFloats(f);
            assertTrue(held >= f && held < 2 * Math.max(f, 1024) && Long.bitCount(held) == 1, f + " -> " + held);
        }
    }
}
