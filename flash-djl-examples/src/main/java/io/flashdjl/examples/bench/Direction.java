package io.flashdjl.examples.bench;

/** What one timed call computes. */
enum Direction {
    /** The forward pass alone, autograd off. */
    FWD("fwd"),
    /** The backward pass alone, after an untimed forward that keeps what the backward needs. */
    BWD("bwd"),
    /** A forward that keeps what the backward needs, then the backward, timed together. */
    FWD_BWD("fwd+bwd");

    final String label;

    Direction(String label) {
        this.label = label;
    }
}
