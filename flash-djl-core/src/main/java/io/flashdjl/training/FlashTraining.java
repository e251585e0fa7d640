package io.flashdjl.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.listener.TrainingListener.BatchData;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * DJL's {@code EasyTrain} with the flash-aware collector: the same loop, listener calls and
 * metrics, so a model whose attention runs on the CUDA kernels trains as any DJL model does.
 *
 * <pre>{@code
 * FlashTraining.fit(trainer, epochs, trainSet, validateSet);
 * // or, one batch at a time:
 * FlashTraining.trainBatch(trainer, batch);
 * trainer.step();
 * }</pre>
 *
 * <p>A batch split over several devices ({@code trainer.getDevices()}) is trained split by split
 * on the calling thread (the tape belongs to the thread), also when the trainer has an executor.
 */
public final class FlashTraining {

    private FlashTraining() {}

    /**
     * Opens a flash-aware collector on this thread.
     *
     * @return a {@link FlashGradientCollector}; close it (try-with-resources) when the batch is done
     */
    public static FlashGradientCollector newGradientCollector() {
        return new FlashGradientCollector();
    }

    /**
     * Trains for {@code epochs} epochs, validating after each (when {@code validate} is not null).
     *
     * @param trainer the trainer, with model, loss, optimizer and listeners
     * @param epochs the number of passes over {@code train}
     * @param train the training set
     * @param validate the validation set, or null
     * @throws IOException when a dataset cannot be read
     * @throws TranslateException when a batch cannot be prepared
     */
    public static void fit(Trainer trainer, int epochs, Dataset train, Dataset validate)
            throws IOException, TranslateException {
        for (int epoch = 0; epoch < epochs; epoch++) {
            for (Batch batch : trainer.iterateDataset(train)) {
                try {
                    trainBatch(trainer, batch);
                    trainer.step();
                } finally {
                    batch.close();
                }
            }
            evaluateDataset(trainer, validate);
            trainer.notifyListeners(listener -> listener.onEpoch(trainer));
        }
    }

    /**
     * Forward, loss and backward of one batch (split across the trainer's devices), gradients
     * collected with the flash-aware collector; the caller then calls {@code trainer.step()}.
     *
     * @param trainer the trainer
     * @param batch a batch of the trainer's engine
     * @throws IllegalArgumentException if the batch belongs to another engine
     */
    public static void trainBatch(Trainer trainer, Batch batch) {
        if (trainer.getManager().getEngine() != batch.getManager().getEngine()) {
            throw new IllegalArgumentException("batch: expected arrays of the trainer's engine "
                    + trainer.getManager().getEngine().getEngineName() + " but got "
                    + batch.getManager().getEngine().getEngineName());
        }
        Batch[] splits = batch.split(trainer.getDevices(), false);
        BatchData batchData = new BatchData(batch, new ConcurrentHashMap<>(), new ConcurrentHashMap<>());
        try (FlashGradientCollector collector = newGradientCollector()) {
            for (Batch split : splits) {
                trainSplit(trainer, collector, batchData, split);
            }
        }
        trainer.notifyListeners(listener -> listener.onTrainingBatch(trainer, batchData));
    }

    private static void trainSplit(
            Trainer trainer, FlashGradientCollector collector, BatchData batchData, Batch split) {
        NDList data = split.getData();
        NDList labels = split.getLabels();
        NDList preds = trainer.forward(data, labels);
        long time = System.nanoTime();
        NDArray loss = trainer.getLoss().evaluate(labels, preds);
        collector.backward(loss);
        trainer.addMetric("backward", time);
        time = System.nanoTime();
        batchData.getLabels().put(labels.get(0).getDevice(), labels);
        batchData.getPredictions().put(preds.get(0).getDevice(), preds);
        trainer.addMetric("training-metrics", time);
    }

    /**
     * Validation needs no gradients: DJL's own {@code EasyTrain.validateBatch}.
     *
     * @param trainer the trainer
     * @param batch a validation batch
     */
    public static void validateBatch(Trainer trainer, Batch batch) {
        EasyTrain.validateBatch(trainer, batch);
    }

    /**
     * Validation over a dataset (nothing when it is null): DJL's own {@code EasyTrain.evaluateDataset}.
     *
     * @param trainer the trainer
     * @param dataset the validation set, or null
     * @throws IOException when the dataset cannot be read
     * @throws TranslateException when a batch cannot be prepared
     */
    public static void evaluateDataset(Trainer trainer, Dataset dataset) throws IOException, TranslateException {
        EasyTrain.evaluateDataset(trainer, dataset);
    }
}
