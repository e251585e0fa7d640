package io.flashdjl;

import java.util.Locale;

/** How the four dimensions of q, k, v (and of the output) are ordered. */
public enum Layout {
    /** {@code [batch, heads, sequence, headDim]}: DJL's and PyTorch SDPA's layout. */
    BHSD,
    /** {@code [batch, sequence, heads, headDim]}: what a linear projection produces before a transpose. */
    BSHD;

    /**
     * Parses a layout name, ignoring case.
     *
     * @param name BHSD or BSHD, in any case
     * @return the layout of that name
     * @throws IllegalArgumentException naming the argument and the accepted names
     */
    public static Layout parse(String name) {
        if (name != null) {
            for (Layout l : values()) {
                if (l.name().equals(name.trim().toUpperCase(Locale.ROOT))) {
                    return l;
                }
            }
        }
        throw new IllegalArgumentException(
                "layout: expected one of BHSD, BSHD but got " + (name == null ? "null" : "'" + name + "'"));
    }

    /**
     * Where the sequence dimension is.
     *
     * @return the axis of the sequence dimension
     */
    public int sequenceAxis() {
        return this == BHSD ? 2 : 1;
    }

    /**
     * Where the head dimension is.
     *
     * @return the axis of the head dimension
     */
    public int headAxis() {
        return this == BHSD ? 1 : 2;
    }
}
