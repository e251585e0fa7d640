package io.flashdjl.examples.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.Precision;
import io.flashdjl.spi.OwnedScalar;
import io.flashdjl.spi.TorchScriptModules;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One implementation of attention under test. Each call leaves its results in the caller's
 * {@code NDScope}, which frees them after the measurement.
 */
abstract class Impl {

    /**
     * Score-matrix elements above which the implementations that materialise it are skipped (outside the
     * memory grid).
     */
    static final double DENSE_SCORE_LIMIT = Math.pow(2, 31);

    /** Score-matrix elements above which the REFERENCE backend (tiles in NDArray ops, a yardstick) is skipped. */
    static final double REFERENCE_LIMIT = Math.pow(2, 24);

    /** The input arrays of one rotation set: q, k, v and the output gradient. */
    record Inputs(NDArray q, NDArray k, NDArray v, NDArray dOut) {}

    final String name;
    final String code;

    Impl(String name, String code) {
        this.name = name;
        this.code = code;
    }

    /** Every implementation, by its command-line name, in report order, at full precision. */
    static Map<String, Impl> all() {
        return all(DataType.FLOAT16, Precision.FULL);
    }

    /**
     * Every implementation, by its command-line name, in report order; {@code precision} goes to flash-djl's
     * backends and, for BFLOAT16, makes the SDPA kernel modules cast to bfloat16 and back (autocast).
     */
    static Map<String, Impl> all(DataType dtype, Precision precision) {
        boolean bf16 = precision == Precision.BFLOAT16;
        Map<String, Impl> m = new LinkedHashMap<>();
        for (Impl i : List.of(
                new FlashDjl(
                        "cuda",
                        Backend.CUDA,
                        precision,
                        "flash-djl CUDA backend: the project's fused FlashAttention-2 kernels,"
                                + " JCuda launches on the null stream (FlashAttention.forward/backward, Backend.CUDA)"),
                new Aten(Aten.Kind.FLASH, dtype, bf16),
                new Aten(Aten.Kind.CUDNN, dtype, bf16),
                new Aten(Aten.Kind.EFFICIENT, dtype, bf16),
                new Aten(Aten.Kind.MATH, dtype, bf16),
                new Aten(Aten.Kind.AUTO, dtype, bf16),
                new FlashDjl(
                        "sdpa",
                        Backend.SDPA,
                        precision,
                        "flash-djl SDPA backend: torch.scaled_dot_product_attention plus its"
                                + " float32 log-sum-exp side computation; its backward recomputes the forward"),
                new Naive(),
                new FlashDjl(
                        "reference",
                        Backend.REFERENCE,
                        Precision.FULL, // REFERENCE computes in the data type
                        "flash-djl REFERENCE backend: the FlashAttention-2 tiles in"
                                + " DJL NDArray ops (a correctness yardstick, small shapes only)"))) {
            m.put(i.name, i);
        }
        return m;
    }

    /**
     * Why this implementation does not run the case here, as {@code "unavailable: ..."}, {@code
     * "unsupported: ..."} or {@code "skipped: ..."}; empty when it runs. May load what the
     * implementation needs (TorchScript modules), so that broken generated code shows up even
     * where the kernel cannot run.
     */
    abstract Optional<String> notRun(BenchCase c, Device device);

    /** The forward pass, autograd off. */
    abstract void forward(BenchCase c, Inputs in);

    /** A forward pass keeping what the backward needs; returns that state. */
    abstract Object forwardForBackward(BenchCase c, Inputs in);

    /** The backward pass from the state {@link #forwardForBackward} returned. */
    abstract void backward(BenchCase c, Inputs in, Object state);

    /**
     * Whether its GPU work is launched by flash-djl's CUDA backend, so that {@code KernelTimer} can time the
     * kernels of a call apart from the call.
     */
    boolean kernelTimed() {
        return false;
    }

    /** Frees what was kept for the case that just ended. */
    void endCase() {}

    /** A new autograd leaf sharing {@code a}'s memory. */
    static NDArray leaf(NDArray a) {
        NDArray leaf = a.stopGradient();
        leaf.setRequiresGradient(true);
        return leaf;
    }

    static boolean dense(BenchCase c) {
        return !c.grid().equals("memory") && c.scoreElements() > DENSE_SCORE_LIMIT;
    }

    static String denseSkip(BenchCase c) {
        return String.format(
                java.util.Locale.ROOT,
                "skipped: materialises the %.0f GiB score matrix (B*H*Nq*Nk = %.3g elements > 2^31;"
                        + " hopeless outside the memory grid)",
                c.scoreElements() * 2 / (1L << 30),
                c.scoreElements());
    }

    /** flash-djl's own backends through the public API: forward reuses nothing, backward reuses O and LSE. */
    static final class FlashDjl extends Impl {
        private final Backend backend;
        private final Precision precision;

        FlashDjl(String name, Backend backend, Precision precision, String code) {
            super(name, code + (precision == Precision.FULL ? "" : "; precision " + precision));
            this.backend = backend;
            this.precision = precision;
        }

        private AttentionOptions options(BenchCase c) {
            return AttentionOptions.builder()
                    .optCausal(c.causal())
                    .optBackend(backend)
                    .optPrecision(precision)
                    .build();
        }

        @Override
        boolean kernelTimed() {
            return backend == Backend.CUDA; // SDPA and REFERENCE run PyTorch's kernels
        }

        @Override
        Optional<String> notRun(BenchCase c, Device device) {
            Optional<String> why = FlashAttention.unavailableReason(backend);
            if (why.isPresent()) {
                return Optional.of("unavailable: " + why.get());
            }
            if (backend == Backend.REFERENCE && device.isGpu() && c.scoreElements() > REFERENCE_LIMIT) {
                return Optional.of("skipped: REFERENCE is a readable yardstick, run only where B*H*Nq*Nk <= 2^24");
            }
            return Optional.empty();
        }

        @Override
        void forward(BenchCase c, Inputs in) {
            // the output alone, as a model's inference asks for it (fwd+bwd times forward and backward)
            FlashAttention.attention(in.q(), in.k(), in.v(), options(c));
        }

        @Override
        Object forwardForBackward(BenchCase c, Inputs in) {
            // the backward reuses O and LSE: no autograd graph is wanted (it would cost REFERENCE and SDPA)
            JniUtils.setGradMode(false);
            return FlashAttention.forward(in.q(), in.k(), in.v(), options(c));
        }

        @Override
        void backward(BenchCase c, Inputs in, Object state) {
            FlashAttention.backward(in.dOut(), in.q(), in.k(), in.v(), (AttentionResult) state, options(c));
        }
    }

    /**
     * PyTorch's attention kernels through DJL: a TorchScript module, generated here and loaded by
     * DJL, that calls one {@code aten} op (each forces one SDPA backend) or {@code
     * torch.scaled_dot_product_attention} (PyTorch's own choice). The backward is PyTorch autograd
     * through that op ({@code JniUtils.backward}).
     */
    static final class Aten extends Impl {

        enum Kind {
            FLASH("sdpa-flash", "aten::_scaled_dot_product_flash_attention (PyTorch's FlashAttention-2 kernels)"),
            CUDNN("sdpa-cudnn", "aten::_scaled_dot_product_cudnn_attention (cuDNN fused attention)"),
            EFFICIENT(
                    "sdpa-efficient",
                    "aten::_scaled_dot_product_efficient_attention (memory-efficient kernels);"
                            + " with GQA, k and v are first repeated to Hq heads, as SDPA does for this kernel"),
            MATH(
                    "sdpa-math",
                    "aten::_scaled_dot_product_attention_math (PyTorch's composite matmul-softmax-matmul;"
                            + " float32 inside for half inputs)"),
            AUTO("sdpa-auto", "torch.scaled_dot_product_attention, PyTorch choosing the kernel");

            final String cli;
            final String code;

            Kind(String cli, String code) {
                this.cli = cli;
                this.code = code;
            }
        }

        static final String CLASS_NAME = "BenchAttention";

        private final Kind kind;
        private final DataType dtype;
        private final boolean bfloat16;

        Aten(Kind kind, DataType dtype, boolean bfloat16) {
            super(
                    kind.cli,
                    kind.code + ", TorchScript generated in Java and run by DJL; backward by PyTorch autograd"
                            + (bfloat16 ? "; q, k, v cast to bfloat16 inside, the output back to float32" : ""));
            this.kind = kind;
            this.dtype = dtype;
            this.bfloat16 = bfloat16;
        }

        /**
         * The TorchScript source ({@code code/__torch__.py}) of the module; with {@code bfloat16} it casts q, k, v
         * to bfloat16 and the output back to float32 (what autocast does around the op).
         */
        static String source(Kind kind, boolean causal, boolean bfloat16) {
            String isCausal = causal ? "True" : "False";
            StringBuilder s = new StringBuilder();
            s.append("class ").append(CLASS_NAME).append("(Module):\n");
            s.append("  __parameters__ = []\n");
            s.append("  training : bool\n");
            s.append("  def forward(self: __torch__.").append(CLASS_NAME).append(",\n");
            s.append("    q: Tensor,\n    k: Tensor,\n    v: Tensor) -> Tensor:\n");
            s.append("    gqa = torch.size(q, 1) != torch.size(k, 1)\n");
            s.append("    need_lse = q.requires_grad\n");
            if (bfloat16) {
                s.append("    q = torch.to(q, 15)\n    k = torch.to(k, 15)\n    v = torch.to(v, 15)\n");
            }
            switch (kind) {
                case FLASH:
                    s.append("    out = (torch._scaled_dot_product_flash_attention(q, k, v, 0., ")
                            .append(isCausal)
                            .append(", False, scale=None))[0]\n");
                    break;
                case CUDNN:
                    s.append("    out = (torch._scaled_dot_product_cudnn_attention(q, k, v, None, need_lse, 0., ")
                            .append(isCausal)
                            .append(", False, scale=None))[0]\n");
                    break;
                case EFFICIENT:
                    s.append("    g = torch.size(q, 1) // torch.size(k, 1)\n");
                    s.append("    k1 = k\n    v1 = v\n");
                    s.append("    if gqa:\n");
                    s.append("      k1 = torch.repeat_interleave(k, g, 1)\n");
                    s.append("      v1 = torch.repeat_interleave(v, g, 1)\n");
                    s.append("    out = (torch._scaled_dot_product_efficient_attention(q, k1, v1, None, need_lse, 0., ")
                            .append(isCausal)
                            .append(", scale=None))[0]\n");
                    break;
                case MATH:
                    s.append("    out = (torch._scaled_dot_product_attention_math(q, k, v, None, 0., ")
                            .append(isCausal)
                            .append(", None, scale=None, enable_gqa=gqa))[0]\n");
                    break;
                case AUTO:
                    s.append("    out = torch.scaled_dot_product_attention(q, k, v, None, 0., ")
                            .append(isCausal)
                            .append(", scale=None, enable_gqa=gqa)\n");
                    break;
                default:
                    throw new IllegalArgumentException(kind.toString());
            }
            s.append(bfloat16 ? "    return torch.to(out, 6)\n" : "    return out\n");
            return s.toString();
        }

        private PtSymbolBlock module(boolean causal, Device device) {
            return TorchScriptModules.get(device, CLASS_NAME, source(kind, causal, bfloat16), name);
        }

        @Override
        Optional<String> notRun(BenchCase c, Device device) {
            module(c.causal(), device); // compiles the generated code on every machine
            if (kind != Kind.AUTO && kind != Kind.MATH && !device.isGpu()) {
                return Optional.of("unsupported: this PyTorch kernel runs on CUDA only");
            }
            if ((kind == Kind.FLASH || kind == Kind.CUDNN) && dtype == DataType.FLOAT32 && !bfloat16) {
                return Optional.of("unsupported: this PyTorch kernel takes 16-bit data (--precision bfloat16 casts"
                        + " float32 data for it)");
            }
            if (kind == Kind.MATH && dense(c)) {
                return Optional.of(denseSkip(c));
            }
            return Optional.empty();
        }

        private NDArray run(BenchCase c, NDArray q, NDArray k, NDArray v) {
            PtSymbolBlock m = module(c.causal(), q.getDevice());
            // DJL's training call mode: autograd follows the thread's grad mode, default stream
            return IValueUtils.forward(m, new NDList(q, k, v), true).get(0);
        }

        @Override
        void forward(BenchCase c, Inputs in) {
            run(c, in.q(), in.k(), in.v());
        }

        @Override
        Object forwardForBackward(BenchCase c, Inputs in) {
            return run(c, leaf(in.q()), leaf(in.k()), leaf(in.v()));
        }

        @Override
        void backward(BenchCase c, Inputs in, Object state) {
            JniUtils.backward((PtNDArray) state, (PtNDArray) in.dOut(), false, false);
        }
    }

    /** Naive attention in DJL NDArray ops: the full score matrix in the input dtype. */
    static final class Naive extends Impl {

        private BenchCase biasCase;
        private NDArray bias;

        Naive() {
            super(
                    "naive",
                    "naive attention in DJL NDArray ops: matMul(q*scale, k^T) (+ causal -inf bias), softmax,"
                            + " matMul(p, v); the Nq x Nk scores in the input dtype; backward by PyTorch autograd");
        }

        @Override
        void endCase() {
            if (bias != null) {
                bias.close();
                bias = null;
            }
        }

        @Override
        Optional<String> notRun(BenchCase c, Device device) {
            return dense(c) ? Optional.of(denseSkip(c)) : Optional.empty();
        }

        /** The causal bias [Nq, Nk] (0 or -inf), made once per case outside the timed calls. */
        private NDArray bias(BenchCase c, NDArray q) {
            if (!c.equals(biasCase) || bias == null || !bias.getDevice().equals(q.getDevice())) {
                if (bias != null) {
                    bias.close();
                }
                NDManager m = q.getManager();
                NDArray rows = m.arange(c.nq()).reshape(c.nq(), 1);
                NDArray cols = m.arange(c.nk()).reshape(1, c.nk());
                NDArray hidden = cols.gt(rows);
                // DJL's where does not broadcast: full-size operands
                NDArray minusInf = m.full(new Shape(c.nq(), c.nk()), Float.NEGATIVE_INFINITY, q.getDataType());
                NDArray zero = m.zeros(new Shape(c.nq(), c.nk()), q.getDataType());
                bias = NDArrays.where(hidden, minusInf, zero);
                bias.detach(); // outlives the caller's scope until the next case
                ai.djl.ndarray.NDScope.unregister(bias);
                for (NDArray a : new NDArray[] {rows, cols, hidden, minusInf, zero}) {
                    a.close();
                }
                biasCase = c;
            }
            return bias;
        }

        private NDArray attend(BenchCase c, NDArray q, NDArray k, NDArray v) {
            NDArray causalBias = c.causal() ? bias(c, q) : null;
            int g = c.hq() / c.hkv();
            NDArray qs = q.mul(OwnedScalar.like(q, 1.0 / Math.sqrt(c.d()))); // autograd keeps the factor
            NDArray s;
            if (g == 1) {
                s = qs.matMul(k.transpose(0, 1, 3, 2));
            } else {
                s = qs.reshape(c.b(), c.hkv(), g, c.nq(), c.d())
                        .matMul(k.expandDims(2).transpose(0, 1, 2, 4, 3));
            }
            qs.close();
            if (causalBias != null) {
                NDArray masked = s.add(causalBias);
                s.close();
                s = masked;
            }
            NDArray p = s.softmax(-1);
            s.close(); // what autograd saved stays alive; the rest is freed now, as eager PyTorch would
            NDArray o = p.matMul(g == 1 ? v : v.expandDims(2));
            p.close();
            return g == 1 ? o : o.reshape(c.b(), c.hq(), c.nq(), c.d());
        }

        @Override
        void forward(BenchCase c, Inputs in) {
            attend(c, in.q(), in.k(), in.v());
        }

        @Override
        Object forwardForBackward(BenchCase c, Inputs in) {
            return attend(c, leaf(in.q()), leaf(in.k()), leaf(in.v()));
        }

        @Override
        void backward(BenchCase c, Inputs in, Object state) {
            JniUtils.backward((PtNDArray) state, (PtNDArray) in.dOut(), false, false);
        }
    }
}
