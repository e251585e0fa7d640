package io.flashdjl.examples.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.types.DataType;
import io.flashdjl.Precision;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** What ran where: device, driver, CUDA, torch, DJL, JVM, date, the command, the method. */
final class RunInfo {

    final Map<String, String> facts = new LinkedHashMap<>();
    final boolean gpu;
    final boolean memoryMeasured;
    double seconds;

    RunInfo(boolean gpu, boolean memoryMeasured) {
        this.gpu = gpu;
        this.memoryMeasured = memoryMeasured;
    }

    static RunInfo collect(
            String program,
            String[] argv,
            Device device,
            DeviceClock clock,
            DataType dtype,
            Precision precision,
            String allocator,
            DeviceMemory memory,
            int repeats,
            int warmup,
            double targetMs) {
        RunInfo r = new RunInfo(device.isGpu(), memory.measured());
        Map<String, String> f = r.facts;
        f.put("date", ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME));
        f.put("command", command(program, argv));
        if (clock instanceof DeviceClock.Gpu) {
            DeviceClock.Gpu g = (DeviceClock.Gpu) clock;
            f.put("device", g.name + " (compute capability " + g.capability + "), " + device);
            f.put(
                    "driver",
                    nvidiaDriver() + "; CUDA driver API " + g.driverCudaVersion / 1000 + "."
                            + (g.driverCudaVersion % 1000) / 10);
        } else {
            f.put(
                    "device",
                    "CPU: " + Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.arch"));
        }
        String[] torch = torchVersion();
        Engine engine = Engine.getEngine("PyTorch");
        f.put(
                "torch",
                (torch[0] != null ? torch[0] : engine.getVersion() + " (as DJL reports it)")
                        + (torch[1] != null ? ", CUDA " + torch[1] : ""));
        f.put(
                "DJL",
                Engine.getDjlVersion() + ", engine " + engine.getEngineName() + " " + engine.getVersion()
                        + (System.getenv("PYTORCH_LIBRARY_PATH") != null
                                ? ", libtorch from " + System.getenv("PYTORCH_LIBRARY_PATH")
                                : ""));
        f.put(
                "JVM",
                System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version") + " ("
                        + System.getProperty("java.vendor") + "), " + System.getProperty("os.name") + " "
                        + System.getProperty("os.version"));
        String name = dtype.toString().toLowerCase(Locale.ROOT);
        String dtypeFact;
        if (dtype == DataType.FLOAT16) {
            dtypeFact = "float16. Not bfloat16: DJL 0.35.1's PyTorch JNI cannot create bfloat16 arrays"
                    + " (toType(BFLOAT16) aborts the JVM), so every implementation runs float16, with float32"
                    + " accumulation where the kernel has it";
        } else if (precision == Precision.BFLOAT16) {
            dtypeFact = name + " data, precision BFLOAT16. flash-djl's backends compute bfloat16 products with"
                    + " float32 accumulation and results; the SDPA kernel modules cast q, k, v to bfloat16 and the"
                    + " output back (autocast); naive attention stays float32";
        } else {
            dtypeFact = name + " data, full precision" + (device.isGpu() ? "" : " (CPU run)");
        }
        f.put("dtype", dtypeFact);
        f.put(
                "timing",
                (r.gpu
                                ? "CUDA events (JCuda driver API) recorded on the null stream, with which"
                                        + " PyTorch's default stream and the CUDA backend's launches are ordered; the"
                                        + " device is synchronised"
                                        + " before each call, and the start event is recorded before the Java call"
                                        + " begins, so host overhead counts where the GPU waits for it"
                                : "System.nanoTime around each call")
                        + ". Before each grid, up to " + AttentionBenchmark.Runner.GRID_WARMUP_CALLS
                        + " untimed calls of its first shape by each implementation and direction, in turns of "
                        + AttentionBenchmark.Runner.GRID_WARMUP_ROUND + ", at most "
                        + AttentionBenchmark.Runner.GRID_WARMUP_SECONDS + " s per implementation (so that the"
                        + " first timed shapes do not carry the warm-up of the JVM and of the libraries)"
                        + ". Per measurement: " + warmup + " untimed warm-up call(s), then up to " + repeats
                        + " timed calls (fewer, at least 3, where one call is long: about " + targetMs
                        + " ms of timed work), median, min and max; inputs rotate among 2 to 8 random sets"
                        + " (together at least 256 MiB on a GPU) so that no implementation finds them in the L2 cache");
        f.put(
                "kernel time",
                r.gpu
                        ? "flash-djl's CUDA backend (`cuda`) only: after the timed calls of a measurement, as"
                                + " many calls again with io.flashdjl.cuda.KernelTimer running, which records CUDA events on the null"
                                + " stream just before and after each of flash-djl's own kernel launches and adds up the"
                                + " pairs' GPU times; kernel ms is the median of those calls (separate calls, because the"
                                + " events perturb a call slightly), and overhead = median call time - median kernel time."
                                + " GPU work PyTorch does inside a call (allocating outputs and scratch, copying strided"
                                + " inputs) counts as overhead, which makes the overhead an upper bound on what Java, JNI"
                                + " and the launches cost. Before each of those calls a "
                                + AttentionBenchmark.Runner.BACKLOG_SIZE
                                + "^2 float32 matrix product is queued on the GPU,"
                                + " so that the call's launches wait behind it: a start event then completes when the"
                                + " previous work does, not while the host is still submitting its kernel, and each pair"
                                + " spans the kernel alone. The bar: each call adds at most "
                                + String.format(Locale.ROOT, "%.0f", Report.OVERHEAD_BAR_US)
                                + " us over the kernel time, on the latency grid"
                        : "not measured: CPU run (flash-djl's kernels run on CUDA GPUs)");
        f.put(
                "FLOPs",
                "forward 4*B*Hq*Nq*Nk*d, halved when causal; backward 2.5 x forward; fwd+bwd 3.5 x forward;"
                        + " TFLOP/s = FLOPs / median time");
        f.put(
                "directions",
                "fwd: the output alone with autograd off, as inference asks for it (flash-djl's backends:"
                        + " FlashAttention.attention, which makes no log-sum-exp array for the caller). bwd: backward"
                        + " alone, after an untimed forward that keeps"
                        + " what the backward needs (autograd graph, or flash-djl's O and LSE). fwd+bwd: both, timed together");
        f.put(
                "memory",
                memory.measured()
                        ? "peak device memory of each call above what was in use when it began (outputs, saved tensors,"
                                + " workspaces, temporaries): PyTorch allocates through cudaMallocAsync ("
                                + DeviceMemory.ALLOC_ENV
                                + "=" + allocator
                                + "), from the device's default memory pool, whose used-bytes high-water mark"
                                + " (CU_MEMPOOL_ATTR_USED_MEM_HIGH) the driver keeps; it is reset before and read after each call."
                                + " Every implementation here allocates through PyTorch (flash-djl's CUDA backend too). Timings"
                                + " are taken with this allocator as well"
                        : "not measured: " + memory.unmeasured);
        return r;
    }

    String oneLine() {
        return facts.get("device") + "; torch " + facts.get("torch") + "; "
                + facts.get("dtype").split("\\.")[0];
    }

    /** The command line, with the class path shown as "$CP". */
    static String command(String program, String[] argv) {
        List<String> parts = new ArrayList<>();
        ProcessHandle.current().info().arguments().ifPresent(a -> {
            parts.add(ProcessHandle.current()
                    .info()
                    .command()
                    .map(c -> c.endsWith("/java") ? "$JAVA" : c)
                    .orElse("java"));
            boolean cp = false;
            for (String s : a) {
                parts.add(cp ? "\"$CP\"" : quote(s));
                cp = s.equals("-cp") || s.equals("-classpath") || s.equals("--class-path");
            }
        });
        if (parts.isEmpty() || !String.join(" ", parts).contains(program)) {
            parts.clear();
            parts.add("$JAVA -cp \"$CP\" " + program);
            for (String s : argv) {
                parts.add(quote(s));
            }
        }
        return String.join(" ", parts);
    }

    private static String quote(String s) {
        return s.matches("[A-Za-z0-9_./:=,+@%-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }

    private static String nvidiaDriver() {
        try {
            String v = Files.readString(Paths.get("/proc/driver/nvidia/version"), StandardCharsets.US_ASCII);
            Matcher m = Pattern.compile("Kernel Module.*?\\s([0-9]+\\.[0-9]+(?:\\.[0-9]+)?)\\s")
                    .matcher(v);
            return m.find() ? "NVIDIA driver " + m.group(1) : v.split("\n")[0];
        } catch (IOException | RuntimeException e) {
            return "NVIDIA driver version unknown";
        }
    }

    /** torch's version and CUDA version from torch/version.py beside the libtorch DJL loads, if found. */
    private static String[] torchVersion() {
        String[] v = new String[2];
        String lib = System.getenv("PYTORCH_LIBRARY_PATH");
        if (lib == null) {
            return v;
        }
        try (Stream<Path> files = Files.list(Paths.get(lib))) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path versionPy = p.toRealPath().getParent().resolveSibling("version.py");
                if (Files.isRegularFile(versionPy)) {
                    String text = Files.readString(versionPy, StandardCharsets.UTF_8);
                    Matcher m = Pattern.compile("(?m)^__version__[^=]*=\\s*'([^']*)'")
                            .matcher(text);
                    if (m.find()) {
                        v[0] = m.group(1);
                    }
                    m = Pattern.compile("(?m)^cuda[^=]*=\\s*'([^']*)'").matcher(text);
                    if (m.find()) {
                        v[1] = m.group(1);
                    }
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            // unknown
        }
        if (v[0] == null && System.getenv("PYTORCH_VERSION") != null) {
            v[0] = System.getenv("PYTORCH_VERSION") + " (PYTORCH_VERSION)";
        }
        return v;
    }
}
