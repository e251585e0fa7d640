package io.flashdjl.training;

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
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.util.Pair;
import io.flashdjl.Backend;
import io.flashdjl.nn.TransformerDecoderBlock;
import io.flashdjl.spi.OwnedScalar;
import io.flashdjl.testing.TestSeed;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** FlashTraining mirrors EasyTrain: same gradients, and fit trains. (Splitting
 * over several devices needs several GPUs: DJL refuses the CPU twice.) */
@ExtendWith(TestSeed.class)
class FlashTrainingTest {

    private static final Shape INPUT = new Shape(4, 6, 8);

    @Test
    void trainBatchGivesEasyTrainGradientsWithoutAttention(SplittableRandom rng) throws Exception {
        Supplier<Block> mlp = () -> new SequentialBlock()
                .add(Linear.builder().setUnits(16).build())
                .add(ai.djl.nn.Activation::tanh)
                .add(Linear.builder().setUnits(8).build());
        compare(mlp, mlp, rng.nextInt());
    }

    @Test
    void trainBatchWithFlashAttentionGivesNaiveAttentionGradients(SplittableRandom rng) throws Exception {
        compare(() -> decoder(false), () -> decoder(true), rng.nextInt());
    }

    private static Block decoder(boolean naive) {
        return TransformerDecoderBlock.builder()
                .setEmbeddingSize(8)
                .setHeadCount(2)
                .setHiddenSize(16)
                .optBackend(Backend.REFERENCE)
                .optNaiveAttention(naive)
                .build();
    }

    /** Gradients after FlashTraining.trainBatch (model a) and EasyTrain.trainBatch (model b), on the CPU. */
    private static void compare(Supplier<Block> a, Supplier<Block> b, int initSeed) throws Exception {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            NDArray x = manager.randomNormal(INPUT).toType(DataType.FLOAT64, false);
            NDArray y = manager.randomNormal(INPUT).toType(DataType.FLOAT64, false);
            List<NDArray> flash = gradients(a.get(), x, y, true, manager, initSeed);
            List<NDArray> easy = gradients(b.get(), x, y, false, manager, initSeed);
            assertTrue(flash.size() == easy.size() && !flash.isEmpty());
            for (int i = 0; i < flash.size(); i++) {
                TapeGradientTest.sameFloat64("parameter " + i, flash.get(i), easy.get(i));
                assertTrue(easy.get(i).abs().max().getDouble() > 0, "parameter " + i + " got no gradient");
            }
        }
    }

    private static List<NDArray> gradients(
            Block block, NDArray x, NDArray y, boolean flash, NDManager keep, int initSeed) throws Exception {
        try (Model model = Model.newInstance("m", Device.cpu(), "PyTorch")) {
            model.setDataType(DataType.FLOAT64);
            model.setBlock(block);
            DefaultTrainingConfig config = new DefaultTrainingConfig(new HalfSquaredError())
                    .optDevices(new Device[] {Device.cpu()}); // DJL refuses a device twice: splits need GPUs
            try (Trainer trainer = model.newTrainer(config)) {
                Engine.getInstance().setRandomSeed(initSeed);
                trainer.initialize(INPUT);
                NDManager bm = keep.newSubManager(); // the batch closes its manager
                NDArray bx = bm.create(x.toDoubleArray(), x.getShape());
                NDArray by = bm.create(y.toDoubleArray(), y.getShape());
                try (Batch batch = new Batch(bm, new NDList(bx), new NDList(by), 2, null, null, 0, 1)) {
                    if (flash) {
                        FlashTraining.trainBatch(trainer, batch);
                    } else {
                        EasyTrain.trainBatch(trainer, batch);
                    }
                }
                List<NDArray> grads = new ArrayList<>();
                for (Pair<String, Parameter> p : block.getParameters()) {
                    grads.add(p.getValue().getArray().getGradient().duplicate());
                }
                for (NDArray g : grads) {
                    g.attach(keep);
                }
                return grads;
            }
        }
    }

    @Test
    void fitReducesTheLoss() throws Exception {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                Model model = Model.newInstance("gpt-ish", Device.cpu(), "PyTorch")) {
            SequentialBlock net = new SequentialBlock()
                    .add(decoder(false))
                    .add(Linear.builder().setUnits(8).build());
            model.setBlock(net);
            NDArray x = manager.randomNormal(new Shape(32, 6, 8));
            NDArray y = x.cumSum(1).mul(0.3); // a causal target: running sums
            ArrayDataset data = new ArrayDataset.Builder()
                    .setData(x)
                    .optLabels(y)
                    .setSampling(8, false)
                    .build();
            DefaultTrainingConfig config = new DefaultTrainingConfig(new HalfSquaredError())
                    .optOptimizer(Optimizer.adam()
                            .optLearningRateTracker(Tracker.fixed(0.01f))
                            .build());
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(8, 6, 8));
                double before = loss(trainer, x, y);
                FlashTraining.fit(trainer, 8, data, data);
                double after = loss(trainer, x, y);
                assertTrue(after < 0.7 * before, "loss " + before + " -> " + after);
            }
        }
    }

    private static double loss(Trainer trainer, NDArray x, NDArray y) {
        NDList out = trainer.evaluate(new NDList(x));
        return trainer.getLoss().evaluate(new NDList(y), out).getFloat();
    }

    /**
     * DJL's L2Loss without its flaw: {@code Loss.l2Loss()} multiplies by its weight as a Java number,
     * which on the CPU leaves autograd a tensor over a Java buffer that a GC before the backward pass
     * frees ({@code OwnedScalar}); its gradients are then garbage, on both sides of a comparison.
     */
    private static final class HalfSquaredError extends Loss {

        HalfSquaredError() {
            super("L2Loss");
        }

        @Override
        public NDArray evaluate(NDList labels, NDList predictions) {
            NDArray pred = predictions.singletonOrThrow();
            NDArray error = labels.singletonOrThrow().reshape(pred.getShape()).sub(pred);
            return error.square().mul(OwnedScalar.like(error, 0.5)).mean();
        }
    }
}
