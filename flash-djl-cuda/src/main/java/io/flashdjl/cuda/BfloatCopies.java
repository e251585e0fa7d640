package io.flashdjl.cuda;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;

/**
 * The bfloat16 copies of float32 operands that the mixed kernels ({@link KernelDtype#F32_BF16}) read, made by
 * the cast kernel on the device: dense BHSD scratch with rows padded to a multiple of 8 columns (zeros), so
 * the 16-bit kernels take any head dimension. The scratch is held in DJL float16 arrays, since DJL has no
 * bfloat16 dtype; the bits are bfloat16 and never leave this class.
 */
final class BfloatCopies {

    private static final String CAST_KERNEL = "flash_cast_f32_bf16";

    private final CudaKernels kernels;
    private final NDManager manager;
    private final CudaKernels.Launches launches;
    private final List<NDArray> copies = new ArrayList<>();

    /**
     * @param manager where the scratch is allocated (on the inputs' device)
     * @param launches the call's launches, where the casts are queued ahead of the kernels that read the copies
     */
    BfloatCopies(CudaKernels kernels, NDManager manager, CudaKernels.Launches launches) {
        this.kernels = kernels;
        this.manager = manager;
        this.launches = launches;
    }

    /**
     * Queues the cast of one float32 tensor (on the call's launches) and returns the kernel argument of its copy.
     *
     * @param name the argument's name, for error messages
     * @param source the float32 tensor
     */
    KernelParams.Tensor of(String name, KernelParams.Tensor source, long batch, long heads, long seq, long headDim) {
        long padded = (headDim + 7) / 8 * 8;
        NDArray copy = manager.create(new Shape(batch, heads, seq, padded), DataType.FLOAT16);
        copies.add(copy);
        KernelParams.Strides dense = new KernelParams.Strides(heads * seq * padded, seq * padded, padded);
        KernelParams.Tensor target =
                new KernelParams.Tensor(NDArrayMemory.address(name + " (bfloat16 copy)", copy), dense);
        byte[] params = KernelParams.cast(source, target, (int) batch, (int) heads, (int) seq, (int) headDim);
        launches.add(kernels.kernel(CAST_KERNEL), seq, heads, batch, params);
        return target;
    }

    /** Frees the copies; safe once the kernels that read them are submitted (stream-ordered reuse). */
    void release() {
        copies.forEach(NDArray::close);
        copies.clear();
    }
}
