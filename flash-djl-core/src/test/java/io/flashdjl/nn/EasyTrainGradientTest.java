package io.flashdjl.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.ParameterList;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.flashdjl.Backend;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.TestSeed;
import java.util.SplittableRandom;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The drop-in trained the way a DJL user trains, {@code EasyTrain.fit} with DJL's own gradient collector: one
 * SGD step (learning rate 1, so each parameter moves by minus its gradient) of {@link FlashAttentionBlock} on
 * every backend that runs under that collector on the CPU, at sequence lengths inside one REFERENCE tile, at its
 * edge and past it. Each gradient is judged by {@link ErrorBudget}'s rule against DJL's own attention block with
 * the same parameters trained the same way (the float32 baseline) and a float64 computation of the same
 * gradient (the truth); a gradient the truth has must not be zero here.
 */
@ExtendWith(TestSeed.class)
class EasyTrainGradientTest {

    private static final int E = FlashAttentionBlockTest.E;
    private static final int HEADS = FlashAttentionBlockTest.HEADS;
    private static final int BATCH = 2;

    @ParameterizedTest(name = "{0}, N = {1}")
    @CsvSource({
        "REFERENCE, 1",
        "REFERENCE, 5",
        "REFERENCE, 64",
        "REFERENCE, 65",
        "REFERENCE, 200",
        "SDPA, 1",
        "SDPA, 64",
        "SDPA, 65",
        "SDPA, 200",
        "AUTO, 5",
        "AUTO, 64",
        "AUTO, 130"
    })
    void oneEasyTrainStepGivesDjlsGradients(Backend backend, int seq, SplittableRandom rng) throws Exception {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape in = new Shape(BATCH, seq, E);
            NDArray x = manager.randomNormal(in);
            NDArray y = manager.randomNormal(in);
            Block djl = FlashAttentionBlockTest.djlBlock();
            djl.initialize(manager, DataType.FLOAT32, in);
            Block flash = FlashAttentionBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .optBackend(backend)
                    .build();
            flash.initialize(manager, DataType.FLOAT32, in);
            FlashAttentionBlockTest.copyParameters(djl, flash);

            NDArray[] truth = float64Gradients(djl, x, y);
            NDArray[] baseline = gradientsOfOneEasyTrainStep(djl, x, y);
            NDArray[] ours = gradientsOfOneEasyTrainStep(flash, x, y);
            double magnitude = ErrorBudget.magnitude(truth);
            for (int i = 0; i < truth.length; i++) {
                String what = backend + " N=" + seq + " parameter " + i;
                if (truth[i].abs().max().getDouble() > 0) { // (with one key the scores' projections have none)
                    assertTrue(ours[i].abs().max().getDouble() > 0, what + ": no gradient reached it");
                }
                ErrorBudget.check(what, ours[i], baseline[i], truth[i], DataType.FLOAT32, magnitude);
            }
        }
    }

    /** -(parameter after - before) of one EasyTrain.fit step with SGD at learning rate 1 and the L2 loss. */
    private static NDArray[] gradientsOfOneEasyTrainStep(Block block, NDArray x, NDArray y) throws Exception {
        ParameterList params = block.getParameters();
        NDArray[] before = new NDArray[params.size()];
        for (int i = 0; i < params.size(); i++) {
            before[i] = params.valueAt(i).getArray().toType(DataType.FLOAT64, true);
        }
        try (Model model = Model.newInstance("easy-train", Device.cpu(), "PyTorch")) {
            model.setBlock(block);
            DefaultTrainingConfig config = new DefaultTrainingConfig(Loss.l2Loss())
                    .optOptimizer(Optimizer.sgd()
                            .setLearningRateTracker(Tracker.fixed(1f))
                            .build())
                    .optDevices(new Device[] {Device.cpu()});
            try (Trainer trainer = model.newTrainer(config)) {
                ArrayDataset data = new ArrayDataset.Builder()
                        .setData(x.duplicate())
                        .optLabels(y.duplicate())
                        .setSampling(BATCH, false)
                        .build();
                EasyTrain.fit(trainer, 1, data, null);
            }
            NDArray[] gradients = new NDArray[params.size()];
            for (int i = 0; i < params.size(); i++) {
                gradients[i] = before[i].sub(params.valueAt(i).getArray().toType(DataType.FLOAT64, false));
            }
            assertEquals(params.size(), gradients.length);
            return gradients;
        }
    }

    /** The L2 loss's gradients for DJL's block with {@code block}'s parameters, in float64. */
    private static NDArray[] float64Gradients(Block block, NDArray x, NDArray y) {
        Block twin = FlashAttentionBlockTest.float64Twin(block, FlashAttentionBlockTest.djlBlock());
        ParameterList to = twin.getParameters();
        for (int i = 0; i < to.size(); i++) {
            to.valueAt(i).getArray().setRequiresGradient(true);
        }
        NDArray x64 = x.toType(DataType.FLOAT64, true);
        NDArray y64 = y.toType(DataType.FLOAT64, true);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray out = twin.forward(new ParameterStore(x.getManager(), false), new NDList(x64), true)
                    .head();
            gc.backward(Loss.l2Loss().evaluate(new NDList(y64), new NDList(out)));
        }
        NDArray[] grads = new NDArray[to.size()];
        for (int i = 0; i < to.size(); i++) {
            grads[i] = to.valueAt(i).getArray().getGradient().duplicate();
        }
        return grads;
    }
}
