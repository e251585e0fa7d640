package io.flashdjl.cuda;

/**
 * The bfloat16 copies of float32 operands that the mixed kernels ({@link KernelDtype#F32_BF16}) read, made by
 * the cast kernel on the device: dense BHSD copies with rows padded to a multiple of 8 columns (zeros), so
 * the 16-bit kernels take any head dimension. The copies are laid one after the other in device memory the caller
 * owns (one DJL array for a call's copies: each array DJL makes costs 3 us of host time), each 16-byte aligned,
 * since a padded row is a multiple of 16 bytes. DJL has no bfloat16 dtype; the bits are bfloat16 and never leave
 * this package.
 */
final class BfloatCopies {

    private static final String CAST_KERNEL = "flash_cast_f32_bf16";

    private final CudaKernels kernels;
    private final CudaKernels.Launches launches;
    private final long end;
    private long next;

    /**
     * @param launches the call's launches, where the casts are queued ahead of the kernels that read the copies
     * @param address where the copies go (16-byte aligned)
     * @param bytes the room there: at least the sum of {@link #bytes} over the copies to be made
     */
    BfloatCopies(CudaKernels kernels, CudaKernels.Launches launches, long address, long bytes) {
        this.kernels = kernels;
        this.launches = launches;
        this.next = address;
        this.end = address + bytes;
    }

    /** The bytes of one copy of a {@code [batch, heads, seq, headDim]} operand (a multiple of 16). */
    static long bytes(long batch, long heads, long seq, long headDim) {
        return 2 * batch * heads * seq * paddedColumns(headDim);
    }

    /** The columns of a copy's rows: the head dimension padded to 8. */
    static long paddedColumns(long headDim) {
        return (headDim + 7) / 8 * 8;
    }

    /**
     * Queues the cast of one float32 tensor (on the call's launches) into the next free copy and returns the kernel
     * argument of that copy.
     *
     * @param source the float32 tensor
     */
    KernelParams.Tensor of(KernelParams.Tensor source, long batch, long heads, long seq, long headDim) {
        long size = bytes(batch, heads, seq, headDim);
        if (next + size > end) {
            throw new IllegalStateException("the bfloat16 copies overrun their memory by " + (next + size - end)
                    + " bytes"); // a sizing bug of the caller, never the user's input
        }
        long padded = paddedColumns(headDim);
        KernelParams.Strides dense = new KernelParams.Strides(heads * seq * padded, seq * padded, padded);
        KernelParams.Tensor target = new KernelParams.Tensor(next, dense);
        next += size;
        byte[] params = KernelParams.cast(source, target, (int) batch, (int) heads, (int) seq, (int) headDim);
        launches.add(kernels.kernel(CAST_KERNEL), seq, heads, batch, params);
        return target;
    }
}
