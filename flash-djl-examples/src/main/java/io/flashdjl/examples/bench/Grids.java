package io.flashdjl.examples.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The shape grids of the benchmark, by name. */
final class Grids {

    static final List<String> NAMES = List.of("fa3", "memory", "gqa", "latency", "cpu-smoke");

    private Grids() {}

    /**
     * The cases of one grid.
     *
     * @throws IllegalArgumentException for an unknown name
     */
    static List<BenchCase> of(String name) {
        List<BenchCase> cases = new ArrayList<>();
        switch (name) {
            case "fa3":
                // FlashAttention-3 paper: B*N = 16k tokens, H*d = 2048, N 512..16k, d 64 and 128
                for (int d : new int[] {64, 128}) {
                    for (boolean causal : new boolean[] {false, true}) {
                        for (int n = 512; n <= 16384; n *= 2) {
                            cases.add(new BenchCase(name, 16384 / n, 2048 / d, 2048 / d, n, n, d, causal));
                        }
                    }
                }
                break;
            case "memory":
                // fixed B*H = 16, N doubling to 64k: where the score matrix no longer fits
                for (int n = 1024; n <= 65536; n *= 2) {
                    cases.add(new BenchCase(name, 1, 16, 16, n, n, 64, false));
                }
                break;
            case "gqa":
                // grouped-query attention Hq:Hkv = 8:1 at B*N = 16k, then Nq != Nk (cross attention)
                for (boolean causal : new boolean[] {false, true}) {
                    for (int n : new int[] {1024, 4096, 16384}) {
                        cases.add(new BenchCase(name, 16384 / n, 16, 2, n, n, 128, causal));
                    }
                }
                cases.add(new BenchCase(name, 4, 16, 2, 128, 8192, 128, false));
                cases.add(new BenchCase(name, 4, 16, 2, 1024, 8192, 128, false));
                cases.add(new BenchCase(name, 4, 16, 2, 8192, 1024, 128, false));
                break;
            case "latency":
                // small problems, B=1: where per-call host overhead (Java, JNI, JCuda launches) shows
                for (boolean causal : new boolean[] {false, true}) {
                    for (int n = 128; n <= 1024; n *= 2) {
                        cases.add(new BenchCase(name, 1, 16, 16, n, n, 64, causal));
                    }
                }
                break;
            case "cpu-smoke":
                // tiny shapes for CI on a CPU (float32): checks every code path, not speed
                for (boolean causal : new boolean[] {false, true}) {
                    for (int n : new int[] {32, 64}) {
                        cases.add(new BenchCase(name, 1, 2, 2, n, n, 32, causal));
                    }
                }
                cases.add(new BenchCase(name, 1, 4, 2, 48, 80, 32, false));
                break;
            default:
                throw new IllegalArgumentException("unknown grid '" + name + "'");
        }
        return cases;
    }

    /** Human-readable sizes: 512, 1k, 16k, 64k. */
    static String size(long n) {
        return n >= 1024 && n % 1024 == 0 ? (n / 1024) + "k" : Long.toString(n);
    }

    static String describe(String name) {
        switch (name) {
            case "fa3":
                return "FlashAttention-3 paper grid: B*N = 16k, H*d = 2048, N 512..16k, d 64/128, causal and not";
            case "memory":
                return "memory scaling: B=1, H=16, d=64, N 1k..64k, not causal";
            case "gqa":
                return "grouped-query attention Hq=16, Hkv=2, d=128: B*N = 16k with N 1k/4k/16k,"
                        + " then B=4 with Nq != Nk";
            case "latency":
                return "small-problem latency: B=1, H=16, d=64, N 128..1k";
            case "cpu-smoke":
                return "CPU smoke test: B=1, H=2 (and Hq:Hkv=4:2, Nq=48, Nk=80), d=32, N 32 and 64, float32";
            default:
                return String.format(Locale.ROOT, "grid %s", name);
        }
    }
}
