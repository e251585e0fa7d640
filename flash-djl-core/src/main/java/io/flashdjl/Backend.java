package io.flashdjl;

import java.util.Locale;

/** Which implementation computes attention. */
public enum Backend {
    /** CUDA when it is present and takes the problem, else REFERENCE (logged at debug level). */
    AUTO,
    /** The fused FlashAttention kernels of {@code flash-djl-cuda}. */
    CUDA,
    /** The FlashAttention-2 algorithm in DJL NDArray ops, on any device. */
    REFERENCE,
    /** PyTorch's {@code scaled_dot_product_attention} through the DJL engine: the yardstick. */
    SDPA;

    /**
     * Parses a backend name, ignoring case.
     *
     * @param name AUTO, CUDA, REFERENCE or SDPA, in any case
     * @return the backend of that name
     * @throws IllegalArgumentException naming the argument and the accepted names
     */
    public static Backend parse(String name) {
        if (name != null) {
            for (Backend b : values()) {
                if (b.name().equals(name.trim().toUpperCase(Locale.ROOT))) {
                    return b;
                }
            }
        }
        throw new IllegalArgumentException("backend: expected one of AUTO, CUDA, REFERENCE, SDPA but got "
                + (name == null ? "null" : "'" + name + "'"));
    }
}
