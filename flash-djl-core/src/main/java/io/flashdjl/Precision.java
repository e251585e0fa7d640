package io.flashdjl;

import java.util.Locale;

/**
 * How precisely the matrix products inside attention are computed: a choice for float32 data, which is
 * what DJL models train in.
 *
 * <p>{@link #FULL} is the default. {@link #BFLOAT16} is the explicit trade of accuracy for tensor-core
 * speed that PyTorch's autocast makes, without leaving float32 arrays: DJL has no bfloat16 dtype, so
 * the rounding happens inside the kernels.
 */
public enum Precision {
    /**
     * As accurate as the data type: float32 data gets float32 accuracy, float16 data is multiplied in
     * float16 with float32 accumulation (the only way float16 data is computed).
     */
    FULL,
    /**
     * float32 data, bfloat16 products: q, k, v, the output gradient and the softmax probabilities are
     * rounded to bfloat16 (nearest even) where they enter a matrix product; accumulation, softmax, the
     * log-sum-exp, the output and the gradients stay float32. Results carry bfloat16's error (about
     * 3 significant digits) and are judged against PyTorch attention run in bfloat16. float32 data only.
     */
    BFLOAT16;

    /**
     * Parses a precision name, ignoring case.
     *
     * @param name FULL or BFLOAT16, in any case
     * @return the precision of that name
     * @throws IllegalArgumentException naming the argument and the accepted names
     */
    public static Precision parse(String name) {
        if (name != null) {
            for (Precision p : values()) {
                if (p.name().equals(name.trim().toUpperCase(Locale.ROOT))) {
                    return p;
                }
            }
        }
        throw new IllegalArgumentException(
                "precision: expected one of FULL, BFLOAT16 but got " + (name == null ? "null" : "'" + name + "'"));
    }
}
