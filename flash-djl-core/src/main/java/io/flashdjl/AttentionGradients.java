package io.flashdjl;

import ai.djl.ndarray.NDArray;

/** Gradients of a scalar loss with respect to q, k and v, each with the shape, dtype and layout of its input. */
public final class AttentionGradients implements AutoCloseable {

    private final NDArray dq;
    private final NDArray dk;
    private final NDArray dv;
    private final Backend backend;

    public AttentionGradients(NDArray dq, NDArray dk, NDArray dv, Backend backend) {
        this.dq = dq;
        this.dk = dk;
        this.dv = dv;
        this.backend = backend;
    }

    public NDArray dq() {
        return dq;
    }

    public NDArray dk() {
        return dk;
    }

    public NDArray dv() {
        return dv;
    }

    /** The backend that computed these gradients (never AUTO). */
    public Backend backend() {
        return backend;
    }

    @Override
    public void close() {
        dq.close();
        dk.close();
        dv.close();
    }
}
