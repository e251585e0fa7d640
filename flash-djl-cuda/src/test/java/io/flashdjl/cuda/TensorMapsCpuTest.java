package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The operand maps' rank rule and its argument check, which need no driver ({@code TMA LOADS} in flash_params.h;
 * the maps themselves are checked on a GPU by the attention tests whose kernels read them).
 */
class TensorMapsCpuTest {

    @Test
    void wholeBlocksOfSixtyFourColumnsHaveRankFiveMaps() {
        for (int d : new int[] {64, 128, 192, 256}) {
            assertTrue(TensorMaps.wholeBlockMap(d), "head dim " + d);
        }
        // 60 is stored as 64 columns (the casts pad rows to 8) yet takes a rank-4 map: the rule reads the head dim,
        // as the kernels do
        for (int d : new int[] {8, 32, 60, 96, 100, 120, 136, 200}) {
            assertFalse(TensorMaps.wholeBlockMap(d), "head dim " + d);
        }
    }

    @Test
    void aRankFiveMapOfPartColumnBlocksIsRefusedByName() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> TensorMaps.encodeOperand(
                        1L << 20,
                        true,
                        new long[] {2, 4, 128, 96},
                        new KernelParams.Strides(4 * 128 * 96, 128 * 96, 96),
                        true));
        assertEquals("cols: expected a multiple of 64 for a rank-5 map but got 96", e.getMessage());
    }
}
