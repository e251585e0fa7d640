package io.flashdjl;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.flashdjl.nn.FlashAttentionBlock;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.FreedJavaBuffers;
import io.flashdjl.testing.TestSeed;
import io.flashdjl.training.FlashGradientCollector;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A garbage collection between the forward and the backward pass changes no gradient: what the engine
 * graph keeps of the library's ops lives in memory the engine owns ({@code OwnedScalar}). Each test
 * frees every unreachable Java buffer at that moment ({@link FreedJavaBuffers}), which turns a
 * GC-timed corruption into a certain one. float64 throughout, so the rule leaves only its floor.
 */
@ExtendWith(TestSeed.class)
class GarbageCollectionTest {

    private static final AttentionOptions REFERENCE = AttentionOptions.builder()
            .optBackend(Backend.REFERENCE)
            .optReferenceTile(4, 4)
            .optCausal(true)
            .build();

    /** REFERENCE attention differentiated by the engine (DJL's collector) or by the tape (flash collector). */
    @ParameterizedTest(name = "tape={0}")
    @ValueSource(booleans = {false, true})
    void referenceAttentionGradients(boolean tape) {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            NDArray q = manager.randomNormal(new Shape(2, 4, 9, 8)).toType(DataType.FLOAT64, false);
            NDArray k = manager.randomNormal(new Shape(2, 2, 11, 8)).toType(DataType.FLOAT64, false);
            NDArray v = manager.randomNormal(new Shape(2, 2, 11, 8)).toType(DataType.FLOAT64, false);
            NDArray dOut = manager.randomNormal(new Shape(2, 4, 9, 8)).toType(DataType.FLOAT64, false);
            AttentionGradients explicit =
                    FlashAttention.backward(dOut, q, k, v, FlashAttention.forward(q, k, v, REFERENCE), REFERENCE);
            NDArray[] leaves = {q, k, v};
            for (NDArray leaf : leaves) {
                leaf.setRequiresGradient(true);
            }
            try (GradientCollector gc =
                    tape ? new FlashGradientCollector() : Engine.getInstance().newGradientCollector()) {
                NDArray loss =
                        FlashAttention.attention(q, k, v, REFERENCE).mul(dOut).sum();
                FreedJavaBuffers.freeUnreachable();
                gc.backward(loss);
            }
            NDArray[] want = {explicit.dq(), explicit.dk(), explicit.dv()};
            String[] names = {"dq", "dk", "dv"};
            for (int i = 0; i < 3; i++) {
                ErrorBudget.check(names[i], leaves[i].getGradient(), want[i], want[i], DataType.FLOAT64);
            }
        }
    }

    /** The materialising attention of the blocks (the naive path), under DJL's collector. */
    @Test
    void naiveBlockAttentionGradients(java.util.SplittableRandom rng) {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape input = new Shape(2, 7, 16);
            Block block = FlashAttentionBlock.builder()
                    .setEmbeddingSize(16)
                    .setHeadCount(4)
                    .optKvHeadCount(2)
                    .optCausal(true)
                    .optNaiveAttention(true)
                    .build();
            Engine.getInstance().setRandomSeed(rng.nextInt());
            block.initialize(manager, DataType.FLOAT64, input);
            NDArray x = manager.randomNormal(input).toType(DataType.FLOAT64, false);
            NDArray weights = manager.randomNormal(input).toType(DataType.FLOAT64, false);
            List<NDArray> undisturbed = parameterGradients(block, x, weights, false);
            List<NDArray> collected = parameterGradients(block, x, weights, true);
            for (int i = 0; i < undisturbed.size(); i++) {
                NDArray want = undisturbed.get(i);
                ErrorBudget.check("parameter " + i, collected.get(i), want, want, DataType.FLOAT64);
                assertTrue(want.abs().max().getDouble() > 0, "parameter " + i + " got no gradient");
            }
        }
    }

    private static List<NDArray> parameterGradients(Block block, NDArray x, NDArray weights, boolean freeBuffers) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.zeroGradients();
            NDArray out = block.forward(new ParameterStore(x.getManager(), false), new NDList(x), true)
                    .head();
            NDArray loss = out.mul(weights).sum();
            if (freeBuffers) {
                FreedJavaBuffers.freeUnreachable();
            }
            gc.backward(loss);
        }
        List<NDArray> grads = new ArrayList<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            grads.add(p.getValue().getArray().getGradient().duplicate());
        }
        return grads;
    }
}
