package io.flashdjl.examples.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import io.flashdjl.Precision;
import io.flashdjl.cuda.KernelTimer;
import io.flashdjl.examples.cli.CommandLine;
import io.flashdjl.examples.cli.Values;
import java.io.IOException;
import java.io.PrintStream;
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
 * Run with {@code --help} for the options and their defaults.
 */
public final class AttentionBenchmark {

    static final CommandLine COMMAND_LINE = new CommandLine(
                    "AttentionBenchmark",
                    "Times attention forward, backward and both: flash-djl's backends against PyTorch's SDPA kernels"
                            + " and naive attention; writes report.md, results.csv and PNG charts.")
            .optionWithComputedDefault(
                    "--grid",
                    "LIST",
                    "comma-separated: " + String.join(", ", Grids.NAMES) + ", or all",
                    "all on a GPU, cpu-smoke on a CPU")
            .option(
                    "--backends",
                    "LIST",
                    "comma-separated: " + String.join(", ", Impl.all().keySet()) + ", or all",
                    "all")
            .optionWithComputedDefault(
                    "--repeats",
                    "N",
                    "most timed calls per measurement; fewer (at least"
                            + " min(3, N)) where one call is long: about --target-ms of timed work",
                    "20 on a GPU, 3 on a CPU")
            .optionWithComputedDefault("--warmup", "N", "untimed calls first", "3 on a GPU, 1 on a CPU")
            .option("--target-ms", "X", "timed work aimed at per measurement, in ms", "200")
            .optionWithComputedDefault("--out", "DIR", "output folder", "runs/bench-<date-time>")
            .option("--device", "D", "auto, gpu or cpu; auto: the GPU when DJL sees one", "auto")
            .optionWithComputedDefault(
                    "--dtype",
                    "T",
                    "float16 or float32: the data type of q, k, v",
                    "float16 on a GPU, float32 on a CPU")
            .option(
                    "--precision",
                    "P",
                    "full or bfloat16: the precision option of flash-djl's backends; bfloat16 (float32 data only)"
                            + " also casts q, k, v to bfloat16 inside the SDPA kernels' modules and back after,"
                            + " as PyTorch's autocast does",
                    "full")
            .option(
                    "--allocator",
                    "A",
                    "async: PyTorch allocates through cudaMallocAsync so that the driver can"
                            + " measure each call's peak memory; default: PyTorch's caching allocator, memory not measured",
                    "async");

    /** The parsed command line. */
    record Args(
            List<String> grids,
            List<String> backends,
            int repeats,
            int warmup,
            double targetMs,
            Path out,
            String device,
            DataType dtype,
            Precision precision,
            boolean asyncAllocator) {}

    private AttentionBenchmark() {}

    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        System.exit(code);
    }

    /**
     * Runs the benchmark; returns the process exit code (0 on success or after {@code --help}, 2 on bad
     * arguments, 1 when the report cannot be written).
     */
    static int run(String[] argv, PrintStream out, PrintStream err) {
        CommandLine.Invocation<Args> call = COMMAND_LINE.read(argv, AttentionBenchmark::args, out, err);
        if (!call.proceed()) {
            return call.exitCode();
        }
        Args args = call.options();
        String allocator = null;
        if (args.asyncAllocator() && !args.device().equals("cpu")) {
            allocator = DeviceMemory.requestAsyncAllocator(); // before libtorch loads
        }
        Engine engine = Engine.getEngine("PyTorch");
        boolean gpu = args.device().equals("gpu") || (args.device().equals("auto") && engine.getGpuCount() > 0);
        if (gpu && engine.getGpuCount() == 0) {
            err.println("AttentionBenchmark: --device gpu, but DJL's PyTorch engine sees no GPU");
            return CommandLine.BAD_USAGE;
        }
        Device device = gpu ? Device.gpu() : Device.cpu();
        List<String> grids = args.grids().isEmpty() ? List.of(gpu ? "all" : "cpu-smoke") : args.grids();
        grids = expand(grids);
        int repeats = args.repeats() > 0 ? args.repeats() : gpu ? 20 : 3;
        // TorchScript's profiling executor optimises a module after its first runs: 3 warm-ups on a GPU
        int warmup = args.warmup() > 0 ? args.warmup() : gpu ? 3 : 1;
        Path outDir = args.out() != null
                ? args.out()
                : Paths.get(
                        "runs", "bench-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));

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
        DataType dtype = args.dtype() != null ? args.dtype() : gpu ? DataType.FLOAT16 : DataType.FLOAT32;
        if (args.precision() == Precision.BFLOAT16 && dtype != DataType.FLOAT32) {
            err.println(
                    "AttentionBenchmark: --precision bfloat16 computes float32 data in bfloat16; add --dtype float32");
            return CommandLine.BAD_USAGE;
        }
        RunInfo info = RunInfo.collect(
                AttentionBenchmark.class.getName(),
                argv,
                device,
                clock,
                dtype,
                args.precision(),
                allocator,
                memory,
                repeats,
                warmup,
                args.targetMs());
        out.println("AttentionBenchmark: " + info.oneLine());
        Map<String, Impl> all = Impl.all(dtype, args.precision());
        List<Impl> impls = new ArrayList<>();
        for (String b : args.backends()) {
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
            List<BenchCase> cases = Grids.of(grid);
            List<Impl> distinct = new ArrayList<>(new LinkedHashSet<>(impls));
            if (!cases.isEmpty()) {
                runner.warmUp(cases.get(0), distinct);
            }
            for (BenchCase c : cases) {
                results.addAll(runner.runCase(c, distinct));
            }
        }
        info.seconds = (System.nanoTime() - t0) / 1e9;
        try {
            List<Path> written =
                    Report.write(outDir, info, grids, new ArrayList<>(new LinkedHashSet<>(impls)), results, err);
            out.printf(
                    Locale.ROOT,
                    "AttentionBenchmark: %d rows in %.1f s; wrote %d files to %s%n",
                    results.size(),
                    info.seconds,
                    written.size(),
                    outDir.toAbsolutePath());
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

    /** The benchmark's options from a parsed command line; 0 repeats or warm-ups: the device's default. */
    static Args args(Values v) {
        List<String> gridNames = new ArrayList<>(Grids.NAMES);
        gridNames.add("all");
        List<String> backendNames = new ArrayList<>(Impl.all().keySet());
        backendNames.add("all");
        return new Args(
                v.isSet("--grid") ? v.list("--grid", gridNames) : List.of(),
                v.list("--backends", backendNames),
                v.isSet("--repeats") ? v.positiveInt("--repeats") : 0,
                v.isSet("--warmup") ? v.positiveInt("--warmup") : 0,
                v.positiveNumber("--target-ms"),
                v.path("--out"),
                v.choice("--device", List.of("auto", "gpu", "cpu")),
                v.isSet("--dtype")
                        ? DataType.valueOf(v.choice("--dtype", List.of("float16", "float32"))
                                .toUpperCase(Locale.ROOT))
                        : null,
                Precision.parse(v.choice("--precision", List.of("full", "bfloat16"))),
                v.choice("--allocator", List.of("async", "default")).equals("async"));
    }

    /** Runs the cases: input sets, warm-up, timed repeats, failures recorded. */
    static final class Runner {
        /**
         * Untimed calls per implementation and direction of a grid's first case, before the grid, unless
         * {@link #GRID_WARMUP_SECONDS} run out first. The JVM compiles a call path fully (C2) only after some
         * thousands of calls: with 300 warm-up calls the first shapes of the latency grid on the H200 still ran at
         * 20-30 us of host overhead per forward call and the later ones at 11-16, within one run.
         */
        static final int GRID_WARMUP_CALLS = 15_000;
        /** Time bound of the grid warm-up per implementation (the implementations take turns). */
        static final double GRID_WARMUP_SECONDS = 6;
        /** Untimed calls of one implementation and direction before the warm-up turns to the next. */
        static final int GRID_WARMUP_ROUND = 250;
        /**
         * Side of the float32 matrix product queued before each kernel-timed call (about a millisecond on an H200,
         * longer than the host needs to submit a call): the call's launches wait behind it, so that each launch's
         * start event is not recorded on an idle GPU while the host is still submitting the kernel.
         */
        static final int BACKLOG_SIZE = 3072;

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
        /** The kernel time of the last call {@link #call} made with a {@link KernelTimer}. */
        private double lastKernelMs;

        Runner(
                Device device,
                DataType dtype,
                DeviceClock clock,
                DeviceMemory memory,
                int maxRepeats,
                int warmup,
                double targetMs,
                PrintStream out) {
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

        /**
         * Calls every implementation on a grid's first case, untimed and unreported, before the grid's timed
         * cases: otherwise the one-time costs of first calls (loading kernels, TorchScript's profiling runs, the
         * JVM compiling the call path) land on the first timed shape of the grid.
         */
        void warmUp(BenchCase c, List<Impl> impls) {
            try (NDManager manager = NDManager.newBaseManager(device)) {
                List<Impl.Inputs> sets = inputs(c, manager);
                List<Impl> runnable = new ArrayList<>();
                for (Impl impl : impls) {
                    if (impl.notRun(c, device).isEmpty()) {
                        runnable.add(impl);
                    }
                }
                // Round-robin over the implementations and directions, as the grid then measures them, so that
                // the shared call sites have seen all of them before the first measurement. Warmed one after the
                // other, the first shape of a four-implementation latency grid read 53 us of forward overhead for
                // cuda, against 13-22 us at the later shapes and in cuda-only runs.
                long end = System.nanoTime() + (long) (GRID_WARMUP_SECONDS * 1e9 * runnable.size());
                for (int done = 0; done < GRID_WARMUP_CALLS && System.nanoTime() < end; done += GRID_WARMUP_ROUND) {
                    for (Impl impl : runnable) {
                        for (Direction dir : Direction.values()) {
                            for (int w = 0; w < GRID_WARMUP_ROUND; w++) {
                                call(c, impl, dir, sets.get((done + w) % sets.size()), null);
                            }
                        }
                    }
                }
                for (Impl impl : runnable) {
                    impl.endCase();
                }
            } catch (RuntimeException e) {
                out.println("warm-up on " + c + " stopped: " + classify(e) + " (its timed run reports it)");
            } finally {
                JniUtils.setGradMode(false);
            }
        }

        private Result report(Result r) {
            if (r.ok()) {
                out.printf(
                        Locale.ROOT,
                        "%-60s %-15s %-8s %10.3f ms %8.3g TFLOP/s%s%n",
                        r.c(),
                        r.impl(),
                        r.dir().label,
                        r.medianMs(),
                        r.tflops(),
                        (r.peakBytes() >= 0 ? String.format(Locale.ROOT, " %10.1f MiB", r.peakBytes() / 1048576.0) : "")
                                + (r.kernelTimed()
                                        ? String.format(
                                                Locale.ROOT,
                                                " kernels %.3f ms, overhead %.1f us",
                                                r.kernelMs(),
                                                r.overheadUs())
                                        : ""));
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
                sets.add(new Impl.Inputs(
                        random(m, new Shape(c.b(), c.hq(), c.nq(), c.d())),
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
                    double t = call(c, impl, dir, sets.get(next++ % sets.size()), null);
                    warm = Math.min(warm, t);
                    if (t > 1000) {
                        break;
                    }
                }
                int minRepeats = Math.min(3, maxRepeats);
                int repeats =
                        (int) Math.max(minRepeats, Math.min(maxRepeats, Math.ceil(targetMs / Math.max(warm, 1e-3))));
                double[] t = new double[repeats];
                long peak = -1;
                for (int r = 0; r < repeats; r++) {
                    t[r] = call(c, impl, dir, sets.get(next++ % sets.size()), null);
                    peak = Math.max(peak, lastPeak);
                }
                double kernelMs = Double.NaN;
                if (impl.kernelTimed() && device.isGpu()) {
                    // the timer's events perturb a call: kernel times come from as many calls again
                    double[] k = new double[repeats];
                    try (KernelTimer timer = new KernelTimer();
                            NDManager queue = NDManager.newBaseManager(device)) {
                        NDArray backlog = queue.ones(new Shape(BACKLOG_SIZE, BACKLOG_SIZE));
                        for (int r = 0; r < repeats; r++) {
                            call(c, impl, dir, sets.get(next++ % sets.size()), new Timed(timer, backlog));
                            k[r] = lastKernelMs;
                        }
                    }
                    kernelMs = median(k);
                }
                double median = median(t); // sorts t
                return new Result(
                        c, impl.name, dir, "ok", sets.size(), repeats, median, t[0], t[repeats - 1], peak, kernelMs);
            } catch (RuntimeException e) {
                return Result.notRun(c, impl.name, dir, classify(e));
            } finally {
                JniUtils.setGradMode(false);
            }
        }

        /** The median of {@code v}, which it sorts. */
        static double median(double[] v) {
            Arrays.sort(v);
            int n = v.length;
            return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        }

        /** A kernel timer and the matrix whose product is queued on the GPU before each timed call. */
        private record Timed(KernelTimer timer, NDArray backlog) {}

        /**
         * One call in its own scope (its results freed after): returns its time in ms. With {@code timed}, the
         * backlog's product is queued first, the timer runs around the timed part alone and {@link #lastKernelMs}
         * gets its kernel time.
         */
        private double call(BenchCase c, Impl impl, Direction dir, Impl.Inputs in, Timed timed) {
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                Object state = null;
                if (dir == Direction.BWD) {
                    state = forwardForBackward(c, impl, in);
                }
                clock.sync();
                memory.reset();
                clock.start();
                if (timed != null) {
                    timed.backlog().matMul(timed.backlog()); // freed with the scope
                    timed.timer().start(); // after the untimed forward of BWD
                }
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
                if (timed != null) {
                    lastKernelMs = timed.timer().stop().kernelMs();
                }
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
            String first = Result.firstLine(e.getMessage());
            if (e instanceof UnsupportedOperationException
                    || text.contains("Could not run")
                    || text.contains("No available kernel")
                    || text.contains("does not support")
                    || text.contains("only supports")) {
                return "unsupported: " + first;
            }
            return "error: " + e.getClass().getSimpleName() + ": " + first;
        }
    }
}
