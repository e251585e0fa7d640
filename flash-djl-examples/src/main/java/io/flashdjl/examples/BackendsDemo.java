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
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Runs one causal grouped-query attention problem through every available backend and prints how
 * far each one's output and gradients are from the REFERENCE backend's, and how long each took.
 *
 * <pre>
 * mvn -q -B install -DskipTests && mvn -q -B -pl flash-djl-examples exec:java
 * mvn -q -B -pl flash-djl-examples exec:java -Dexec.args="--batch 2 --heads 8 --kv-heads 2 --seq 512 --dim 64 --dtype float16"
 * </pre>
 */
public final class BackendsDemo {

    private BackendsDemo() {}

    public static void main(String[] args) {
        DemoArgs a = DemoArgs.parse(args);
        Device device = a.gpu && Engine.getInstance().getGpuCount() > 0 ? Device.gpu() : Device.cpu();
        System.out.printf(Locale.ROOT, "flash-djl backends demo on %s (%s %s): B=%d Hq=%d Hkv=%d N=%d D=%d %s, causal%n",
                device, Engine.getInstance().getEngineName(), Engine.getInstance().getVersion(),
                a.batch, a.heads, a.kvHeads, a.seq, a.dim, a.dtype);
        try (NDManager manager = NDManager.newBaseManager(device)) {
            NDArray q = manager.randomNormal(new Shape(a.batch, a.heads, a.seq, a.dim)).toType(a.dtype, false);
            NDArray k = manager.randomNormal(new Shape(a.batch, a.kvHeads, a.seq, a.dim)).toType(a.dtype, false);
            NDArray v = manager.randomNormal(new Shape(a.batch, a.kvHeads, a.seq, a.dim)).toType(a.dtype, false);
            NDArray dOut = manager.randomNormal(new Shape(a.batch, a.heads, a.seq, a.dim)).toType(a.dtype, false);

            List<Row> rows = new ArrayList<>();
            Row reference = null;
            for (Backend backend : new Backend[] {Backend.REFERENCE, Backend.SDPA, Backend.CUDA}) {
                Optional<String> why = FlashAttention.unavailableReason(backend);
                if (why.isPresent()) {
                    System.out.printf(Locale.ROOT, "%-9s not run: %s%n", backend, why.get());
                    continue;
                }
                AttentionOptions opts = AttentionOptions.builder().optCausal(true).optBackend(backend).build();
                try {
                    Row row = Row.measure(backend, q, k, v, dOut, opts, a.repeats);
                    rows.add(row);
                    if (reference == null) {
                        reference = row;
                    }
                } catch (UnsupportedOperationException e) {
                    System.out.printf(Locale.ROOT, "%-9s not run: %s%n", backend, e.getMessage());
                }
            }
            System.out.println();
            System.out.println("| backend | forward ms | backward ms | max abs diff O | dq | dk | dv |");
            System.out.println("| --- | --- | --- | --- | --- | --- | --- |");
            for (Row r : rows) {
                System.out.printf(Locale.ROOT, "| %s | %.2f | %.2f | %.2e | %.2e | %.2e | %.2e |%n", r.backend,
                        r.forwardMs, r.backwardMs, diff(r.result.output(), reference.result.output()),
                        diff(r.grads.dq(), reference.grads.dq()), diff(r.grads.dk(), reference.grads.dk()),
                        diff(r.grads.dv(), reference.grads.dv()));
            }
            System.out.println("(diffs against the first backend listed; times: median of " + a.repeats + " runs after one warm-up, wall clock, synchronised)");
        }
    }

    private static double diff(NDArray a, NDArray b) {
        return a.toType(DataType.FLOAT64, false).sub(b.toType(DataType.FLOAT64, false)).abs().max().getDouble();
    }

    /** One backend's results and median times. */
    private static final class Row {
        final Backend backend;
        final AttentionResult result;
        final AttentionGradients grads;
        final double forwardMs;
        final double backwardMs;

        private Row(Backend backend, AttentionResult result, AttentionGradients grads, double forwardMs, double backwardMs) {
            this.backend = backend;
            this.result = result;
            this.grads = grads;
            this.forwardMs = forwardMs;
            this.backwardMs = backwardMs;
        }

        static Row measure(Backend backend, NDArray q, NDArray k, NDArray v, NDArray dOut, AttentionOptions opts,
                int repeats) {
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

    /** Command-line options; unknown ones print the usage. */
    private static final class DemoArgs {
        long batch = 2;
        long heads = 8;
        long kvHeads = 2;
        long seq = 384;
        long dim = 64;
        DataType dtype = DataType.FLOAT32;
        int repeats = 5;
        boolean gpu = true;

        static DemoArgs parse(String[] args) {
            DemoArgs a = new DemoArgs();
            for (int i = 0; i < args.length; i++) {
                String name = args[i];
                if (name.equals("--cpu")) {
                    a.gpu = false;
                    continue;
                }
                if (i + 1 >= args.length) {
                    throw usage("missing value for " + name);
                }
                String value = args[++i];
                try {
                    switch (name) {
                        case "--batch": a.batch = Long.parseLong(value); break;
                        case "--heads": a.heads = Long.parseLong(value); break;
                        case "--kv-heads": a.kvHeads = Long.parseLong(value); break;
                        case "--seq": a.seq = Long.parseLong(value); break;
                        case "--dim": a.dim = Long.parseLong(value); break;
                        case "--repeats": a.repeats = Integer.parseInt(value); break;
                        case "--dtype": a.dtype = dtype(value); break;
                        default: throw usage("unknown option " + name);
                    }
                } catch (NumberFormatException e) {
                    throw usage(name + " expects a whole number but got '" + value + "'");
                }
            }
            return a;
        }

        private static DataType dtype(String v) {
            switch (v) {
                case "float16": return DataType.FLOAT16;
                case "float32": return DataType.FLOAT32;
                case "float64": return DataType.FLOAT64;
                default: throw usage("--dtype expects float16, float32 or float64 but got '" + v + "'");
            }
        }

        private static IllegalArgumentException usage(String problem) {
            return new IllegalArgumentException(problem + "\nusage: BackendsDemo [--batch B] [--heads H] [--kv-heads H]"
                    + " [--seq N] [--dim D] [--dtype float16|float32|float64] [--repeats R] [--cpu]");
        }
    }
}
