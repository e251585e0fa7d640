package io.flashdjl.cuda;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;

/**
 * The device address of a DJL PyTorch NDArray's data, read through DJL's package-private JNI
 * ({@code PyTorchLibrary.torchDirectByteBuffer}, a direct buffer over {@code tensor.data_ptr()} on
 * any device). This is the only place that reaches into DJL's internals; if DJL changes them it
 * fails here with a message that says so. The JNI methods are bound once as method handles on DJL's library
 * object, so a read costs the JNI call itself (a call reads three addresses or more).
 */
final class NDArrayMemory {

    private static final String LIBRARY = "ai.djl.pytorch.jni.PyTorchLibrary";

    // (long handle) -> ByteBuffer, boolean, long: bound to DJL's library object
    private static final MethodHandle DIRECT_BUFFER;
    private static final MethodHandle IS_CONTIGUOUS;
    private static final MethodHandle TO_CONTIGUOUS;
    private static final String FAILURE;

    static {
        MethodHandle direct = null;
        MethodHandle contiguous = null;
        MethodHandle toContiguous = null;
        String failure = null;
        try {
            Class<?> c = Class.forName(LIBRARY);
            Field f = c.getDeclaredField("LIB");
            f.setAccessible(true);
            Object lib = f.get(null);
            direct = bind(c, lib, "torchDirectByteBuffer", ByteBuffer.class);
            contiguous = bind(c, lib, "torchIsContiguous", boolean.class);
            toContiguous = bind(c, lib, "torchToContiguous", long.class);
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            failure = "cannot reach " + LIBRARY
                    + ".torchDirectByteBuffer/torchIsContiguous/torchToContiguous in this DJL version (" + e
                    + "); flash-djl-cuda was built against DJL 0.35.1";
        }
        DIRECT_BUFFER = direct;
        IS_CONTIGUOUS = contiguous;
        TO_CONTIGUOUS = toContiguous;
        FAILURE = failure;
    }

    /** DJL's {@code lib.name(long handle)}, of return type {@code returns}, as a handle of that exact type. */
    private static MethodHandle bind(Class<?> library, Object lib, String name, Class<?> returns)
            throws ReflectiveOperationException {
        Method m = library.getDeclaredMethod(name, long.class);
        if (m.getReturnType() != returns) {
            throw new NoSuchMethodException(name + " returns " + m.getReturnType() + ", expected " + returns);
        }
        m.setAccessible(true);
        return MethodHandles.lookup().unreflect(m).bindTo(lib).asType(MethodType.methodType(returns, long.class));
    }

    private NDArrayMemory() {}

    /** Why device addresses cannot be read, or null if they can. */
    static String unavailableReason() {
        return FAILURE;
    }

    /** Whether the array's memory is dense in row-major order. */
    static boolean isContiguous(NDArray array) {
        return isContiguous(handle(array));
    }

    /** A dense row-major copy of a strided view, in the same manager (its own manager frees it). */
    static NDArray contiguousCopy(NDArray array) {
        PtNDArray a = (PtNDArray) array;
        requireReachable();
        long handle = a.getHandle(); // unboxed: invokeExact takes the handle's exact type, long
        long copy;
        try {
            copy = (long) TO_CONTIGUOUS.invokeExact(handle);
        } catch (Throwable e) {
            throw failed("torchToContiguous", e);
        }
        return new PtNDArray(a.getManager(), copy);
    }

    /**
     * The device address of the first element.
     *
     * @throws IllegalArgumentException if the array is not a contiguous PyTorch-engine array
     */
    static long address(String name, NDArray array) {
        long handle = handle(array);
        if (!isContiguous(handle)) {
            throw new IllegalArgumentException(
                    name + ": expected a contiguous array but got a strided view of shape " + array.getShape());
        }
        ByteBuffer buffer;
        try {
            buffer = (ByteBuffer) DIRECT_BUFFER.invokeExact(handle);
        } catch (Throwable e) {
            throw failed("torchDirectByteBuffer", e);
        }
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

    private static boolean isContiguous(long handle) {
        requireReachable();
        try {
            return (boolean) IS_CONTIGUOUS.invokeExact(handle);
        } catch (Throwable e) {
            throw failed("torchIsContiguous", e);
        }
    }

    private static void requireReachable() {
        if (FAILURE != null) {
            throw new IllegalStateException(FAILURE);
        }
    }

    private static RuntimeException failed(String method, Throwable e) {
        if (e instanceof Error) {
            throw (Error) e;
        }
        return e instanceof RuntimeException
                ? (RuntimeException) e
                : new IllegalStateException("DJL's " + method + " failed: " + e, e);
    }
}
