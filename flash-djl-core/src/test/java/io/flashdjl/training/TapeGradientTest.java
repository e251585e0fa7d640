package io.flashdjl.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import ai.djl.nn.SequentialBlock;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.Layout;
import io.flashdjl.nn.TransformerDecoderBlock;
import io.flashdjl.spi.OwnedScalar;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.TestSeed;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The tape gives the engine's own gradients (float64, by {@link ErrorBudget}'s rule, which in float64
 * leaves its floor: 1e-12 of the gradient's magnitude): a transformer built of the
 * project's blocks against the same model with naive attention under DJL's collector; nested
 * attention; grouped-query heads in BSHD; cut versus uncut.
 */
@ExtendWith(TestSeed.class)
class TapeGradientTest {

    private static final AttentionOptions REFERENCE = AttentionOptions.builder()
            .optBackend(Backend.REFERENCE)
            .optReferenceTile(4, 4)
            .build();

    @Test
    void twoLayerTransformerMatchesNaiveAttention(SplittableRandom rng) {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape input = new Shape(2, 7, 16);
            int initSeed = rng.nextInt();
            Block flash = decoderStack(false, manager, input, initSeed);
            Block naive = decoderStack(true, manager, input, initSeed);
            NDArray x = manager.randomNormal(input).toType(DataType.FLOAT64, false);
            NDArray weights = manager.randomNormal(input).toType(DataType.FLOAT64, false);

            List<NDArray> flashGrads = gradients(flash, x, weights, true);
            List<NDArray> naiveGrads = gradients(naive, x, weights, false);
            assertEquals(naiveGrads.size(), flashGrads.size());
            assertTrue(flashGrads.size() > 20);
            for (int i = 0; i < flashGrads.size(); i++) {
                sameFloat64("parameter " + i, flashGrads.get(i), naiveGrads.get(i));
                assertTrue(naiveGrads.get(i).abs().max().getDouble() > 0, "parameter " + i + " got no gradient");
            }
        }
    }

    /** Two causal GQA decoder blocks, initialised from the same seed so both stacks hold equal parameters. */
    private static Block decoderStack(boolean naive, NDManager manager, Shape input, int initSeed) {
        SequentialBlock stack = new SequentialBlock();
        for (int i = 0; i < 2; i++) {
            stack.add(TransformerDecoderBlock.builder()
                    .setEmbeddingSize(16)
                    .setHeadCount(4)
                    .setHiddenSize(32)
                    .optKvHeadCount(2)
                    .optBackend(Backend.REFERENCE)
                    .optNaiveAttention(naive)
                    .build());
        }
        Engine.getInstance().setRandomSeed(initSeed);
        stack.initialize(manager, DataType.FLOAT64, input);
        return stack;
    }

    private static List<NDArray> gradients(Block block, NDArray x, NDArray weights, boolean flashCollector) {
        try (GradientCollector gc = flashCollector
                ? FlashTraining.newGradientCollector()
                : Engine.getInstance().newGradientCollector()) {
            gc.zeroGradients();
            NDArray out = block.forward(new ParameterStore(x.getManager(), false), new NDList(x), true)
                    .head();
            gc.backward(out.mul(weights).sum());
            if (gc instanceof FlashGradientCollector) {
                assertEquals(0, ((FlashGradientCollector) gc).pendingNodes());
            }
        }
        List<NDArray> grads = new ArrayList<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray g = p.getValue().getArray().getGradient().duplicate();
            grads.add(g);
        }
        return grads;
    }

    @Test
    void nestedAttentionFeedsAnother() {
        checkAgainstEngine(new Shape(2, 3, 9, 8), new Shape(2, 3, 9, 8), leaves -> {
            NDArray q = leaves.get(0);
            NDArray k = leaves.get(1);
            NDArray v = leaves.get(2);
            NDArray o1 = FlashAttention.attention(q, k, v, REFERENCE);
            NDArray o2 = FlashAttention.attention(o1.mul(q), o1.add(k), o1.tanh(), REFERENCE);
            // o1 and q also reach the loss directly; never x.mul(2) in a graph (OwnedScalar says why)
            return o2.add(o1.mul(OwnedScalar.like(o1, 2))).add(q.sin());
        });
    }

    @Test
    void groupedQueryHeadsInBshd() {
        AttentionOptions bshd =
                REFERENCE.toBuilder().optLayout(Layout.BSHD).optCausal(true).build();
        checkAgainstEngine(new Shape(2, 11, 4, 8), new Shape(2, 6, 2, 8), leaves -> {
            NDArray q = leaves.get(0).mul(OwnedScalar.like(leaves.get(0), 1.5));
            return FlashAttention.attention(q, leaves.get(1), leaves.get(2).exp(), bshd);
        });
    }

    /** The same residual stack cut at each layer or not: the same gradients as the engine's. */
    @Test
    void cutBlocksGiveTheUncutGradients() {
        for (boolean cut : new boolean[] {false, true}) {
            checkAgainstEngine(new Shape(1, 2, 6, 4), new Shape(1, 2, 6, 4), leaves -> {
                NDArray x = leaves.get(0);
                for (int layer = 0; layer < 3; layer++) {
                    if (cut) {
                        x = FlashGradientCollector.cutIfCollecting(x);
                    }
                    NDArray a = FlashAttention.attention(x.mul(leaves.get(1)), x.add(leaves.get(2)), x, REFERENCE);
                    x = x.add(a.tanh());
                }
                return x;
            });
        }
    }

    /**
     * Runs {@code model} on float64 leaves (q-shaped, then two kv-shaped) with a random loss
     * weighting, under the tape and under the engine alone, and compares the leaves' gradients.
     */
    private static void checkAgainstEngine(Shape qShape, Shape kvShape, Function<List<NDArray>, NDArray> model) {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape[] shapes = {qShape, kvShape, kvShape};
            List<NDArray> init = new ArrayList<>();
            for (Shape s : shapes) {
                init.add(manager.randomNormal(s).toType(DataType.FLOAT64, false));
            }
            NDArray[] weights = new NDArray[1];
            List<NDArray> tape = run(init, model, weights, true);
            List<NDArray> engine = run(init, model, weights, false);
            for (int i = 0; i < 3; i++) {
                sameFloat64("leaf " + i, tape.get(i), engine.get(i));
                assertTrue(engine.get(i).abs().max().getDouble() > 0);
            }
        }
    }

    private static List<NDArray> run(
            List<NDArray> init, Function<List<NDArray>, NDArray> model, NDArray[] weights, boolean flash) {
        List<NDArray> leaves = new ArrayList<>();
        for (NDArray a : init) {
            NDArray leaf = a.duplicate();
            leaf.setRequiresGradient(true);
            leaves.add(leaf);
        }
        try (GradientCollector gc =
                flash ? new FlashGradientCollector() : Engine.getInstance().newGradientCollector()) {
            NDArray out = model.apply(leaves);
            if (weights[0] == null) {
                weights[0] = out.getManager().randomNormal(out.getShape()).toType(DataType.FLOAT64, false);
            }
            gc.backward(out.mul(weights[0]).sum());
        }
        List<NDArray> grads = new ArrayList<>();
        for (NDArray leaf : leaves) {
            grads.add(leaf.getGradient().duplicate());
        }
        return grads;
    }

    /** The rule in float64 with the engine's own float64 gradient as truth and baseline: only the floor is left. */
    static void sameFloat64(String what, NDArray ours, NDArray engine) {
        ErrorBudget.check(what, ours, engine, engine, DataType.FLOAT64);
    }
}
