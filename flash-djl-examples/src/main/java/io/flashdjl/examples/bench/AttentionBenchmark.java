package io.flashdjl.examples.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The attention benchmark: flash-djl's CUDA backend against PyTorch's SDPA kernels (each forced in
 * turn, and PyTorch's own choice), naive attention in DJL ops and the REFERENCE backend, forward,
 * backward and both, on the grids of {@link Grids}; writes {@code report.md}, {@code results.csv}
 * and PNG charts into the output folder.
 *
 * <pre>
 * java -cp CLASSPATH io.flashdjl.examples.bench.AttentionBenchmark --grid all --out runs/bench
 * </pre>
 *
 * Run with {@code --help} for the options.
 */
public final class AttentionBenchmark {

    static final String USAGE = String.join("\n",
            "usage: AttentionBenchmark [options]",
            "  --grid LIST       comma-separated: fa3, memory, gqa, latency, cpu-smoke, or all",
            "                    (default: all on a GPU, cpu-smoke on a CPU)",
            "  --backends LIST   comma-separated: " + String.join(", ", Impl.all().keySet()) + ", or all (default all)",
            "  --repeats N       most timed calls per measurement, N >= 1 (default 20 on a GPU, 3 on a CPU);",
            "                    fewer (at least min(3, N)) where one call is long: about --target-ms of timed work",
            "  --warmup N        untimed calls first, N >= 1 (default 3 on a GPU, 1 on a CPU)",
            "  --target-ms X     timed work aimed at per measurement (default 200)",
            "  --out DIR         output folder (default runs/bench-<date-time>)",
            "  --device D        auto, gpu or cpu (default auto: the GPU when DJL sees one)",
            "  --allocator A     async (default): PyTorch allocates through cudaMallocAsync so that the",
            "                    driver can measure each call's peak memory; default: PyTorch's caching",
            "                    allocator, memory not measured",
            "  --help            this text");

    /** The parsed command line. */
    record Args(List<String> grids, List<String> backends, int repeats, int warmup, double targetMs, Path out,
            String device, boolean asyncAllocator) {}

    private AttentionBenchmark() {}

    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        System.exit(code);
    }

    /**
     * Runs the benchmark; returns the process exit code (0 on success, 2 on bad arguments).
     */
    static int run(String[] argv, PrintStream out, PrintStream err) {
        Args args;
        try {
            args = parse(argv);
        } catch (IllegalArgumentException e) {
            err.println("AttentionBenchmark: " + e.getMessage());
            err.println(USAGE);
            return 2;
        }
        if (args == null) {
            out.println(USAGE);
            return 0;
        }
        String allocator = null;
        if (args.asyncAllocator() && !args.device().equals("cpu")) {
            allocator = DeviceMemory.requestAsyncAllocator(); // before libtorch loads
        }
        Engine engine = Engine.getEngine("PyTorch");
        boolean gpu = args.device().equals("gpu") || (args.device().equals("auto") && engine.getGpuCount() > 0);
        if (gpu && engine.getGpuCount() == 0) {
            err.println("AttentionBenchmark: --device gpu, but DJL's PyTorch engine sees no GPU");
            return 2;
        }
        Device device = gpu ? Device.gpu() : Device.cpu();
        List<String> grids = args.grids().isEmpty() ? List.of(gpu ? "all" : "cpu-smoke") : args.grids();
        grids = expand(grids);
        int repeats = args.repeats() > 0 ? args.repeats() : gpu ? 20 : 3;
        // TorchScript's profiling executor optimises a module after its first runs: 3 warm-ups on a GPU
        int warmup = args.warmup() > 0 ? args.warmup() : gpu ? 3 : 1;
        Path outDir = args.out() != null ? args.out()
                : Paths.get("runs", "bench-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));

        DeviceClock clock;
        DeviceMemory memory;
        if (gpu) {
            DeviceClock.Gpu g = new DeviceClock.Gpu(device.getDeviceId());
            clock = g;
            memory = DeviceMemory.open(device, clock);
        } else {
            clock = new DeviceClock.Cpu();
            memory = DeviceMemory.none("CPU run: device memory is measured on CUDA GPUs only");
        }
        DataType dtype = gpu ? DataType.FLOAT16 : DataType.FLOAT32;
        RunInfo info = RunInfo.collect(argv, device, clock, dtype, allocator, memory, repeats, warmup, args.targetMs());
        out.println("AttentionBenchmark: " + info.oneLine());
        Map<String, Impl> all = Impl.all();
        List<Impl> impls = new ArrayList<>();
        for (String b : args.backends().isEmpty() ? List.of("all") : args.backends()) {
            if (b.equals("all")) {
                impls.addAll(all.values());
            } else {
                impls.add(all.get(b));
            }
        }
        Runner runner = new Runner(device, dtype, clock, memory, repeats, warmup, args.targetMs(), out);
        List<Result> results = new ArrayList<>();
        long t0 = System.nanoTime();
        for (String grid : grids) {
            out.println("== grid " + grid + ": " + Grids.describe(grid));
            for (BenchCase c : Grids.of(grid)) {
                results.addAll(runner.runCase(c, new ArrayList<>(new LinkedHashSet<>(impls))));
            }
        }
        info.seconds = (System.nanoTime() - t0) / 1e9;
        try {
            List<Path> written = Report.write(outDir, info, grids, new ArrayList<>(new LinkedHashSet<>(impls)), results);
            out.printf(Locale.ROOT, "AttentionBenchmark: %d rows in %.1f s; wrote %d files to %s%n", results.size(),
                    info.seconds, written.size(), outDir.toAbsolutePath());
        } catch (IOException e) {
            err.println("AttentionBenchmark: cannot write the report to " + outDir + ": " + e);
            return 1;
        }
        return 0;
    }

    private static List<String> expand(List<String> grids) {
        List<String> list = new ArrayList<>();
        for (String g : grids) {
            if (g.equals("all")) {
                list.addAll(List.of("latency", "fa3", "gqa", "memory"));
            } else {
                list.add(g);
            }
        }
        return new ArrayList<>(new LinkedHashSet<>(list));
    }

    /**
     * Parses the command line.
     *
     * @return null for --help
     * @throws IllegalArgumentException saying what is wrong
     */
    static Args parse(String[] argv) {
        List<String> grids = new ArrayList<>();
        List<String> backends = new ArrayList<>();
        int repeats = 0;
        int warmup = 0;
        double targetMs = 200;
        Path out = null;
        String device = "auto";
        boolean async = true;
        Set<String> known = Impl.all().keySet();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (a.equals("--help") || a.equals("-h")) {
                return null;
            }
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument '" + a + "'");
            }
            String key = a;
            String value;
            int eq = a.indexOf('=');
            if (eq > 0) {
                key = a.substring(0, eq);
                value = a.substring(eq + 1);
            } else {
                if (i + 1 >= argv.length) {
                    throw new IllegalArgumentException(a + " needs a value");
                }
                value = argv[++i];
            }
            switch (key) {
                case "--grid":
                    for (String g : list(value)) {
                        if (!g.equals("all") && !Grids.NAMES.contains(g)) {
                            throw new IllegalArgumentException("unknown grid '" + g + "' (expected one of "
                                    + String.join(", ", Grids.NAMES) + ", all)");
                        }
                        grids.add(g);
                    }
                    break;
                case "--backends":
                    for (String b : list(value)) {
                        if (!b.equals("all") && !known.contains(b)) {
                            throw new IllegalArgumentException("unknown backend '" + b + "' (expected one of "
                                    + String.join(", ", known) + ", all)");
                        }
                        backends.add(b);
                    }
                    break;
                case "--repeats":
                    repeats = positive(key, value);
                    break;
                case "--warmup":
                    warmup = positive(key, value);
                    break;
                case "--target-ms":
                    try {
                        targetMs = Double.parseDouble(value);
                    } catch (NumberFormatException e) {
                        targetMs = -1;
                    }
                    if (!(targetMs > 0)) {
                        throw new IllegalArgumentException("--target-ms: expected a positive number but got '" + value + "'");
                    }
                    break;
                case "--out":
                    out = Paths.get(value);
                    break;
                case "--device":
                    if (!List.of("auto", "gpu", "cpu").contains(value)) {
                        throw new IllegalArgumentException("--device: expected auto, gpu or cpu but got '" + value + "'");
                    }
                    device = value;
                    break;
                case "--allocator":
                    if (!List.of("async", "default").contains(value)) {
                        throw new IllegalArgumentException("--allocator: expected async or default but got '" + value + "'");
                    }
                    async = value.equals("async");
                    break;
                default:
                    throw new IllegalArgumentException("unknown option '" + key + "'");
            }
        }
        return new Args(grids, backends, repeats, warmup, targetMs, out, device, async);
    }

    private static List<String> list(String value) {
        List<String> items = new ArrayList<>();
        for (String s : value.split(",")) {
            if (!s.isBlank()) {
                items.add(s.trim().toLowerCase(Locale.ROOT));
            }
        }
        if (items.isEmpty()) {
            throw new IllegalArgumentException("empty list '" + value + "'");
        }
        return items;
    }

    private static int positive(String key, String value) {
        try {
            int n = Integer.parseInt(value);
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException(key + ": expected a whole number >= 1 but got '" + value + "'");
    }

    /** Runs the cases: input sets, warm-up, timed repeats, failures recorded. */
    static final class Runner {
        private final Device device;
        private final DataType dtype;
        private final DeviceClock clock;
        private final DeviceMemory memory;
        private final int maxRepeats;
        private final int warmup;
        private final double targetMs;
        private final PrintStream out;
        /** (series, implementation, direction) that ran out of memory: larger N is skipped. */
        private final Set<String> outOfMemory = new HashSet<>();
        private long lastPeak;

        Runner(Device device, DataType dtype, DeviceClock clock, DeviceMemory memory, int maxRepeats, int warmup,
                double targetMs, PrintStream out) {
            this.device = device;
            this.dtype = dtype;
            this.clock = clock;
            this.memory = memory;
            this.maxRepeats = maxRepeats;
            this.warmup = warmup;
            this.targetMs = targetMs;
            this.out = out;
        }

        List<Result> runCase(BenchCase c, List<Impl> impls) {
            List<Result> results = new ArrayList<>();
            try (NDManager manager = NDManager.newBaseManager(device)) {
                List<Impl.Inputs> sets;
                try {
                    sets = inputs(c, manager);
                } catch (RuntimeException e) {
                    String status = classify(e);
                    status = status.equals("OOM") ? "OOM" : status;
                    for (Impl impl : impls) {
                        for (Direction dir : Direction.values()) {
                            results.add(report(Result.notRun(c, impl.name, dir, status + " (allocating the inputs)")));
                        }
                    }
                    return results;
                }
                for (Impl impl : impls) {
                    Optional<String> why;
                    try {
                        why = impl.notRun(c, device);
                    } catch (RuntimeException e) {
                        why = Optional.of(classify(e));
                    }
                    for (Direction dir : Direction.values()) {
                        String key = c.series() + "|" + impl.name + "|" + dir;
                        if (why.isPresent()) {
                            results.add(report(Result.notRun(c, impl.name, dir, why.get())));
                        } else if (outOfMemory.contains(key)) {
                            results.add(report(Result.notRun(c, impl.name, dir, "skipped: OOM at a smaller N")));
                        } else {
                            Result r = measure(c, impl, dir, sets);
                            if (r.status().equals("OOM")) {
                                outOfMemory.add(key);
                            }
                            results.add(report(r));
                        }
                    }
                    impl.endCase();
                }
            }
            return results;
        }

        private Result report(Result r) {
            if (r.ok()) {
                out.printf(Locale.ROOT, "%-60s %-15s %-8s %10.3f ms %8.3g TFLOP/s%s%n", r.c(), r.impl(), r.dir().label,
                        r.medianMs(), r.tflops(), r.peakBytes() >= 0 ? String.format(Locale.ROOT, " %10.1f MiB",
                                r.peakBytes() / 1048576.0) : "");
            } else {
                out.printf(Locale.ROOT, "%-60s %-15s %-8s %s%n", r.c(), r.impl(), r.dir().label, r.status());
            }
            return r;
        }

        /**
         * Input sets to rotate among: enough that together they exceed the GPU's L2 cache several
         * times over (at least 256 MiB, 2 to 8 sets), so no implementation finds its inputs cached.
         */
        private List<Impl.Inputs> inputs(BenchCase c, NDManager m) {
            long elems = 2L * c.b() * c.hq() * c.nq() * c.d() + 2L * c.b() * c.hkv() * c.nk() * c.d();
            long bytes = elems * dtype.getNumOfBytes();
            int count = device.isGpu() ? (int) Math.max(2, Math.min(8, ((256L << 20) + bytes - 1) / bytes)) : 2;
            List<Impl.Inputs> sets = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                sets.add(new Impl.Inputs(random(m, new Shape(c.b(), c.hq(), c.nq(), c.d())),
                        random(m, new Shape(c.b(), c.hkv(), c.nk(), c.d())),
                        random(m, new Shape(c.b(), c.hkv(), c.nk(), c.d())),
                        random(m, new Shape(c.b(), c.hq(), c.nq(), c.d()))));
            }
            return sets;
        }

        private NDArray random(NDManager m, Shape shape) {
            NDArray f = m.randomNormal(shape);
            if (dtype == DataType.FLOAT32) {
                return f;
            }
            NDArray t = f.toType(dtype, false);
            f.close();
            return t;
        }

        private Result measure(BenchCase c, Impl impl, Direction dir, List<Impl.Inputs> sets) {
            int next = 0;
            try {
                double warm = Double.MAX_VALUE;
                for (int w = 0; w < warmup; w++) {
                    double t = call(c, impl, dir, sets.get(next++ % sets.size()));
                    warm = Math.min(warm, t);
                    if (t > 1000) {
                        break;
                    }
                }
                int minRepeats = Math.min(3, maxRepeats);
                int repeats = (int) Math.max(minRepeats, Math.min(maxRepeats, Math.ceil(targetMs / Math.max(warm, 1e-3))));
                double[] t = new double[repeats];
                long peak = -1;
                for (int r = 0; r < repeats; r++) {
                    t[r] = call(c, impl, dir, sets.get(next++ % sets.size()));
                    peak = Math.max(peak, lastPeak);
                }
                Arrays.sort(t);
                double median = repeats % 2 == 1 ? t[repeats / 2] : (t[repeats / 2 - 1] + t[repeats / 2]) / 2;
                return new Result(c, impl.name, dir, "ok", sets.size(), repeats, median, t[0], t[repeats - 1], peak);
            } catch (RuntimeException e) {
                return Result.notRun(c, impl.name, dir, classify(e));
            } finally {
                JniUtils.setGradMode(false);
            }
        }

        /** One call in its own scope (its results freed after): returns its time in ms. */
        private double call(BenchCase c, Impl impl, Direction dir, Impl.Inputs in) {
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                Object state = null;
                if (dir == Direction.BWD) {
                    state = forwardForBackward(c, impl, in);
                }
                clock.sync();
                memory.reset();
                clock.start();
                switch (dir) {
                    case FWD:
                        impl.forward(c, in);
                        break;
                    case BWD:
                        impl.backward(c, in, state);
                        break;
                    default:
                        impl.backward(c, in, forwardForBackward(c, impl, in));
                }
                double ms = clock.stopMs();
                clock.sync();
                lastPeak = memory.peakExtra();
                return ms;
            }
        }

        private static Object forwardForBackward(BenchCase c, Impl impl, Impl.Inputs in) {
            JniUtils.setGradMode(true);
            try {
                return impl.forwardForBackward(c, in);
            } finally {
                JniUtils.setGradMode(false);
            }
        }

        /** "OOM", or a status with the first line of the message. */
        static String classify(Throwable e) {
            StringBuilder all = new StringBuilder();
            for (Throwable t = e; t != null; t = t.getCause()) {
                all.append(t.getMessage()).append('\n');
            }
            String text = all.toString();
            if (text.toLowerCase(Locale.ROOT).contains("out of memory")) {
                return "OOM";
            }
            String first = firstLine(e.getMessage());
            if (e instanceof UnsupportedOperationException || text.contains("Could not run")
                    || text.contains("No available kernel") || text.contains("does not support")
                    || text.contains("only supports")) {
                return "unsupported: " + first;
            }
            return "error: " + e.getClass().getSimpleName() + ": " + first;
        }

        static String firstLine(String s) {
            if (s == null) {
                return "";
            }
            String line = s.strip().split("\n", 2)[0];
            // libtorch's TorchScript errors start with a generic line; the cause follows "RuntimeError:"
            int at = s.lastIndexOf("Error: ");
            if (line.startsWith("The following operation failed") && at >= 0) {
                line = s.substring(at + 7).strip().split("\n", 2)[0];
            }
            return line.length() > 300 ? line.substring(0, 300) + "..." : line;
        }
    }
}
