package io.flashdjl.cuda;

import jcuda.driver.CUresult;

/** A CUDA driver call failed; the message names the kernel, the problem and the CUDA error. */
public final class CudaException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** The {@code CUresult} code of the failed call (part of the serialized form). */
    private final int result;

    CudaException(String kernel, Object problem, String call, int result) {
        super((kernel == null ? "" : kernel + ": ") + call + " failed with " + CUresult.stringFor(result) + " ("
                + result + ")" + (problem == null ? "" : " for " + problem));
        this.result = result;
    }

    /**
     * The {@code CUresult} code of the failed call.
     *
     * @return the CUDA driver's error code, one of {@link CUresult}'s constants
     */
    public int result() {
        return result;
    }
}
