package io.flashdjl.cuda;

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
import ai.djl.nn.ParameterList;
import ai.djl.nn.SequentialBlock;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.flashdjl.Backend;
import io.flashdjl.nn.TransformerDecoderBlock;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.TestSeed;
import io.flashdjl.training.FlashTraining;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Training on the GPU: every parameter gradient of a 2-layer causal GQA decoder whose attention
 * runs the CUDA kernels through the flash tape keeps the project's rule ({@link ErrorBudget}) against
 * the same model in float64 with naive attention, the baseline being that naive model in float32 (PyTorch's
 * own attention in the same dtype). float32, as DJL trains (the GPT example's path). 77 tokens: not a
 * multiple of any tile.
 */
@Tag("gpu")
@ExtendWith({TestSeed.class, PoisonedOutputs.class})
class CudaTapeGradientTest {

    private static final Shape INPUT = new Shape(2, 77, 128);

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    @ParameterizedTest
    @EnumSource(
            value = Backend.class,
            names = {"CUDA", "REFERENCE"})
    void twoLayerDecoderMatchesNaiveAttention(Backend backend, SplittableRandom rng) {
        try (NDManager manager = NDManager.newBaseManager(Device.gpu())) {
            int initSeed = rng.nextInt();
            Block flash = stack(backend, false, manager, initSeed);
            Block naive = stack(backend, true, manager, initSeed);
            NDArray x = manager.randomNormal(INPUT);
            NDArray weights = manager.randomNormal(INPUT);
            Block truth = float64Twin(naive, layers(backend, true));
            List<NDArray> flashGrads = gradients(flash, x, weights, true);
            List<NDArray> naiveGrads = gradients(naive, x, weights, false);
            List<NDArray> truthGrads =
                    gradients(truth, x.toType(DataType.FLOAT64, false), weights.toType(DataType.FLOAT64, false), false);
            assertEquals(naiveGrads.size(), flashGrads.size());
            assertTrue(flashGrads.size() > 20);
            for (int i = 0; i < flashGrads.size(); i++) {
                String what = backend + " parameter " + i;
                ErrorBudget.check(what, flashGrads.get(i), naiveGrads.get(i), truthGrads.get(i), DataType.FLOAT32);
                assertTrue(truthGrads.get(i).abs().max().getDouble() > 0, what + " got no gradient");
            }
        }
    }

    /** {@code twin} (not initialised: DJL sets a parameter's array once) with {@code source}'s values in float64. */
    private static Block float64Twin(Block source, Block twin) {
        ParameterList from = source.getParameters();
        ParameterList to = twin.getParameters();
        assertEquals(from.size(), to.size());
        for (int i = 0; i < from.size(); i++) {
            NDArray value = from.valueAt(i).getArray().toType(DataType.FLOAT64, true);
            value.setRequiresGradient(true);
            to.valueAt(i).setArray(value);
        }
        return twin;
    }

    private static Block stack(Backend backend, boolean naive, NDManager manager, int initSeed) {
        Block stack = layers(backend, naive);
        Engine.getInstance().setRandomSeed(initSeed); // the same parameters in both stacks
        stack.initialize(manager, DataType.FLOAT32, INPUT);
        return stack;
    }

    /** The two decoder layers, not initialised. */
    private static Block layers(Backend backend, boolean naive) {
        SequentialBlock stack = new SequentialBlock();
        for (int i = 0; i < 2; i++) {
            stack.add(TransformerDecoderBlock.builder()
                    .setEmbeddingSize(128)
                    .setHeadCount(4)
                    .setHiddenSize(256)
                    .optKvHeadCount(2)
                    .optBackend(backend)
                    .optNaiveAttention(naive)
                    .build());
        }
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
        }
        List<NDArray> grads = new ArrayList<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            grads.add(p.getValue().getArray().getGradient().duplicate());
        }
        return grads;
    }
}
