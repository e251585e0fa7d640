package io.flashdjl.cuda;

import com.sun.jna.FunctionMapper;
import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The kernels of one call launched as one CUDA graph. On the H200's host the driver spends 4-5 us of CPU time on
 * each {@code cuLaunchKernel}, where launching an instantiated graph costs about 2.3 us whatever its kernels and
 * setting one kernel node's grid and parameters about 0.5 us ({@code src/test/cuda/launch_cost.cu}; PERF_LOG.md,
 * "The host floor of a call"). So a backward's three kernels cost about 4 us of launches instead of 14.
 *
 * <p>Each thread keeps one instantiated graph per sequence of kernels: a chain, each node after the one before,
 * which is the order the same launches would have on the null stream. A call writes each node's grid and parameter
 * block into the graph and launches it on the null stream, so it is ordered with PyTorch's default stream exactly
 * as single launches are. JCuda 12.6 has no graph API; the driver is called through JNA (on DJL's class path).
 */
final class GraphLaunches {

    private static final Logger logger = LoggerFactory.getLogger(GraphLaunches.class);

    /** The most kernels one call launches (the mixed backward: its cast, pre, dK/dV and convert, with room). */
    static final int MAX_NODES = 8;

    /** Instantiated graphs kept per thread; the least recently used one is destroyed past this. */
    private static final int KEPT_PER_THREAD = 32;

    /** {@code sizeof(CUDA_KERNEL_NODE_PARAMS_v2)} (cuda.h): the v1 fields, then kern and ctx, both null here. */
    private static final int NODE_BYTES = 72;

    /**
     * The driver's graph functions, by their exported names; a name's {@code V2} stands for the export's {@code _v2}
     * (those take CUDA_KERNEL_NODE_PARAMS_v2).
     */
    static final class Driver {
        static native int cuGraphCreate(long[] graph, int flags);

        static native int cuGraphAddKernelNodeV2(long[] node, long graph, long[] dependencies, long count, long params);

        static native int cuGraphInstantiateWithFlags(long[] exec, long graph, long flags);

        static native int cuGraphExecKernelNodeSetParamsV2(long exec, long node, long params);

        static native int cuGraphLaunch(long exec, long stream);

        static native int cuGraphExecDestroy(long exec);

        static native int cuGraphDestroy(long graph);

        private Driver() {}
    }

    /** System property: {@code false} launches each kernel on its own (graphs are on by default). */
    static final String PROPERTY = "flashdjl.cuda.graphs";

    /** Why graphs are not used (said once), or null while they are. */
    private static volatile String unavailable = bind();

    /** Whether graphs are wanted: the property, and tests that compare both paths. */
    private static volatile boolean enabled = !"false".equalsIgnoreCase(System.getProperty(PROPERTY));

    /**
     * System property: the fewest launches a call must have to go as a graph (default {@value #MIN_LAUNCHES_DEFAULT}).
     * A graph costs the host less than even one launch, and every call as a graph measured best or level on the
     * latency grid (PERF_LOG.md); the property is there to measure that again.
     */
    static final String MIN_LAUNCHES_PROPERTY = "flashdjl.cuda.graphs.minLaunches";

    static final int MIN_LAUNCHES_DEFAULT = 1;

    private static volatile int minLaunches = Integer.getInteger(MIN_LAUNCHES_PROPERTY, MIN_LAUNCHES_DEFAULT);

    /** Graphs launched by this process, for tests that check which path ran. */
    private static final AtomicLong LAUNCHED = new AtomicLong();

    private static final ThreadLocal<Map<List<Kernel>, Graph>> GRAPHS =
            ThreadLocal.withInitial(() -> new LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<List<Kernel>, Graph> eldest) {
                    if (size() > KEPT_PER_THREAD) {
                        eldest.getValue().destroy();
                        return true;
                    }
                    return false;
                }
            });

    private GraphLaunches() {}

    private static String bind() {
        try {
            FunctionMapper v2 = (library, method) -> method.getName().replace("V2", "_v2");
            Native.register(
                    Driver.class, NativeLibrary.getInstance("cuda", Map.of(Library.OPTION_FUNCTION_MAPPER, v2)));
            return null;
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            String first = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
            String why = "the CUDA driver's graph functions could not be bound (" + first + ")";
            logger.info("CUDA: {}; kernels are launched one by one", why);
            return why;
        }
    }

    /** Whether calls launch their kernels as graphs here. */
    static boolean available() {
        return enabled && unavailable == null;
    }

    /** Whether a call of {@code launches} kernels goes as a graph ({@link #MIN_LAUNCHES_PROPERTY}). */
    static boolean worthIt(int launches) {
        return launches >= minLaunches;
    }

    /** Sets {@link #MIN_LAUNCHES_PROPERTY}'s value for the process (tests); returns the one it replaces. */
    static int setMinLaunches(int launches) {
        int before = minLaunches;
        minLaunches = launches;
        return before;
    }

    /** Why graphs are not used here though wanted, or empty. */
    static Optional<String> unavailableReason() {
        return Optional.ofNullable(unavailable);
    }

    /** Turns graphs on or off for the process (tests comparing both paths; users set {@link #PROPERTY}). */
    static void enable(boolean on) {
        enabled = on;
    }

    /** Graphs launched so far by this process. */
    static long launched() {
        return LAUNCHED.get();
    }

    /**
     * Launches {@code launches} (at most {@link #MAX_NODES}, on the current context) as one graph, in order.
     *
     * @return false if the driver refused to build or update a graph: graphs are then off for the process (said once)
     *     and nothing was launched
     * @throws CudaException when the driver refuses to launch the graph
     */
    static boolean launch(List<Kernel.Launch> launches, Object what) {
        List<Kernel> key = Kernel.Launch.kernels(launches);
        Map<List<Kernel>, Graph> graphs = GRAPHS.get();
        Graph g = graphs.get(key);
        if (g == null) {
            for (Kernel k : key) { // checked once per sequence: a cached graph's kernels passed it
                if (k.functionAddress == 0) {
                    turnOff("JCuda's handle of " + k.name + " cannot be read");
                    return false;
                }
            }
            g = Graph.build(launches);
            if (g == null) {
                return false;
            }
            graphs.put(key, g);
        }
        for (int i = 0; i < launches.size(); i++) {
            int r = g.set(i, launches.get(i));
            if (r != 0) {
                turnOff("cuGraphExecKernelNodeSetParams returned CUresult " + r);
                return false;
            }
        }
        int r = Driver.cuGraphLaunch(g.exec, 0L);
        if (r != 0) {
            throw new CudaException(launches.get(0).kernel().name, what, "cuGraphLaunch", r);
        }
        LAUNCHED.incrementAndGet();
        return true;
    }

    private static void turnOff(String why) {
        if (unavailable == null) {
            unavailable = why;
            logger.warn("CUDA: {}; kernels are launched one by one from now on", why);
        }
    }

    /** An instantiated chain of kernel nodes and the native memory its nodes' parameters are written to. */
    private static final class Graph {
        final long graph;
        long exec; // set once instantiated
        final long[] nodes;
        final Memory nodeParams; // one CUDA_KERNEL_NODE_PARAMS_v2 per node
        final Memory blocks; // one parameter block per node
        final Memory argv; // per node, its kernelParams array: one pointer, to its block
        final ByteBuffer nodeView;
        final ByteBuffer blockView;

        private Graph(long graph, int n) {
            this.graph = graph;
            this.nodes = new long[n];
            this.nodeParams = new Memory((long) NODE_BYTES * n);
            this.blocks = new Memory((long) KernelParams.LAUNCH_BLOCK_BYTES * n);
            this.argv = new Memory(8L * n);
            for (int i = 0; i < n; i++) {
                argv.setPointer(8L * i, blocks.share((long) KernelParams.LAUNCH_BLOCK_BYTES * i));
            }
            nodeParams.clear();
            this.nodeView = nodeParams.getByteBuffer(0, nodeParams.size()).order(ByteOrder.nativeOrder());
            this.blockView = blocks.getByteBuffer(0, blocks.size());
        }

        /** The chain of {@code launches}' kernels, instantiated; null (graphs turned off) if the driver refuses. */
        static Graph build(List<Kernel.Launch> launches) {
            long[] out = new long[1];
            int r = Driver.cuGraphCreate(out, 0);
            if (r != 0) {
                turnOff("cuGraphCreate returned CUresult " + r);
                return null;
            }
            Graph g = new Graph(out[0], launches.size());
            for (int i = 0; i < launches.size(); i++) {
                g.write(i, launches.get(i));
                long[] dependency = i == 0 ? null : new long[] {g.nodes[i - 1]};
                r = Driver.cuGraphAddKernelNodeV2(out, g.graph, dependency, i == 0 ? 0 : 1, g.nodeAddress(i));
                if (r != 0) {
                    Driver.cuGraphDestroy(g.graph);
                    turnOff("cuGraphAddKernelNode returned CUresult " + r);
                    return null;
                }
                g.nodes[i] = out[0];
            }
            r = Driver.cuGraphInstantiateWithFlags(out, g.graph, 0L);
            if (r != 0) {
                Driver.cuGraphDestroy(g.graph);
                turnOff("cuGraphInstantiateWithFlags returned CUresult " + r);
                return null;
            }
            g.exec = out[0];
            return g;
        }

        /** Writes launch {@code i}'s grid and parameter block into node {@code i} of the instantiated graph. */
        int set(int i, Kernel.Launch launch) {
            write(i, launch);
            return Driver.cuGraphExecKernelNodeSetParamsV2(exec, nodes[i], nodeAddress(i));
        }

        /** Node {@code i}'s CUDA_KERNEL_NODE_PARAMS_v2 and parameter block (the driver copies both when given). */
        private void write(int i, Kernel.Launch launch) {
            blockView.put(KernelParams.LAUNCH_BLOCK_BYTES * i, launch.params());
            int o = NODE_BYTES * i;
            nodeView.putLong(o, launch.kernel().functionAddress);
            nodeView.putInt(o + 8, launch.grid()[0]);
            nodeView.putInt(o + 12, launch.grid()[1]);
            nodeView.putInt(o + 16, launch.grid()[2]);
            nodeView.putInt(o + 20, launch.kernel().threads);
            nodeView.putInt(o + 24, 1);
            nodeView.putInt(o + 28, 1);
            nodeView.putInt(o + 32, launch.kernel().sharedBytes);
            nodeView.putLong(o + 40, Pointer.nativeValue(argv) + 8L * i); // kernelParams
            // extra (o + 48), kern (o + 56) and ctx (o + 64) stay null: the node runs func in the current context
        }

        private long nodeAddress(int i) {
            return Pointer.nativeValue(nodeParams) + (long) NODE_BYTES * i;
        }

        void destroy() {
            Driver.cuGraphExecDestroy(exec);
            Driver.cuGraphDestroy(graph);
        }
    }
}
