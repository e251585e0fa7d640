package io.flashdjl.examples;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.examples.cli.CommandLine;
import io.flashdjl.examples.cli.Values;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Runs one causal grouped-query attention problem through every available backend and prints how
 * far each one's output and gradients are from the REFERENCE backend's, and how long each took.
 *
 * <pre>
 * mvn -q -B install -DskipTests
 * mvn -q -B -pl flash-djl-examples exec:java -Dexec.mainClass=io.flashdjl.examples.BackendsDemo \
 *     -Dexec.args="--batch 2 --heads 8 --kv-heads 2 --seq 512 --dim 64 --dtype float16"   # --help: the options
 * </pre>
 */
public final class BackendsDemo {

    private BackendsDemo() {}

    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    /**
     * Runs the demo as the command line says: prints the help, or explains a bad option in one line.
     *
     * @return the exit code: 0, or {@link CommandLine#BAD_USAGE}
     */
    static int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine.Invocation<DemoArgs> call = DemoArgs.COMMAND_LINE.read(args, DemoArgs::from, out, err);
        if (!call.proceed()) {
            return call.exitCode();
        }
        DemoArgs a = call.options();
        Device device = a.gpu && Engine.getInstance().getGpuCount() > 0 ? Device.gpu() : Device.cpu();
        out.printf(
                Locale.ROOT,
                "flash-djl backends demo on %s (%s %s): B=%d Hq=%d Hkv=%d N=%d D=%d %s, causal%n",
                device,
                Engine.getInstance().getEngineName(),
                Engine.getInstance().getVersion(),
                a.batch,
                a.heads,
                a.kvHeads,
                a.seq,
                a.dim,
                a.dtype);
        try (NDManager manager = NDManager.newBaseManager(device)) {
            NDArray q = manager.randomNormal(new Shape(a.batch, a.heads, a.seq, a.dim))
                    .toType(a.dtype, false);
            NDArray k = manager.randomNormal(new Shape(a.batch, a.kvHeads, a.seq, a.dim))
                    .toType(a.dtype, false);
            NDArray v = manager.randomNormal(new Shape(a.batch, a.kvHeads, a.seq, a.dim))
                    .toType(a.dtype, false);
            NDArray dOut = manager.randomNormal(new Shape(a.batch, a.heads, a.seq, a.dim))
                    .toType(a.dtype, false);

            List<Row> rows = new ArrayList<>();
            Row reference = null;
            for (Backend backend : new Backend[] {Backend.REFERENCE, Backend.SDPA, Backend.CUDA}) {
                Optional<String> why = FlashAttention.unavailableReason(backend);
                if (why.isPresent()) {
                    out.printf(Locale.ROOT, "%-9s not run: %s%n", backend, why.get());
                    continue;
                }
                AttentionOptions opts = AttentionOptions.builder()
                        .optCausal(true)
                        .optBackend(backend)
                        .build();
                try {
                    Row row = Row.measure(backend, q, k, v, dOut, opts, a.repeats);
                    rows.add(row);
                    if (reference == null) {
                        reference = row;
                    }
                } catch (UnsupportedOperationException e) {
                    out.printf(Locale.ROOT, "%-9s not run: %s%n", backend, e.getMessage());
                }
            }
            out.println();
            out.println("| backend | forward ms | backward ms | max abs diff O | dq | dk | dv |");
            out.println("| --- | --- | --- | --- | --- | --- | --- |");
            for (Row r : rows) {
                out.printf(
                        Locale.ROOT,
                        "| %s | %.2f | %.2f | %.2e | %.2e | %.2e | %.2e |%n",
                        r.backend,
                        r.forwardMs,
                        r.backwardMs,
                        diff(r.result.output(), reference.result.output()),
                        diff(r.grads.dq(), reference.grads.dq()),
                        diff(r.grads.dk(), reference.grads.dk()),
                        diff(r.grads.dv(), reference.grads.dv()));
            }
            out.println("(diffs against the first backend listed; times: median of " + a.repeats
                    + " runs after one warm-up, wall clock, synchronised)");
        }
        return 0;
    }

    private static double diff(NDArray a, NDArray b) {
        return a.toType(DataType.FLOAT64, false)
                .sub(b.toType(DataType.FLOAT64, false))
                .abs()
                .max()
                .getDouble();
    }

    /** One backend's results and median times. */
    private static final class Row {
        final Backend backend;
        final AttentionResult result;
        final AttentionGradients grads;
        final double forwardMs;
        final double backwardMs;

        private Row(
                Backend backend,
                AttentionResult result,
                AttentionGradients grads,
                double forwardMs,
                double backwardMs) {
            this.backend = backend;
            this.result = result;
            this.grads = grads;
            this.forwardMs = forwardMs;
            this.backwardMs = backwardMs;
        }

        static Row measure(
                Backend backend, NDArray q, NDArray k, NDArray v, NDArray dOut, AttentionOptions opts, int repeats) {
            AttentionResult r = FlashAttention.forward(q, k, v, opts); // warm-up (module load, kernels)
            AttentionGradients g = FlashAttention.backward(dOut, q, k, v, r, opts);
            double[] fwd = new double[repeats];
            double[] bwd = new double[repeats];
            for (int i = 0; i < repeats; i++) {
                long t0 = System.nanoTime();
                AttentionResult ri = FlashAttention.forward(q, k, v, opts);
                ri.output().toDevice(Device.cpu(), false); // wait for the device
                long t1 = System.nanoTime();
                AttentionGradients gi = FlashAttention.backward(dOut, q, k, v, ri, opts);
                gi.dv().toDevice(Device.cpu(), false);
                long t2 = System.nanoTime();
                fwd[i] = (t1 - t0) / 1e6;
                bwd[i] = (t2 - t1) / 1e6;
                ri.close();
                gi.close();
            }
            return new Row(backend, r, g, median(fwd), median(bwd));
        }

        private static double median(double[] xs) {
            double[] s = xs.clone();
            java.util.Arrays.sort(s);
            return s[s.length / 2];
        }
    }

    /** Command-line options, declared once in {@link #COMMAND_LINE} with their defaults. */
    private static final class DemoArgs {
        static final CommandLine COMMAND_LINE = new CommandLine(
                        "BackendsDemo",
                        "Runs one causal grouped-query attention problem through every available backend and compares"
                                + " their outputs, gradients and times.")
                .option("--batch", "B", "batch size", "2")
                .option("--heads", "H", "query heads, a multiple of --kv-heads", "8")
                .option("--kv-heads", "H", "key/value heads", "2")
                .option("--seq", "N", "sequence length", "384")
                .option("--dim", "D", "head dimension", "64")
                .option("--dtype", "T", "float16, float32 or float64", "float32")
                .option("--repeats", "R", "timed runs per backend, of which the median is shown", "5")
                .flag("--cpu", "stay on the CPU even when DJL sees a GPU");

        long batch;
        long heads;
        long kvHeads;
        long seq;
        long dim;
        DataType dtype;
        int repeats;
        boolean gpu;

        static DemoArgs from(Values v) {
            DemoArgs a = new DemoArgs();
            a.batch = v.positiveInt("--batch");
            a.heads = v.positiveInt("--heads");
            a.kvHeads = v.positiveInt("--kv-heads");
            a.seq = v.positiveInt("--seq");
            a.dim = v.positiveInt("--dim");
            a.repeats = v.positiveInt("--repeats");
            a.gpu = !v.flag("--cpu");
            switch (v.choice("--dtype", List.of("float16", "float32", "float64"))) {
                case "float16":
                    a.dtype = DataType.FLOAT16;
                    break;
                case "float64":
                    a.dtype = DataType.FLOAT64;
                    break;
                default:
                    a.dtype = DataType.FLOAT32;
            }
            if (a.heads % a.kvHeads != 0) {
                throw new IllegalArgumentException(
                        "--heads " + a.heads + " must be a multiple of --kv-heads " + a.kvHeads);
            }
            return a;
        }
    }
}
