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
 * runs the CUDA kernels through the flash tape equals the gradient of the same model (same seed,
 * same dtype, so the same parameters) with naive attention under DJL's own autograd. float32, as
 * DJL trains (the GPT example's path). 77 tokens: not a multiple of any tile.
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
            List<NDArray> flashGrads = gradients(flash, x, weights, true);
            List<NDArray> naiveGrads = gradients(naive, x, weights, false);
            assertEquals(naiveGrads.size(), flashGrads.size());
            assertTrue(flashGrads.size() > 20);
            for (int i = 0; i < flashGrads.size(); i++) {
                double magnitude = ErrorBudget.magnitude(naiveGrads.get(i));
                double err = ErrorBudget.maxAbsError(backend + " parameter " + i, flashGrads.get(i), naiveGrads.get(i));
                // two float32 computations of the same gradient: summation order differs, nothing else
                assertTrue(
                        err <= 2e-4 * magnitude,
                        backend + " parameter " + i + ": error " + err + " against max |gradient| " + magnitude);
                assertTrue(naiveGrads.get(i).abs().max().getFloat() > 0, "parameter " + i + " got no gradient");
            }
        }
    }

    private static Block stack(Backend backend, boolean naive, NDManager manager, int initSeed) {
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
        Engine.getInstance().setRandomSeed(initSeed); // the same parameters in both stacks
        stack.initialize(manager, DataType.FLOAT32, INPUT);
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
