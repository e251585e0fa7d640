package io.flashdjl.cuda;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;

/**
 * The device address of a DJL PyTorch NDArray's data, read through DJL's package-private JNI
 * ({@code PyTorchLibrary.torchDirectByteBuffer}, a direct buffer over {@code tensor.data_ptr()} on
 * any device). This is the only place that reaches into DJL's internals; if DJL changes them it
 * fails here with a message that says so.
 */
final class NDArrayMemory {

    private static final String LIBRARY = "ai.djl.pytorch.jni.PyTorchLibrary";

    private static final Object LIB;
    private static final Method DIRECT_BUFFER;
    private static final Method IS_CONTIGUOUS;
    private static final Method TO_CONTIGUOUS;
    private static final String FAILURE;

    static {
        Object lib = null;
        Method direct = null;
        Method contiguous = null;
        Method toContiguous = null;
        String failure = null;
        try {
            Class<?> c = Class.forName(LIBRARY);
            Field f = c.getDeclaredField("LIB");
            f.setAccessible(true);
            lib = f.get(null);
            direct = c.getDeclaredMethod("torchDirectByteBuffer", long.class);
            direct.setAccessible(true);
            contiguous = c.getDeclaredMethod("torchIsContiguous", long.class);
            contiguous.setAccessible(true);
            toContiguous = c.getDeclaredMethod("torchToContiguous", long.class);
            toContiguous.setAccessible(true);
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            failure = "cannot reach " + LIBRARY
                    + ".torchDirectByteBuffer/torchIsContiguous/torchToContiguous in this DJL version (" + e
                    + "); flash-djl-cuda was built against DJL 0.35.1";
        }
        LIB = lib;
        DIRECT_BUFFER = direct;
        IS_CONTIGUOUS = contiguous;
        TO_CONTIGUOUS = toContiguous;
        FAILURE = failure;
    }

    private NDArrayMemory() {}

    /** Why device addresses cannot be read, or null if they can. */
    static String unavailableReason() {
        return FAILURE;
    }

    /** Whether the array's memory is dense in row-major order. */
    static boolean isContiguous(NDArray array) {
        return (Boolean) call(IS_CONTIGUOUS, handle(array));
    }

    /** A dense row-major copy of a strided view, in the same manager (its own manager frees it). */
    static NDArray contiguousCopy(NDArray array) {
        PtNDArray a = (PtNDArray) array;
        long copy = (Long) call(TO_CONTIGUOUS, a.getHandle());
        return new PtNDArray(a.getManager(), copy);
    }

    /**
     * The device address of the first element.
     *
     * @throws IllegalArgumentException if the array is not a contiguous PyTorch-engine array
     */
    static long address(String name, NDArray array) {
        long handle = handle(array);
        if (!(Boolean) call(IS_CONTIGUOUS, handle)) {
            throw new IllegalArgumentException(
                    name + ": expected a contiguous array but got a strided view of shape " + array.getShape());
        }
        ByteBuffer buffer = (ByteBuffer) call(DIRECT_BUFFER, handle);
        long address = Pointer.nativeValue(Native.getDirectBufferPointer(buffer));
        if (address == 0) {
            throw new IllegalStateException(name + ": DJL returned a null data pointer for shape " + array.getShape());
        }
        return address;
    }

    private static long handle(NDArray array) {
        if (!(array instanceof PtNDArray)) {
            throw new IllegalArgumentException("expected an NDArray of DJL's PyTorch engine but got "
                    + array.getClass().getName());
        }
        return ((PtNDArray) array).getHandle();
    }

    private static Object call(Method m, long handle) {
        if (FAILURE != null) {
            throw new IllegalStateException(FAILURE);
        }
        try {
            return m.invoke(LIB, handle);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("DJL's " + m.getName() + " failed: " + e.getCause(), e);
        }
    }
}
