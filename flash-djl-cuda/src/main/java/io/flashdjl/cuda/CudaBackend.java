package io.flashdjl.cuda;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import io.flashdjl.AttentionBias;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionMask;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.Layout;
import io.flashdjl.Sequences;
import io.flashdjl.spi.AttentionBackend;
import io.flashdjl.spi.AttentionProblem;
import io.flashdjl.spi.DropoutBits;
import io.flashdjl.spi.Visibility;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fused FlashAttention-2 kernels of {@code src/main/cuda}, launched through JCuda directly on
 * the CUDA memory of DJL's PyTorch NDArrays: outputs and scratch are allocated by DJL on the
 * inputs' device and written in place by the kernels, with no copies of q, k or v (BHSD and BSHD
 * are passed to the kernels as strides). Grouped-query attention reads the shared k/v heads
 * directly. A head dimension between the compiled ones (the list the fatbin exports, read by {@code CudaKernels})
 * runs on the next larger kernel, which zero-fills the missing columns.
 *
 * <p>float32 data with {@link io.flashdjl.Precision#BFLOAT16} runs the bfloat16 kernels on bfloat16 copies of
 * the inputs ({@link BfloatCopies}) and writes float32 outputs and gradients ({@link KernelDtype#F32_BF16}).
 */
public final class CudaBackend implements AttentionBackend {

    private static final Logger logger = LoggerFactory.getLogger(CudaBackend.class);

    /** Forward kernels whose slow path was logged, so that a training loop says it once. */
    private static final Set<String> SLOW_PATH_LOGGED = ConcurrentHashMap.newKeySet();

    /** Test aid: with this system property true, outputs are filled with NaN before the kernels run. */
    static final String POISON_PROPERTY = "flashdjl.cuda.poison";

    @Override
    public Backend kind() {
        return Backend.CUDA;
    }

    @Override
    public Optional<String> unavailableReason() {
        return CudaRuntime.unavailableReason();
    }

    @Override
    public Optional<String> unsupportedReason(AttentionProblem p) {
        if (!p.device().isGpu()) {
            return Optional.of("the inputs are on " + p.device() + "; the CUDA backend needs GPU arrays");
        }
        if (!(p.q() instanceof PtNDArray)) {
            return Optional.of("the inputs are not arrays of DJL's PyTorch engine");
        }
        DataType t = p.dataType();
        if (t != DataType.FLOAT16 && t != DataType.FLOAT32) {
            return Optional.of("no CUDA kernel for " + t + " (float16 and float32 have one)");
        }
        if (p.headDim() != p.valueDim()) {
            return Optional.of("the kernels need the head dimension of v (" + p.valueDim()
                    + ") to equal that of q and k (" + p.headDim() + ")");
        }
        KernelDtype kd = KernelDtype.of(p);
        if (p.headDim() % kd.headDimMultiple != 0) {
            return Optional.of("head dimension " + p.headDim() + " is not a multiple of " + kd.headDimMultiple
                    + " (16-byte rows of " + t + ")");
        }
        if (p.sequenceCount() > 65535 || p.headsQ() > 65535) {
            return Optional.of("batch (or sequences) and heads must be at most 65535 (CUDA grid limits)");
        }
        if (p.options().deterministic()
                && p.bias()
                        .map(b -> b.requiresGradient()
                                && b.shape4().size() < p.batch() * p.headsQ() * p.seqQ() * p.seqK())
                        .orElse(false)) {
            return Optional.of("deterministic mode: the gradient of a broadcast bias is summed with atomic adds, in an"
                    + " order that varies from run to run");
        }
        if (p.seqQ() + p.seqK() >= (1L << 31) - 256) {
            return Optional.of("seqQ + seqK must be below 2^31 - 256 (the kernels' int tile bounds)");
        }
        Optional<String> unavailable = unavailableReason();
        if (unavailable.isPresent()) {
            return unavailable;
        }
        int[] compiled = CudaRuntime.kernels(p.device()).headDims();
        if (p.headDim() > compiled[compiled.length - 1]) {
            return Optional.of("head dimension " + p.headDim() + " is above the largest kernel's ("
                    + compiled[compiled.length - 1] + ")");
        }
        return Optional.empty();
    }

    @Override
    public AttentionResult forward(AttentionProblem p) {
        return run(p, true);
    }

    /** The output alone: the log-sum-exp and the mixed path's copies go to the thread's {@link Workspace}. */
    @Override
    public NDArray output(AttentionProblem p) {
        return run(p, false).output();
    }

    /**
     * The forward, {@code forBackward}: with a log-sum-exp array and the mixed path's copies kept (the result a
     * backward reuses); else both in the workspace, and the result holds the output alone.
     */
    private AttentionResult run(AttentionProblem p, boolean forBackward) {
        CudaKernels kernels = CudaRuntime.kernels(p.device());
        Inputs in = Inputs.of(p);
        NDManager manager = managerOn(p.q().getManager(), p.device());
        NDArray out = allocate(manager, outShape(p), p.dataType());
        long lseFloats = p.batch() * p.headsQ() * p.seqQ();
        NDArray lse =
                forBackward ? allocate(manager, new Shape(p.batch(), p.headsQ(), p.seqQ()), DataType.FLOAT32) : null;
        // without a backward: the log-sum-exp, then the copies from a 16-byte boundary, in one workspace region
        long copiesFloat = (lseFloats + 3) / 4 * 4;
        Workspace.Region region = forBackward
                ? null
                : Workspace.take(manager, p.device(), copiesFloat + Operands.forwardCopyBytes(p) / 4);
        KernelParams.Strides qs = strides(p, p.headsQ(), p.seqQ());
        KernelParams.Strides kvs = strides(p, p.headsKv(), p.seqK());
        CudaKernels.Launches launches = kernels.launches(p);
        KernelParams.Tensor[] given = {
            tensor(in.q.address(), qs), tensor(in.k.address(), kvs), tensor(in.v.address(), kvs)
        };
        Operands ops = Operands.forward(
                kernels, manager, p, launches, given, forBackward ? 0L : region.address + 4 * copiesFloat);
        SequenceArrays seqs = SequenceArrays.of(p);
        BiasArrays bias = BiasArrays.of(kernels, manager, p, false);
        Kernel forward = kernels.kernel(forwardKernelName(kernels, bias, p));
        KernelParams.Tensor q = ops.read(Operand.Q, given[0]);
        KernelParams.Tensor k = ops.read(Operand.K, given[1]);
        KernelParams.Tensor v = ops.read(Operand.V, given[2]);
        byte[] params = KernelParams.forward(
                q,
                k,
                v,
                tensor(NDArrayMemory.address("output", out), qs),
                forBackward ? NDArrayMemory.address("lse", lse) : region.address,
                seqs.params,
                dropout(p),
                bias.params,
                dims(p),
                CudaKernels.rowTiles(forward, p.longestQuery()),
                operandMaps(
                        kernels.forwardTmaLoads(p.headDim()), // only persistent forwards read maps (flash_tiles.h)
                        forward.name,
                        p,
                        new MapOperand(q, p.headsQ(), p.seqQ()),
                        new MapOperand(k, p.headsKv(), p.seqK()),
                        new MapOperand(v, p.headsKv(), p.seqK())));
        if (runsOnSimt(KernelDtype.of(p), forward) && SLOW_PATH_LOGGED.add(forward.name)) {
            logger.warn(
                    "CUDA: {} runs float32 at Precision.FULL on the SIMT kernels (the tensor-core ones need sm_90a and"
                            + " head dim <= 128): several times slower; Precision.BFLOAT16 runs on the tensor cores",
                    forward.name);
        }
        launches.add(
                forward, p.longestQuery(), p.headsQ(), p.sequenceCount(), queuedRowTiles(p, bias.present()), params);
        launches.submit();
        if (!forBackward) {
            region.release();
        }
        SavedCopies saved = ops.savedCopies(q, k, v);
        if (saved != null && (in.q.copied() || in.k.copied() || in.v.copied())) {
            saved.close(); // the backward's dense copies will have other addresses: it casts again
            saved = null;
        }
        seqs.release();
        bias.release();
        in.release();
        return new AttentionResult(out, lse, Backend.CUDA, saved);
    }

    @Override
    public AttentionGradients backward(AttentionProblem p, NDArray dOut, AttentionResult forward) {
        CudaKernels kernels = CudaRuntime.kernels(p.device());
        Inputs in = Inputs.of(p);
        DenseArray o = DenseArray.of("forward.output()", forward.output());
        DenseArray dO = DenseArray.of("dOut", dOut);
        DenseArray lse = DenseArray.of("forward.logSumExp()", forward.logSumExp());
        NDManager manager = managerOn(p.q().getManager(), p.device());
        NDArray dq = allocate(manager, p.q().getShape(), p.dataType());
        NDArray dk = allocate(manager, p.k().getShape(), p.dataType());
        NDArray dv = allocate(manager, p.v().getShape(), p.dataType());
        boolean deterministic = p.options().deterministic();
        boolean addsDq = kernels.dkdvAddsDq(KernelDtype.of(p), p.headDim());
        // the ordered mode's conditions but its tensor maps, which are encoded below (into the scratch's copies)
        boolean mayOrder = deterministic
                && kernels.dkdvOrdersDq(KernelDtype.of(p), p.headDim())
                && p.bias().isEmpty()
                && p.sequences().isEmpty()
                && kernels.bwdTmaLoads(p.headDim());
        boolean accumulates = DqMode.of(deterministic, addsDq, mayOrder).throughAccumulator();
        KernelParams.Strides qs = strides(p, p.headsQ(), p.seqQ());
        KernelParams.Strides kvs = strides(p, p.headsKv(), p.seqK());
        KernelParams.Tensor[] given = {
            tensor(in.q.address(), qs),
            tensor(in.k.address(), kvs),
            tensor(in.v.address(), kvs),
            tensor(dO.address(), qs)
        };
        SavedCopies saved = forward.saved() instanceof SavedCopies c && c.covers(given) ? c : null;
        long copyBytes = Operands.backwardCopyBytes(p, saved);
        // one float32 region for the scratch (the thread's workspace up to its size, else one array): dq_accum's
        // rows when dq may go through it, 32-byte aligned (whole rows of dq_accum_cols floats), then the ordered
        // mode's turn counters (uint32) where it may run, then delta's rows, then the bfloat16 copies the mixed
        // kernels read, from a 16-byte boundary
        long accumFloats = accumulates ? p.batch() * p.headsQ() * p.seqQ() * kernels.dqAccumColumns(p.headDim()) : 0;
        long turns = mayOrder ? DqMode.turnCounters(p.batch(), p.headsQ(), p.seqQ()) : 0;
        long copiesFloat = (accumFloats + turns + p.batch() * p.headsQ() * p.seqQ() + 3) / 4 * 4;
        Workspace.Region scratch = Workspace.take(manager, p.device(), copiesFloat + (copyBytes + 3) / 4);
        long scratchAddress = scratch.address;
        CudaKernels.Launches launches = kernels.launches(p);
        Operands ops = Operands.backward(kernels, p, launches, saved, scratchAddress + 4 * copiesFloat, copyBytes);
        SequenceArrays seqs = SequenceArrays.of(p);
        BiasArrays bias = BiasArrays.of(
                kernels,
                manager,
                p,
                p.bias().map(AttentionBias::requiresGradient).orElse(false));
        KernelParams.Tensor[] tensors = {
            ops.read(Operand.Q, given[0]),
            ops.read(Operand.K, given[1]),
            ops.read(Operand.V, given[2]),
            tensor(o.address(), qs),
            ops.read(Operand.D_OUT, given[3]),
            tensor(NDArrayMemory.address("dq", dq), qs),
            tensor(NDArrayMemory.address("dk", dk), kvs),
            tensor(NDArrayMemory.address("dv", dv), kvs)
        };
        Kernel dkdv = kernels.kernel(name(kernels, "flash_bwd_dkdv", bias, p));
        KernelParams.OperandMaps maps = operandMaps(
                kernels.bwdTmaLoads(p.headDim()),
                dkdv.name, // named for the backward's kernels: its dq kernel reads the same maps
                p,
                new MapOperand(tensors[0], p.headsQ(), p.seqQ()),
                new MapOperand(tensors[4], p.headsQ(), p.seqQ()),
                new MapOperand(tensors[1], p.headsKv(), p.seqK()),
                new MapOperand(tensors[2], p.headsKv(), p.seqK()));
        // the ordered mode's adders run beside TMA's copies: without maps (sequences, a driver that refused them),
        // the deterministic mode is the dq kernel's
        DqMode mode = DqMode.of(deterministic, addsDq, mayOrder && maps.present());
        boolean convert = mode.throughAccumulator();
        boolean staggered = DqMode.staggers(
                mode, everyKeySeen(p), CudaKernels.rowTiles(dkdv, p.longestKey()), kernels.multiprocessors());
        byte[] params = KernelParams.backward(
                tensors,
                lse.address(),
                convert ? scratchAddress : 0L,
                scratchAddress + 4 * (accumFloats + turns),
                seqs.params,
                dropout(p),
                bias.params,
                dims(p),
                mode,
                mode == DqMode.ORDERED ? scratchAddress + 4 * accumFloats : 0L,
                staggered,
                maps);
        // pre and convert work on the tensors' rows; dkdv and dq on the rows of each sequence (flash_params.h)
        launches.add(
                kernels.kernel(name(kernels, "flash_bwd_pre", BiasArrays.NONE, p)),
                p.seqQ(),
                p.headsQ(),
                p.batch(),
                params);
        launches.add(dkdv, p.longestKey(), p.headsKv(), p.sequenceCount(), params);
        if (convert) {
            launches.add(
                    kernels.kernel(name(kernels, "flash_bwd_convert", BiasArrays.NONE, p)),
                    p.seqQ(),
                    p.headsQ(),
                    p.batch(),
                    params);
        } else {
            launches.add(
                    kernels.kernel(name(kernels, "flash_bwd_dq", bias, p)),
                    p.longestQuery(),
                    p.headsQ(),
                    p.sequenceCount(),
                    params);
        }
        launches.submit();
        // freed after the kernels are submitted: PyTorch's allocator reuses memory in stream order
        scratch.release();
        NDArray dBias = bias.gradient();
        seqs.release();
        bias.release();
        in.release();
        o.release();
        dO.release();
        lse.release();
        return new AttentionGradients(dq, dk, dv, dBias, Backend.CUDA);
    }

    /**
     * Whether a forward kernel is the float32 SIMT fallback: of the float32 kernels only the SIMT ones take no
     * dynamic shared memory (flash_tiles.h, {@code F32Shape}), and the fatbin's launch facts say which one the
     * device pass chose.
     */
    static boolean runsOnSimt(KernelDtype type, Kernel forward) {
        return type == KernelDtype.F32 && forward.sharedBytes == 0;
    }

    /**
     * The forward kernel of {@code p}: the head dimension's form for long key sequences where the fatbin has one
     * (16-bit compute only, no score bias, no sliding window) and the longest key sequence reaches its key count
     * ({@link CudaKernels#forwardLongMinKeys}; a lower one where every row sees every key), else the general one.
     * With a bias the long form measured 0.53-0.92x of the general one, and the fatbin has none; with a window of
     * 1024 keys, 0.92-0.93x (PERF_LOG.md).
     */
    static String forwardKernelName(CudaKernels kernels, BiasArrays bias, AttentionProblem p) {
        int longFrom = kernels.forwardLongMinKeys(p.headDim(), everyKeySeen(p));
        boolean longKeys = longFrom > 0
                && KernelDtype.of(p).sixteenBitCompute()
                && !bias.present()
                && !p.visibility().hasLowerEdge()
                && p.longestKey() >= longFrom;
        return name(kernels, longKeys ? "flash_fwd_long" : "flash_fwd", bias, p);
    }

    /**
     * Whether a persistent forward runs one CTA per SM on {@code p}, taking the row tiles from its queue
     * ({@link CudaKernels#grid}), rather than one CTA per tile: when every tile costs the same (every row sees every
     * key, no sequences, no bias), and for tiles of unequal cost (causal, windows, sequences, a bias) up to
     * {@value #QUEUED_UNEVEN_MAX_KEYS} keys. Against one CTA per tile, the queue measured 1.02-1.14x on causal calls
     * of 512 and 1k keys, 0.96-1.03x at 4k and 0.89-0.97x at 16k (PERF_LOG.md, "the persistent forwards on a dynamic
     * schedule").
     */
    static boolean queuedRowTiles(AttentionProblem p, boolean biased) {
        boolean even = everyKeySeen(p) && !biased;
        return even || p.longestKey() <= QUEUED_UNEVEN_MAX_KEYS;
    }

    /** Whether every row of {@code p} sees every key: no band, no sequences (a score bias aside). */
    static boolean everyKeySeen(AttentionProblem p) {
        return p.visibility().isFull() && p.sequences().isEmpty();
    }

    /**
     * The tensor maps through which a kernel copies its operands ({@code TMA LOADS} in flash_params.h): for kernels
     * that read them ({@code readsMaps}: the fatbin's per-head-dim export), on 16-bit operands without sequences
     * (under a map, rows past a sequence's end would not read as zeros), where the driver encodes maps. Otherwise, or
     * if the driver refuses a map (said once per kernel), none: the kernel copies the operands itself.
     */
    static KernelParams.OperandMaps operandMaps(
            boolean readsMaps, String kernel, AttentionProblem p, MapOperand... operands) {
        KernelDtype type = KernelDtype.of(p);
        if (!readsMaps
                || !type.sixteenBitCompute()
                || p.sequences().isPresent()
                || TensorMaps.unavailableReason().isPresent()) {
            return KernelParams.OperandMaps.NONE;
        }
        boolean bf16 = type == KernelDtype.F32_BF16; // the mixed kernels read bfloat16 copies
        long d = (p.headDim() + 7) / 8 * 8; // the columns stored (the casts' rows are padded to 8)
        boolean wholeBlocks = TensorMaps.wholeBlockMap(p.headDim());
        try {
            List<byte[]> maps = new ArrayList<>(operands.length);
            for (MapOperand o : operands) {
                maps.add(TensorMaps.encodeOperand(
                        o.tensor.address,
                        bf16,
                        new long[] {p.batch(), o.heads, o.rows, d},
                        o.tensor.strides,
                        wholeBlocks));
            }
            return new KernelParams.OperandMaps(maps);
        } catch (CudaException e) {
            if (MAPS_REFUSED_LOGGED.add(kernel)) {
                logger.warn("CUDA: {} copies its operands without TMA: {}", kernel, e.getMessage());
            }
            return KernelParams.OperandMaps.NONE;
        }
    }

    /** One operand of a kernel that may copy it through a tensor map: its kernel argument, heads and rows. */
    record MapOperand(KernelParams.Tensor tensor, long heads, long rows) {}

    /**
     * Kernels (a forward, or a backward's dkdv kernel for its kernels) for which the driver refused a tensor map, so
     * that their fallback is said once.
     */
    private static final Set<String> MAPS_REFUSED_LOGGED = ConcurrentHashMap.newKeySet();

    /** The longest key sequence for which tiles of unequal cost go through a persistent forward's queue. */
    static final int QUEUED_UNEVEN_MAX_KEYS = 2048;

    /** A kernel's name: the _bias kernels read a score bias (flash_kernels.cu). */
    private static String name(CudaKernels kernels, String kernel, BiasArrays bias, AttentionProblem p) {
        return kernel + (bias.present() ? "_bias_" : "_") + KernelDtype.of(p).token + "_hd"
                + kernels.kernelHeadDim(p.headDim());
    }

    private static KernelParams.Tensor tensor(long address, KernelParams.Strides strides) {
        return new KernelParams.Tensor(address, strides);
    }

    /** The dropout of the options as the kernels take it (one threshold rule: {@link DropoutBits}). */
    private static KernelParams.Dropout dropout(AttentionProblem p) {
        DropoutBits bits = DropoutBits.of(p.options());
        return bits == null
                ? KernelParams.Dropout.NONE
                : new KernelParams.Dropout(
                        p.options().dropoutSeed(), p.options().dropoutOffset(), bits.threshold(), bits.scale());
    }

    /**
     * Sizes, scale and the visibility band of the whole tensors (clamped to [-seqQ, seqK] by Visibility, so it
     * fits in int); batch counts sequences.
     */
    private static KernelParams.Dims dims(AttentionProblem p) {
        Visibility vis = p.visibility();
        return new KernelParams.Dims(
                (int) p.sequenceCount(),
                (int) p.headsQ(),
                (int) p.headsKv(),
                (int) p.seqQ(),
                (int) p.seqK(),
                (int) p.headDim(),
                (float) p.scale(),
                Math.toIntExact(vis.lowerOffset()),
                Math.toIntExact(vis.upperOffset()));
    }

    /** Element strides (batch, head, row) of a dense array in the problem's layout. */
    private static KernelParams.Strides strides(AttentionProblem p, long heads, long seq) {
        long d = p.headDim();
        return p.layout() == Layout.BHSD
                ? new KernelParams.Strides(heads * seq * d, seq * d, d)
                : new KernelParams.Strides(seq * heads * d, d, heads * d);
    }

    private static Shape outShape(AttentionProblem p) {
        return p.layout() == Layout.BHSD
                ? new Shape(p.batch(), p.headsQ(), p.seqQ(), p.valueDim())
                : new Shape(p.batch(), p.seqQ(), p.headsQ(), p.valueDim());
    }

    private static NDManager managerOn(NDManager m, Device device) {
        return m.getDevice().equals(device) ? m : m.newSubManager(device);
    }

    private static NDArray allocate(NDManager manager, Shape shape, DataType type) {
        return Boolean.getBoolean(POISON_PROPERTY) ? manager.full(shape, Float.NaN, type) : manager.create(shape, type);
    }

    /** The operands the kernels read, in the order of their copies. */
    enum Operand {
        Q,
        K,
        V,
        D_OUT
    }

    /**
     * The operands the kernels read (q, k, v, dOut): the caller's arrays themselves, or for the mixed kernels
     * their bfloat16 copies ({@link BfloatCopies}): in the forward made into one array that the result keeps for the
     * backward ({@link SavedCopies}); in the backward the forward's copies of q, k and v where they are of the same
     * arrays, and the others made into the backward's scratch.
     */
    private static final class Operands {
        private final AttentionProblem p;
        private final BfloatCopies copies; // null when the kernels read the caller's arrays
        private final SavedCopies saved; // the forward's copies the backward reads, or null
        private final NDArray memory; // the forward's copies' array, or null
        private final KernelParams.Tensor[] sources; // the forward's q, k, v as given, or null

        private Operands(
                AttentionProblem p,
                BfloatCopies copies,
                SavedCopies saved,
                NDArray memory,
                KernelParams.Tensor[] sources) {
            this.p = p;
            this.copies = copies;
            this.saved = saved;
            this.memory = memory;
            this.sources = sources;
        }

        /**
         * The forward's operands: with the mixed kernels, q, k and v's copies, at {@code address} (16-byte aligned,
         * {@link #forwardCopyBytes}), or where it is 0 in one fresh array that the result keeps.
         */
        static Operands forward(
                CudaKernels kernels,
                NDManager manager,
                AttentionProblem p,
                CudaKernels.Launches launches,
                KernelParams.Tensor[] given,
                long address) {
            if (!KernelDtype.of(p).castsInputs) {
                return new Operands(p, null, null, null, null);
            }
            long bytes = forwardCopyBytes(p);
            if (address != 0) {
                return new Operands(p, new BfloatCopies(kernels, launches, address, bytes), null, null, null);
            }
            NDArray memory = manager.create(new Shape(bytes / 2), DataType.FLOAT16);
            long own = NDArrayMemory.address("bfloat16 copies", memory);
            return new Operands(p, new BfloatCopies(kernels, launches, own, bytes), null, memory, given);
        }

        /**
         * The backward's operands: with the mixed kernels, the forward's copies of q, k and v where {@code saved}
         * holds them, and the other copies made at {@code address} ({@code bytes}, {@link #backwardCopyBytes}).
         */
        static Operands backward(
                CudaKernels kernels,
                AttentionProblem p,
                CudaKernels.Launches launches,
                SavedCopies saved,
                long address,
                long bytes) {
            if (!KernelDtype.of(p).castsInputs) {
                return new Operands(p, null, null, null, null);
            }
            return new Operands(p, new BfloatCopies(kernels, launches, address, bytes), saved, null, null);
        }

        /** The bytes of the forward's copies (q, k, v; 0 unless the mixed kernels run). */
        static long forwardCopyBytes(AttentionProblem p) {
            if (!KernelDtype.of(p).castsInputs) {
                return 0;
            }
            return copyBytes(p, Operand.Q) + copyBytes(p, Operand.K) + copyBytes(p, Operand.V);
        }

        /** The bytes of the copies the backward makes itself: dOut's, and q, k, v's unless {@code saved} has them. */
        static long backwardCopyBytes(AttentionProblem p, SavedCopies saved) {
            if (!KernelDtype.of(p).castsInputs) {
                return 0;
            }
            long bytes = copyBytes(p, Operand.D_OUT);
            if (saved == null) {
                bytes += copyBytes(p, Operand.Q) + copyBytes(p, Operand.K) + copyBytes(p, Operand.V);
            }
            return bytes;
        }

        private static long copyBytes(AttentionProblem p, Operand o) {
            boolean queries = o == Operand.Q || o == Operand.D_OUT;
            return BfloatCopies.bytes(
                    p.batch(), queries ? p.headsQ() : p.headsKv(), queries ? p.seqQ() : p.seqK(), p.headDim());
        }

        /** The kernel argument of operand {@code o}, given as {@code given}: itself, the saved copy, or a new copy. */
        KernelParams.Tensor read(Operand o, KernelParams.Tensor given) {
            if (copies == null) {
                return given;
            }
            if (saved != null && o != Operand.D_OUT) {
                return saved.copies[o.ordinal()];
            }
            boolean queries = o == Operand.Q || o == Operand.D_OUT;
            return copies.of(
                    given, p.batch(), queries ? p.headsQ() : p.headsKv(), queries ? p.seqQ() : p.seqK(), p.headDim());
        }

        /** The forward's copies of {@code q, k, v} (read before), for the result to keep; null without copies. */
        SavedCopies savedCopies(KernelParams.Tensor q, KernelParams.Tensor k, KernelParams.Tensor v) {
            return memory == null
                    ? null
                    : new SavedCopies(memory, sources.clone(), new KernelParams.Tensor[] {q, k, v});
        }
    }

    /**
     * A forward's bfloat16 copies of q, k and v under {@code Precision.BFLOAT16}, kept in its result so that the
     * backward of the same arrays casts only dOut: three casts fewer (each reads 4 and writes 2 bytes an element),
     * for half the bytes of q, k and v held from the forward to the backward.
     */
    static final class SavedCopies implements AutoCloseable {
        private final NDArray memory;
        private final KernelParams.Tensor[] sources; // q, k, v as the forward read them
        final KernelParams.Tensor[] copies; // their copies, in that order

        SavedCopies(NDArray memory, KernelParams.Tensor[] sources, KernelParams.Tensor[] copies) {
            this.memory = memory;
            this.sources = sources;
            this.copies = copies;
        }

        /** Whether these are the copies of the backward's q, k, v ({@code given}'s first three: same memory). */
        boolean covers(KernelParams.Tensor[] given) {
            for (int i = 0; i < sources.length; i++) {
                if (!sources[i].sameAs(given[i])) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public void close() {
            memory.close();
        }
    }

    /**
     * Device addresses of the sequences' int32 arrays (dense copies of strided views), 0 where absent, and the
     * band's anchor: a bottom-right band moves with each sequence's own corner.
     */
    private static final class SequenceArrays {
        final KernelParams.Sequences params;
        private final DenseArray[] copies;

        private SequenceArrays(KernelParams.Sequences params, DenseArray[] copies) {
            this.params = params;
            this.copies = copies;
        }

        static SequenceArrays of(AttentionProblem p) {
            boolean bottomRight = p.options().mask() == AttentionMask.CAUSAL_BOTTOM_RIGHT;
            Optional<Sequences> s = p.sequences();
            if (s.isEmpty()) {
                return new SequenceArrays(new KernelParams.Sequences(0, 0, 0, 0, bottomRight), new DenseArray[0]);
            }
            DenseArray q = s.get()
                    .queries()
                    .map(a -> DenseArray.of("sequences.queries()", a))
                    .orElse(null);
            DenseArray k = s.get()
                    .keys()
                    .map(a -> DenseArray.of("sequences.keys()", a))
                    .orElse(null);
            long qa = q == null ? 0 : q.address();
            long ka = k == null ? 0 : k.address();
            DenseArray[] copies = {q, k};
            KernelParams.Sequences params = s.get().form() == Sequences.Form.PACKED
                    ? new KernelParams.Sequences(qa, ka, 0, 0, bottomRight)
                    : new KernelParams.Sequences(0, 0, qa, ka, bottomRight);
            return new SequenceArrays(params, copies);
        }

        /** Frees the copies; safe once the kernels are queued (stream-ordered reuse). */
        void release() {
            for (DenseArray c : copies) {
                if (c != null) {
                    c.release();
                }
            }
        }
    }

    /** q, k and v as the kernels read them, with the dense copies made for strided views. */
    private record Inputs(DenseArray q, DenseArray k, DenseArray v) {
        static Inputs of(AttentionProblem p) {
            return new Inputs(DenseArray.of("q", p.q()), DenseArray.of("k", p.k()), DenseArray.of("v", p.v()));
        }

        /** Frees the copies; safe once the kernels are queued (stream-ordered reuse). */
        void release() {
            q.release();
            k.release();
            v.release();
        }
    }
}
