package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class OneLineTest {

    @Test
    void aNativeLoadFailureBecomesItsFirstLineAndRootCause() {
        String jcuda = String.join(
                "\n",
                "the CUDA driver or JCuda's native library did not load"
                        + " (Error while loading native library \"JCudaDriver\"",
                "Operating system name: Linux",
                "---(start of nested stack traces)---",
                "Stack trace from the attempt to load the library as a file:",
                "java.lang.UnsatisfiedLinkError: no JCudaDriver in java.library.path: /usr/lib",
                "\tat java.base/java.lang.ClassLoader.loadLibrary(ClassLoader.java:2434)",
                "Stack trace from the attempt to load the library as a resource:",
                "java.lang.UnsatisfiedLinkError: /tmp/libJCudaDriver.so: libcuda.so.1: cannot open shared object file",
                "\tat java.base/jdk.internal.loader.NativeLibraries.load(Native Method)",
                "---(end of nested stack traces)---",
                ")");
        assertEquals(
                "the CUDA driver or JCuda's native library did not load (Error while loading native library"
                        + " \"JCudaDriver\" ... UnsatisfiedLinkError: /tmp/libJCudaDriver.so: libcuda.so.1:"
                        + " cannot open shared object file)",
                OneLine.of(jcuda));
    }

    @Test
    void oneLineStaysAsItIs() {
        assertEquals("no CUDA GPU is visible", OneLine.of("no CUDA GPU is visible\n"));
    }
}
