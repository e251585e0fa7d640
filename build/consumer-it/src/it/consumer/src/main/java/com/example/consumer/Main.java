package com.example.consumer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;

/**
 * What a user does first: attention on CPU arrays through flash-djl, checked against softmax(q k^T / sqrt(d)) v
 * written in DJL ops. Exits non-zero when they disagree.
 */
public final class Main {

    private Main() {}

    /**
     * Runs the check.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        try (NDManager manager = NDManager.newBaseManager()) {
            manager.getEngine().setRandomSeed(7);
            NDArray q = manager.randomNormal(new Shape(1, 2, 33, 16));
            NDArray k = manager.randomNormal(new Shape(1, 2, 40, 16));
            NDArray v = manager.randomNormal(new Shape(1, 2, 40, 16));
            AttentionOptions reference =
                    AttentionOptions.builder().optBackend(Backend.REFERENCE).build();
            NDArray flash = FlashAttention.forward(q, k, v, reference).output();

            NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)).div(Math.sqrt(16));
            NDArray naive = scores.softmax(-1).matMul(v);
            double error =
                    flash.sub(naive).abs().max().toType(DataType.FLOAT64, false).getDouble();
            double checksum = flash.sum().toType(DataType.FLOAT64, false).getDouble();
            System.out.printf(
                    "flash-djl consumer: REFERENCE output checksum %.6f, max error vs naive %.2e%n", checksum, error);
            String cuda = FlashAttention.unavailableReason(Backend.CUDA).orElse("available");
            System.out.println("flash-djl consumer: CUDA backend: "
                    + cuda.lines().findFirst().orElse(cuda));
            if (!(error <= 1e-5)) {
                throw new AssertionError("flash-djl and naive attention disagree: max abs error " + error);
            }
        }
    }
}
