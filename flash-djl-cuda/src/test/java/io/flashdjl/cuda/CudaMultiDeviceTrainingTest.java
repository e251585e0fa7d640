package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.Batchifier;
import ai.djl.util.Pair;
import io.flashdjl.Backend;
import io.flashdjl.nn.TransformerDecoderBlock;
import io.flashdjl.testing.TestSeed;
import io.flashdjl.training.FlashTraining;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A batch split across gpu(0) and gpu(1): one SGD step after {@link FlashTraining#trainBatch} with
 * the CUDA kernels through the flash tape gives the same parameters as {@link EasyTrain#trainBatch}
 * with naive attention, so the gradients of both halves were computed and summed alike.
 */
@Tag("gpu")
@ExtendWith({TestSeed.class, PoisonedOutputs.class})
class CudaMultiDeviceTrainingTest {

    private static final Shape INPUT = new Shape(8, 33, 64);

    @BeforeAll
    static void gpus() {
        GpuTests.requireCuda();
        assumeTrue(Engine.getInstance().getGpuCount() >= 2, "needs two GPUs");
    }

    @Test
    void splitBatchStepMatchesEasyTrainWithNaiveAttention(SplittableRandom rng) throws Exception {
        try (NDManager manager = NDManager.newBaseManager(Device.gpu(0))) {
            NDArray x = manager.randomNormal(INPUT);
            NDArray y = manager.randomNormal(INPUT);
            int initSeed = rng.nextInt();
            List<float[][]> flash = oneStep(false, x, y, manager, initSeed);
            List<float[][]> naive = oneStep(true, x, y, manager, initSeed);
            boolean moved = false;
            for (int i = 0; i < flash.size(); i++) {
                float[] before = flash.get(i)[0];
                float[] a = flash.get(i)[1];
                float[] b = naive.get(i)[1];
                for (int j = 0; j < a.length; j++) {
                    assertTrue(
                            Math.abs(a[j] - b[j]) <= 2e-5f * Math.max(1f, Math.abs(b[j])),
                            "parameter " + i + " element " + j + ": " + a[j] + " vs " + b[j]);
                    moved |= Math.abs(a[j] - before[j]) > 1e-4f;
                }
            }
            assertTrue(moved, "the step changed the parameters");
        }
    }

    /** Each parameter's values before and after one step, for the flash or the naive model. */
    private static List<float[][]> oneStep(boolean naive, NDArray x, NDArray y, NDManager keep, int initSeed)
            throws Exception {
        Device[] devices = {Device.gpu(0), Device.gpu(1)};
        try (Model model = Model.newInstance("m", devices[0], "PyTorch")) {
            model.setBlock(TransformerDecoderBlock.builder()
                    .setEmbeddingSize(64)
                    .setHeadCount(4)
                    .setHiddenSize(128)
                    .optKvHeadCount(2)
                    .optBackend(Backend.CUDA)
                    .optNaiveAttention(naive)
                    .build());
            DefaultTrainingConfig config = new DefaultTrainingConfig(Loss.l2Loss())
                    .optOptimizer(Optimizer.sgd()
                            .setLearningRateTracker(Tracker.fixed(0.5f))
                            .build())
                    .optDevices(devices);
            try (Trainer trainer = model.newTrainer(config)) {
                Engine.getInstance().setRandomSeed(initSeed); // same parameters for both models
                trainer.initialize(INPUT);
                List<float[][]> values = new ArrayList<>();
                for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
                    values.add(new float[][] {p.getValue().getArray().toFloatArray(), null});
                }
                NDManager bm = keep.newSubManager(); // the batch closes its manager
                NDArray bx = x.duplicate();
                NDArray by = y.duplicate();
                try (Batch batch = new Batch(
                        bm,
                        new NDList(bx),
                        new NDList(by),
                        (int) INPUT.get(0),
                        Batchifier.STACK,
                        Batchifier.STACK,
                        0,
                        1)) {
                    if (naive) {
                        EasyTrain.trainBatch(trainer, batch);
                    } else {
                        FlashTraining.trainBatch(trainer, batch);
                    }
                }
                trainer.step();
                int i = 0;
                for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
                    values.get(i++)[1] = p.getValue()
                            .getArray()
                            .toType(DataType.FLOAT32, false)
                            .toFloatArray();
                }
                return values;
            }
        }
    }
}
