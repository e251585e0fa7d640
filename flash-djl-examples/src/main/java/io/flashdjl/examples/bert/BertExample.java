package io.flashdjl.examples.bert;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.optimizer.Adam;
import ai.djl.training.tracker.Tracker;
import io.flashdjl.examples.cli.CommandLine;
import io.flashdjl.examples.text.MaskedTokenLoss;
import io.flashdjl.nn.FlashAttentionBlock;
import io.flashdjl.training.FlashTraining;
import java.io.PrintStream;
import java.util.Locale;
import java.util.Random;

/**
 * Trains a small BERT-style encoder by masked-language modelling on padded batches of sequences of different
 * lengths, with DJL's own attention block or flash-djl's {@code FlashAttentionBlock} swapped in: the same
 * builder calls, DJL's {@code [B, T, T]} key-padding masks and attention dropout. On the flash block the masks
 * reach the kernels as key lengths and the dropout is the kernels'. Prints the losses, the masked-token accuracy
 * and the training throughput.
 *
 * <pre>
 * mvn -q -B install -DskipTests
 * mvn -q -B -pl flash-djl-examples exec:java -Dexec.mainClass=io.flashdjl.examples.bert.BertExample
 * ... -Dexec.args="--attention djl"      # DJL's own attention block, for comparison
 * </pre>
 */
public final class BertExample {

    /** Steps left out of the steady-state throughput: allocator and autotuning warm-up. */
    static final int WARM_UP_STEPS = 5;

    private BertExample() {}

    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    /**
     * Runs the example as the command line says.
     *
     * @return the exit code: 0, or {@link CommandLine#BAD_USAGE}
     */
    static int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine.Invocation<BertOptions> call = BertOptions.COMMAND_LINE.read(args, BertOptions::from, out, err);
        if (!call.proceed()) {
            return call.exitCode();
        }
        try {
            train(call.options(), out);
            return 0;
        } catch (IllegalArgumentException e) {
            err.println("BertExample: " + e.getMessage());
            return CommandLine.BAD_USAGE;
        }
    }

    /** What a run measured. */
    record Result(double trainLoss, double validationLoss, double maskedAccuracy, double tokensPerSecond) {}

    /** Trains as the options say. */
    static Result train(BertOptions o, PrintStream out) {
        Device device = device(o.device);
        MlmTask task = MlmTask.read(o.text, o.sequence);
        Engine.getInstance().setRandomSeed((int) o.seed);
        BertModel bert = model(o, task.vocabularySize());
        out.printf(
                Locale.ROOT,
                "BERT on %s: text %s; %d layers, embedding %d, %d heads, %d positions (%.0f%% padding), vocabulary %d;"
                        + " attention %s%s, dropout %s; %d steps of %d rows%n",
                device,
                o.text,
                o.layers,
                o.embedding,
                o.heads,
                o.sequence,
                100 * o.padding,
                task.vocabularySize(),
                o.attention.name().toLowerCase(Locale.ROOT),
                o.attention == BertOptions.Attention.FLASH
                        ? " (precision " + o.precision.name().toLowerCase(Locale.ROOT) + ")"
                        : "",
                o.dropout,
                o.steps,
                o.batch);
        Random random = new Random(o.seed);
        try (Model model = Model.newInstance("bert", device)) {
            model.setBlock(bert);
            DefaultTrainingConfig config = new DefaultTrainingConfig(new MaskedTokenLoss())
                    .optOptimizer(Adam.builder()
                            .optLearningRateTracker(Tracker.fixed(o.learningRate))
                            .build())
                    .optDevices(new Device[] {device});
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(o.batch, o.sequence), new Shape(o.batch, o.sequence, o.sequence));
                NDManager manager = trainer.getManager();
                double smoothed = Double.NaN;
                double validation = Double.NaN;
                double accuracy = Double.NaN;
                long steadyTokens = 0;
                long steadyNanos = 0;
                for (int step = 1; step <= o.steps; step++) {
                    long t0 = System.nanoTime();
                    double loss;
                    long tokens;
                    try (NDManager scope = manager.newSubManager();
                            MlmTask.Batch b =
                                    task.training(scope, o.batch, o.sequence, o.padding, o.maskRate, random)) {
                        loss = trainStep(trainer, b);
                        tokens = b.tokens();
                    }
                    long nanos = System.nanoTime() - t0;
                    if (step > WARM_UP_STEPS) {
                        steadyTokens += tokens;
                        steadyNanos += nanos;
                    }
                    smoothed = Double.isNaN(smoothed) ? loss : 0.95 * smoothed + 0.05 * loss;
                    if (step % o.evalEvery == 0 || step == o.steps) {
                        double[] v = evaluate(trainer, task, o, random);
                        validation = v[0];
                        accuracy = v[1];
                        out.printf(
                                Locale.ROOT,
                                "step %d: train loss %.4f, validation loss %.4f, masked-token accuracy %.1f%%%n",
                                step,
                                smoothed,
                                validation,
                                100 * accuracy);
                    }
                }
                double tps = steadyNanos == 0 ? Double.NaN : steadyTokens / (steadyNanos / 1e9);
                out.printf(
                        Locale.ROOT,
                        "%.0f tokens/s from step %d on (tokens: the rows' non-padding positions)%n",
                        tps,
                        WARM_UP_STEPS + 1);
                return new Result(smoothed, validation, accuracy, tps);
            }
        }
    }

    /** The model, with the attention block the options ask for in every layer. */
    static BertModel model(BertOptions o, int vocabulary) {
        return new BertModel(
                vocabulary,
                o.sequence,
                o.embedding,
                o.layers,
                i -> new EncoderLayer(attention(o), o.embedding, 4 * o.embedding, o.dropout));
    }

    /** The swap: DJL's attention block, or FlashAttentionBlock built with the same calls. */
    static Block attention(BertOptions o) {
        if (o.attention == BertOptions.Attention.DJL) {
            return ScaledDotProductAttentionBlock.builder()
                    .setEmbeddingSize(o.embedding)
                    .setHeadCount(o.heads)
                    .optAttentionProbsDropoutProb(o.dropout)
                    .build();
        }
        return FlashAttentionBlock.builder()
                .setEmbeddingSize(o.embedding)
                .setHeadCount(o.heads)
                .optAttentionProbsDropoutProb(o.dropout)
                .optPrecision(o.precision)
                .build();
    }

    /** One optimisation step through the flash-aware collector (DJL's block is differentiated by the engine). */
    static double trainStep(Trainer trainer, MlmTask.Batch b) {
        NDArray loss;
        try (GradientCollector collector = FlashTraining.newGradientCollector()) {
            NDList predictions = trainer.forward(new NDList(b.inputs(), b.attentionMask()));
            loss = trainer.getLoss().evaluate(new NDList(b.targets(), b.lossMask()), predictions);
            collector.backward(loss);
        }
        trainer.step();
        return loss.getFloat();
    }

    /** Validation loss and masked-token accuracy over a few batches, in inference mode. */
    private static double[] evaluate(Trainer trainer, MlmTask task, BertOptions o, Random random) {
        double loss = 0;
        double correct = 0;
        double counted = 0;
        int batches = 4;
        for (int i = 0; i < batches; i++) {
            try (NDManager scope = trainer.getManager().newSubManager();
                    MlmTask.Batch b = task.validation(scope, o.batch, o.sequence, o.padding, o.maskRate, random)) {
                NDList predictions = trainer.evaluate(new NDList(b.inputs(), b.attentionMask()));
                loss += trainer.getLoss()
                        .evaluate(new NDList(b.targets(), b.lossMask()), predictions)
                        .getFloat();
                NDArray hits = predictions
                        .head()
                        .argMax(-1)
                        .toType(DataType.FLOAT32, false)
                        .eq(b.targets())
                        .toType(DataType.FLOAT32, false)
                        .mul(b.lossMask());
                correct += hits.sum().getFloat();
                counted += b.lossMask().sum().getFloat();
            }
        }
        return new double[] {loss / batches, correct / counted};
    }

    private static Device device(String wanted) {
        boolean gpu = Engine.getInstance().getGpuCount() > 0;
        if ("gpu".equals(wanted) && !gpu) {
            throw new IllegalArgumentException("--device gpu: DJL's engine sees no GPU");
        }
        return "cpu".equals(wanted) || !gpu ? Device.cpu() : Device.gpu();
    }
}
