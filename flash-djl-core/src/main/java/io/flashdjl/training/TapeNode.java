package io.flashdjl.training;

/** One step the engine cannot differentiate, recorded during the forward pass. */
interface TapeNode extends AutoCloseable {

    /**
     * Sends this node's output gradient on to its inputs.
     *
     * @return false if no backward pass has reached the node's output yet (it stays on the tape)
     */
    boolean propagate();

    /** Frees what the node holds for its backward pass. */
    @Override
    void close();
}
