package io.flashdjl.cuda;

import jcuda.driver.CUresult;

/** A CUDA driver call failed; the message names the kernel, the problem and the CUDA error. */
public final class CudaException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int result;

    CudaException(String kernel, String problem, String call, int result) {
        super((kernel == null ? "" : kernel + ": ") + call + " failed with " + CUresult.stringFor(result)
                + " (" + result + ")" + (problem == null ? "" : " for " + problem));
        this.result = result;
    }

    /** The {@code CUresult} code. */
    public int result() {
        return result;
    }
}
