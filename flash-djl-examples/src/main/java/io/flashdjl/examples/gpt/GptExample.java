package io.flashdjl.examples.gpt;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.optimizer.Adam;
import ai.djl.util.Pair;
import io.flashdjl.Precision;
import io.flashdjl.examples.chart.ChartAttempt;
import io.flashdjl.examples.cli.CommandLine;
import io.flashdjl.training.FlashTraining;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.Random;

/**
 * Trains a small decoder-only GPT whose attention is flash-djl's causal FlashAttentionBlock, on
 * multi-digit addition (checked exactly on held-out sums) or on any UTF-8 text file (character
 * level, with samples). Adam with linear warm-up then cosine decay, global-norm gradient clipping,
 * periodic evaluation, a metrics CSV, a loss-curve PNG and DJL checkpoints.
 *
 * <pre>
 * mvn -q -B install -DskipTests && mvn -q -B -pl flash-djl-examples exec:java            # addition, CPU
 * ... exec:java -Dexec.args="--text README.md --steps 300"                             # a text file
 * ... exec:java -Dexec.args="--help"                                                    # the options
 * </pre>
 */
public final class GptExample {

    private GptExample() {}

    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    /**
     * Runs the example as the command line says: prints the help, or explains a bad option or input
     * in one line.
     *
     * @return the exit code: 0, or {@link CommandLine#BAD_USAGE}
     */
    static int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine.Invocation<GptOptions> call = GptOptions.COMMAND_LINE.read(args, GptOptions::from, out, err);
        if (!call.proceed()) {
            return call.exitCode();
        }
        try {
            train(call.options(), out);
            return 0;
        } catch (IllegalArgumentException e) {
            err.println("GptExample: " + e.getMessage());
            return CommandLine.BAD_USAGE;
        }
    }

    /** Trains as the options say; returns the final task score (NaN for text). */
    static double train(GptOptions o, PrintStream out) {
        Device device = device(o.device);
        TokenTask task =
                o.text == null ? new AdditionTask(o.digits, o.heldOut, o.seed) : TextTask.read(o.text, o.context);
        int context = task.sequenceLength();
        Precision precision = o.precisionOn(device);
        GptModel gpt = new GptModel(
                task.vocabularySize(), context, o.embedding, o.layers, i -> DecoderLayers.create(o, precision));
        Engine.getInstance().setRandomSeed((int) o.seed);
        Properties description = describe(o, task);
        Path checkpoint = o.resume == null ? null : Checkpoints.locate(o.resume);
        Checkpoints.Progress from = new Checkpoints.Progress(0, Double.NaN, new Random(o.seed));
        if (checkpoint != null) { // refused before anything is written
            Checkpoints.check(description, checkpoint);
            from = Checkpoints.progress(checkpoint);
            if (from.step() >= o.steps) {
                throw new IllegalArgumentException("--resume: the checkpoint in " + checkpoint + " has done "
                        + from.step() + " steps and --steps is " + o.steps + ": ask for more --steps to continue");
            }
        }
        Random random = from.random();
        out.printf(
                Locale.ROOT,
                "GPT on %s: %s; %d layers, embedding %d, %d heads (%d kv), context %d, vocabulary %d;"
                        + " attention %s (precision %s); %d steps of %d sequences%n",
                device,
                o.text == null ? o.digits + "-digit addition" : "text " + o.text,
                o.layers,
                o.embedding,
                o.heads,
                o.kvHeads,
                context,
                task.vocabularySize(),
                o.attention.name().toLowerCase(Locale.ROOT),
                precision.name().toLowerCase(Locale.ROOT),
                o.steps,
                o.batch);

        try (Model model = Model.newInstance("gpt", device);
                MetricsLog metrics = new MetricsLog(o.out.resolve("metrics.csv"), from.step())) {
            model.setBlock(gpt);
            if (checkpoint != null) {
                Checkpoints.load(model, checkpoint); // before trainer.initialize: see Checkpoints.load
                out.println("resumed from " + checkpoint + " at step " + from.step());
            }
            LearningRateSchedule lr = new LearningRateSchedule(o, from.step());
            DefaultTrainingConfig config = new DefaultTrainingConfig(new MaskedTokenLoss())
                    .optOptimizer(Adam.builder().optLearningRateTracker(lr).build())
                    .optDevices(new Device[] {device});
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(o.batch, context));
                NDManager manager = trainer.getManager();
                GptModelRunner runner = new GptModelRunner(gpt, manager);
                ProgressBar bar = new ProgressBar(out, o.steps);
                double smoothed = from.smoothedLoss();
                List<double[]> trainCurve = new ArrayList<>(); // (step, smoothed loss), ~100 points
                int curveEvery = Math.max(1, o.steps / 100);
                long tokens = 0;
                long start = System.nanoTime();
                long trainingNanos = 0; // the training steps alone, evaluations left out
                Throughput steady = new Throughput(from.step() + WARM_UP_STEPS);
                for (int step = from.step() + 1; step <= o.steps; step++) {
                    double loss;
                    long t0 = System.nanoTime();
                    try (NDManager stepScope = manager.newSubManager();
                            TokenBatch b = task.trainingBatch(stepScope, o.batch, random)) {
                        loss = trainStep(trainer, b, o.clip);
                        tokens += (long) o.batch * context;
                    }
                    long stepNanos = System.nanoTime() - t0;
                    trainingNanos += stepNanos;
                    steady.add(step, (long) o.batch * context, stepNanos);
                    smoothed = Double.isNaN(smoothed) ? loss : 0.95 * smoothed + 0.05 * loss;
                    double tps = tokens / (trainingNanos / 1e9);
                    bar.update(step, smoothed, tps);
                    if (step % curveEvery == 0) {
                        trainCurve.add(new double[] {step, smoothed});
                    }
                    if (step % o.evalEvery == 0 || step == o.steps) {
                        bar.interrupt();
                        double validation = validationLoss(trainer, task, manager, o.batch, random);
                        String report = task.evaluate(runner, random);
                        out.printf(
                                Locale.ROOT,
                                "step %d: train loss %.4f, validation loss %.4f; %s%n",
                                step,
                                smoothed,
                                validation,
                                report);
                        metrics.add(new MetricsLog.Row(step, smoothed, validation, task.score(), tps, lr.last()));
                        Checkpoints.save(
                                model,
                                description,
                                new Checkpoints.Progress(step, smoothed, random),
                                Checkpoints.folder(o.out));
                    }
                }
                out.printf(
                        Locale.ROOT,
                        "trained %d steps in %.1f s (%.0f tokens/s in the training steps%s); outputs in %s%n",
                        o.steps - from.step(),
                        (System.nanoTime() - start) / 1e9,
                        tokens / (trainingNanos / 1e9),
                        steady.describe(),
                        o.out);
                Path chart = o.out.resolve(LossChart.FILE);
                ChartAttempt.run(chart.toString(), () -> LossChart.write(trainCurve, metrics.rows(), chart), out);
                return task.score();
            }
        }
    }

    /** Steps left out of the steady-state throughput: allocator and autotuning warm-up. */
    static final int WARM_UP_STEPS = 5;

    /** Tokens per second of the training steps after the warm-up steps. */
    static final class Throughput {
        private final int after;
        private long tokens;
        private long nanos;

        Throughput(int after) {
            this.after = after;
        }

        void add(int step, long stepTokens, long stepNanos) {
            if (step > after) {
                tokens += stepTokens;
                nanos += stepNanos;
            }
        }

        /** {@code "; N tokens/s from step S on"}, or nothing when no step came after the warm-up. */
        String describe() {
            return nanos == 0
                    ? ""
                    : String.format(Locale.ROOT, "; %.0f tokens/s from step %d on", tokens / (nanos / 1e9), after + 1);
        }
    }

    /** One optimisation step through the flash-aware collector; returns the loss. */
    static double trainStep(Trainer trainer, TokenBatch b, float clip) {
        float loss;
        try (GradientCollector collector = FlashTraining.newGradientCollector()) {
            NDList predictions = trainer.forward(new NDList(b.inputs));
            NDArray lossValue = trainer.getLoss().evaluate(new NDList(b.targets, b.mask), predictions);
            collector.backward(lossValue);
            loss = lossValue.getFloat();
        }
        clipGlobalNorm(trainer, clip);
        trainer.step();
        return loss;
    }

    /**
     * Scales every gradient so that their joint L2 norm is at most {@code maxNorm}. The squares are summed on
     * the device and read back once: a read per parameter would wait for the device once per parameter.
     */
    static void clipGlobalNorm(Trainer trainer, float maxNorm) {
        double sum = 0;
        try (NDScope scope = new NDScope()) { // the temporaries live in the gradients' manager: free them here
            scope.suppressNotUsedWarning();
            NDArray squares = null;
            for (Pair<String, Parameter> p : trainer.getModel().getBlock().getParameters()) {
                NDArray w = p.getValue().getArray();
                if (w.hasGradient()) {
                    NDArray s = w.getGradient().square().sum();
                    squares = squares == null ? s : squares.add(s);
                }
            }
            if (squares != null) {
                sum = squares.getFloat();
            }
        }
        double norm = Math.sqrt(sum);
        if (norm > maxNorm) {
            float factor = (float) (maxNorm / (norm + 1e-6));
            for (Pair<String, Parameter> p : trainer.getModel().getBlock().getParameters()) {
                NDArray w = p.getValue().getArray();
                if (w.hasGradient()) {
                    w.getGradient().muli(factor);
                }
            }
        }
    }

    private static double validationLoss(Trainer trainer, TokenTask task, NDManager manager, int batch, Random random) {
        try (NDManager scope = manager.newSubManager();
                TokenBatch b = task.validationBatch(scope, batch, random)) {
            NDList predictions = trainer.evaluate(new NDList(b.inputs));
            return trainer.getLoss()
                    .evaluate(new NDList(b.targets, b.mask), predictions)
                    .getFloat();
        }
    }

    private static Device device(String wanted) {
        int gpus = Engine.getInstance().getGpuCount();
        if ("gpu".equals(wanted) && gpus == 0) {
            throw new IllegalArgumentException("--device gpu: DJL's engine sees no GPU");
        }
        return "cpu".equals(wanted) || gpus == 0 ? Device.cpu() : Device.gpu();
    }

    /** What a checkpoint must match to be loaded into this run's model and continue its run. */
    private static Properties describe(GptOptions o, TokenTask task) {
        Properties p = new Properties();
        p.setProperty("task", o.text == null ? "addition-" + o.digits : "text");
        if (o.text == null) { // they pick the held-out sums, which the resumed training must not see either
            p.setProperty("heldOut", Integer.toString(o.heldOut));
            p.setProperty("seed", Long.toString(o.seed));
        }
        p.setProperty("vocabulary", Integer.toString(task.vocabularySize()));
        p.setProperty("context", Integer.toString(task.sequenceLength()));
        p.setProperty("layers", Integer.toString(o.layers));
        p.setProperty("embedding", Integer.toString(o.embedding));
        p.setProperty("heads", Integer.toString(o.heads));
        p.setProperty("kvHeads", Integer.toString(o.kvHeads));
        return p;
    }
}
