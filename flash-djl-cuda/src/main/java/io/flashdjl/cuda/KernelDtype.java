package io.flashdjl.cuda;

import ai.djl.ndarray.types.DataType;
import io.flashdjl.Precision;
import io.flashdjl.spi.AttentionProblem;

/**
 * Which family of kernels computes a problem: the {@code <dt>} of the kernel names in {@code flash_params.h},
 * decided by the data type and the precision option.
 */
enum KernelDtype {
    /** float16 data on the tensor cores. */
    F16("f16", 8, false),
    /** float32 data computed in float32. */
    F32("f32", 4, false),
    /**
     * float32 data computed in bfloat16 ({@link Precision#BFLOAT16}): the kernels read bfloat16 copies of q, k,
     * v and dOut made by the cast kernel, whose rows are padded to 8 columns, so any head dimension runs.
     */
    F32_BF16("f32bf16", 1, true);

    /** The token in the kernel names. */
    final String token;
    /** The head dimension must be a multiple of this (rows of the data the kernels read directly). */
    final int headDimMultiple;
    /** Whether the inputs are cast to bfloat16 before the kernels run. */
    final boolean castsInputs;

    KernelDtype(String token, int headDimMultiple, boolean castsInputs) {
        this.token = token;
        this.headDimMultiple = headDimMultiple;
        this.castsInputs = castsInputs;
    }

    /** The family for {@code p}, which must be float16 or float32 (the backend refuses other types first). */
    static KernelDtype of(AttentionProblem p) {
        if (p.dataType() == DataType.FLOAT16) {
            return F16;
        }
        return p.options().precision() == Precision.BFLOAT16 ? F32_BF16 : F32;
    }

    /** Whether these kernels compute on 16-bit tensor cores. */
    boolean sixteenBitCompute() {
        return this != F32;
    }
}
