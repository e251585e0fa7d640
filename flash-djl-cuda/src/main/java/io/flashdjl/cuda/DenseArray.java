package io.flashdjl.cuda;

import ai.djl.ndarray.NDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An array the kernels read, with its device address: the caller's array itself, or the dense copy made of a
 * strided or unaligned view.
 */
record DenseArray(NDArray array, long address, boolean copied) {

    private static final Logger logger = LoggerFactory.getLogger(DenseArray.class);

    /**
     * {@code a} itself when it is dense and 16-byte aligned, else a dense copy (logged: a strided
     * view costs a copy because DJL does not expose strides); its address is read once.
     */
    static DenseArray of(String name, NDArray a) {
        if (NDArrayMemory.isContiguous(a)) {
            long address = NDArrayMemory.address(name, a);
            if (address % 16 == 0) {
                return new DenseArray(a, address, false);
            }
        }
        logger.debug("{}: copying a strided or unaligned view of shape {} into dense memory", name, a.getShape());
        NDArray copy = NDArrayMemory.contiguousCopy(a);
        if (NDArrayMemory.address(name, copy) % 16 != 0) {
            NDArray aligned = copy.duplicate();
            copy.close();
            copy = aligned;
        }
        return new DenseArray(copy, NDArrayMemory.address(name, copy), true);
    }

    /** Frees the copy, if one was made; safe once the kernels are queued (stream-ordered reuse). */
    void release() {
        if (copied) {
            array.close();
        }
    }
}
