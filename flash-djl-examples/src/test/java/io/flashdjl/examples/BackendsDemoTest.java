package io.flashdjl.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The demo's command line and its console output on a CPU. */
class BackendsDemoTest {

    /** Exit code, stdout, stderr. */
    private static String[] run(String... args) {
        return ProgramOutput.capture(BackendsDemo::run, args);
    }

    @Test
    void helpExitsZeroAndShowsTheDefaults() {
        String[] r = run("--help");
        assertEquals("0", r[0], r[2]);
        for (String s : new String[] {
            "usage: BackendsDemo [options]",
            "--seq N",
            "(default 384)",
            "--dtype T",
            "(default float32)",
            "--repeats R",
            "(default 5)",
            "--cpu",
            "(default off)",
            "--help"
        }) {
            assertTrue(r[1].replaceAll("\\s+", " ").contains(s), "--help lacks '" + s + "':\n" + r[1]);
        }
    }

    @Test
    void aBadNumberNamesItsOption() {
        String[] r = run("--seq", "1k");
        assertEquals("2", r[0]);
        List<String> lines = r[2].lines().collect(Collectors.toList());
        assertEquals("BackendsDemo: --seq: expected a whole number >= 1 but got '1k'", lines.get(0));
        assertEquals(2, lines.size(), r[2]);
    }

    @Test
    void onTheCpuCudaIsNotRunForAReasonGivenInOneLine() {
        String[] r = run(
                "--cpu",
                "--batch",
                "1",
                "--heads",
                "2",
                "--kv-heads",
                "1",
                "--seq",
                "16",
                "--dim",
                "16",
                "--repeats",
                "1");
        assertEquals("0", r[0], r[2]);
        List<String> lines = r[1].lines().collect(Collectors.toList());
        List<String> cuda = lines.stream().filter(l -> l.startsWith("CUDA ")).collect(Collectors.toList());
        assertEquals(1, cuda.size(), r[1]);
        assertTrue(cuda.get(0).matches("CUDA +not run: \\S.*"), cuda.get(0));
        for (String l : lines) {
            assertFalse(l.startsWith("\tat ") || l.contains("Stack trace"), "a stack trace in the output:\n" + r[1]);
        }
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("| REFERENCE |")), r[1]);
        // banner, the CUDA line, a blank line, the table (header, rule, REFERENCE, SDPA), the note
        assertEquals(8, lines.size(), r[1]);
    }
}
