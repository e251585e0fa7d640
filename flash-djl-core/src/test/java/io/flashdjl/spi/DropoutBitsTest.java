package io.flashdjl.spi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.flashdjl.AttentionOptions;
import io.flashdjl.testing.TestSeed;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The dropout generator on the device ({@link DropoutBitsModule}, TorchScript) gives the bits of its scalar
 * definition ({@link DropoutBits#keep}) everywhere: random seeds, offsets and rates, indices past 2^16 (where
 * the cells' high bits matter), rows of no sequence and keys of another sequence.
 */
@ExtendWith(TestSeed.class)
class DropoutBitsTest {

    @Test
    void theModuleDrawsTheDefinitionsBits(SplittableRandom rng) {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            for (int round = 0; round < 4; round++) {
                AttentionOptions o = AttentionOptions.builder()
                        .optDropout(0.05 + 0.9 * rng.nextDouble(), rng.nextLong(), rng.nextInt())
                        .build();
                DropoutBits bits = DropoutBits.of(o);
                int batch = 2;
                int heads = 3;
                int rows = 37;
                int cols = 45;
                long[] qs = new long[batch * rows];
                long[] qi = new long[qs.length];
                long[] ks = new long[batch * cols];
                long[] kj = new long[ks.length];
                for (int i = 0; i < qs.length; i++) {
                    qs[i] = rng.nextInt(4) - 1; // -1: no sequence
                    qi[i] = round == 3 ? 70_000 + rng.nextInt(1 << 20) : rng.nextInt(5000);
                }
                for (int j = 0; j < ks.length; j++) {
                    ks[j] = rng.nextInt(3);
                    kj[j] = round == 3 ? 70_000 + rng.nextInt(1 << 20) : rng.nextInt(5000);
                }
                boolean[] got = bits.keepMask(manager, Device.cpu(), heads, batch, qs, qi, ks, kj)
                        .toBooleanArray();
                boolean[] want = new boolean[got.length];
                int kept = 0;
                for (int b = 0; b < batch; b++) {
                    for (int h = 0; h < heads; h++) {
                        for (int r = 0; r < rows; r++) {
                            for (int c = 0; c < cols; c++) {
                                long s = qs[b * rows + r];
                                boolean k = s >= 0
                                        && ks[b * cols + c] == s
                                        && bits.keep(s, heads, h, qi[b * rows + r], kj[b * cols + c]);
                                want[((b * heads + h) * rows + r) * cols + c] = k;
                                kept += k ? 1 : 0;
                            }
                        }
                    }
                }
                assertTrue(kept > 0, "some bits kept");
                assertArrayEquals(want, got, o.toString());
            }
        }
    }
}
