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
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.optimizer.Adam;
import ai.djl.util.Pair;
import io.flashdjl.Precision;
import io.flashdjl.examples.chart.ChartAttempt;
import io.flashdjl.examples.cli.CommandLine;
import io.flashdjl.examples.text.MaskedTokenLoss;
import io.flashdjl.spi.OwnedScalar;
import io.flashdjl.training.FlashTraining;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
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
        Device[] devices = devices(o.device, o.devices);
        Device device = devices[0];
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
                devices.length == 1 ? device : Arrays.toString(devices) + " (data-parallel)",
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
                    .optOptimizer(new PerDeviceOptimizer(
                            () -> Adam.builder().optLearningRateTracker(lr).build()))
                    .optDevices(devices);
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
                        loss = trainStep(trainer, gpt, b, o.clip);
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

    /**
     * One optimisation step through the flash-aware collector; returns the loss. With several devices the batch
     * is split evenly, each part's loss weighted by its share of the counted tokens, so that the gradients DJL
     * sums over the devices are those of the whole batch on one device. Every part's work is queued before any
     * result is read, so the devices compute side by side.
     */
    static double trainStep(Trainer trainer, GptModel gpt, TokenBatch b, float clip) {
        Device[] devices = trainer.getDevices();
        int n = devices.length;
        NDList inputs = n == 1 ? new NDList(b.inputs) : b.inputs.split(n);
        NDList targets = n == 1 ? new NDList(b.targets) : b.targets.split(n);
        NDList masks = n == 1 ? new NDList(b.mask) : b.mask.split(n);
        double[] weights = new double[n];
        double counted = b.countedTokens();
        for (int i = 0; i < n; i++) {
            weights[i] = n == 1 ? 1 : masks.get(i).sum().getFloat() / counted;
        }
        NDArray[] losses = new NDArray[n];
        try (GradientCollector collector = FlashTraining.newGradientCollector()) {
            for (int i = 0; i < n; i++) {
                Device d = devices[i];
                NDList predictions = trainer.forward(new NDList(inputs.get(i).toDevice(d, false)));
                NDList labels = new NDList(
                        targets.get(i).toDevice(d, false), masks.get(i).toDevice(d, false));
                NDArray loss = trainer.getLoss().evaluate(labels, predictions);
                // a float32 weight: a Java number (0-d float64) would make the 0-d loss float64
                losses[i] = n == 1
                        ? loss
                        : loss.mul(OwnedScalar.like(loss, weights[i]).toType(loss.getDataType(), false));
                collector.backward(losses[i]);
            }
        }
        double loss = 0;
        for (NDArray l : losses) {
            loss += l.getFloat();
        }
        clipGlobalNorm(trainer, gpt.trainingStore(), clip);
        trainer.step();
        return loss;
    }

    /**
     * Scales every gradient so that their joint L2 norm is at most {@code maxNorm}: the norm of the gradient DJL
     * will apply, the sum of each parameter's replicas over the trainer's devices. The squares are summed on the
     * first device and read back once: a read per parameter would wait for the device once per parameter.
     */
    static void clipGlobalNorm(Trainer trainer, ParameterStore store, float maxNorm) {
        Device[] devices = trainer.getDevices();
        double sum = 0;
        try (NDScope scope = new NDScope()) { // the temporaries live in the gradients' managers: free them here
            scope.suppressNotUsedWarning();
            NDArray squares = null;
            for (Pair<String, Parameter> p : trainer.getModel().getBlock().getParameters()) {
                NDArray g = null;
                for (Device d : devices) {
                    NDArray w = store.getValue(p.getValue(), d, true);
                    if (w.hasGradient()) {
                        NDArray part = w.getGradient().toDevice(devices[0], false);
                        g = g == null ? part : g.add(part);
                    }
                }
                if (g != null) {
                    NDArray s = g.square().sum();
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
                for (Device d : devices) {
                    NDArray w = store.getValue(p.getValue(), d, true);
                    if (w.hasGradient()) {
                        NDArray gradient = w.getGradient();
                        // the factor on the replica's device (its manager may be the first device's)
                        gradient.muli(OwnedScalar.like(gradient, factor));
                    }
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

    /** The training devices: gpu(0) .. gpu(count-1), or the CPU when asked or when DJL sees no GPU. */
    private static Device[] devices(String wanted, int count) {
        int gpus = Engine.getInstance().getGpuCount();
        if ("gpu".equals(wanted) && gpus == 0) {
            throw new IllegalArgumentException("--device gpu: DJL's engine sees no GPU");
        }
        if (count > 1 && gpus < count) {
            throw new IllegalArgumentException("--devices " + count + ": DJL's engine sees " + gpus + " GPU(s)");
        }
        if ("cpu".equals(wanted) || gpus == 0) {
            return new Device[] {Device.cpu()};
        }
        Device[] devices = new Device[count];
        for (int i = 0; i < count; i++) {
            devices[i] = Device.gpu(i);
        }
        return devices;
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
