package io.flashdjl.cuda;

import java.lang.reflect.Method;
import java.util.List;
import jcuda.NativePointerObject;
import jcuda.driver.CUfunction;

/** A kernel of the fatbin and the launch configuration it declares (its {@code <name>_cfg}, read by CudaKernels). */
final class Kernel {
    final String name;
    final CUfunction function;
    final int threads;
    final int tileRows;
    final int sharedBytes;
    /** 0, or the CTAs per SM of a persistent kernel, which takes the grid's tiles from a queue (flash_params.h). */
    final int persistentPerSm;
    /** The driver's handle of {@code function}, for graph nodes ({@link GraphLaunches}); 0 where it cannot be read. */
    final long functionAddress;

    Kernel(String name, CUfunction function, int threads, int tileRows, int sharedBytes, int persistentPerSm) {
        this.name = name;
        this.function = function;
        this.threads = threads;
        this.tileRows = tileRows;
        this.sharedBytes = sharedBytes;
        this.persistentPerSm = persistentPerSm;
        this.functionAddress = nativeHandle(function);
    }

    /** One launch of a call: the kernel, its grid and its parameter block. */
    record Launch(Kernel kernel, int[] grid, byte[] params) {
        /** The kernels of {@code launches}, in order: the key of their graph. */
        static List<Kernel> kernels(List<Launch> launches) {
            Kernel[] k = new Kernel[launches.size()];
            for (int i = 0; i < k.length; i++) {
                k[i] = launches.get(i).kernel;
            }
            return List.of(k);
        }
    }

    /** The driver's handle behind a JCuda object (JCuda keeps it in a protected method), or 0. */
    private static long nativeHandle(NativePointerObject o) {
        if (o == null) {
            return 0L; // a kernel made by a test without a GPU
        }
        try {
            Method get = NativePointerObject.class.getDeclaredMethod("getNativePointer");
            get.setAccessible(true);
            return (Long) get.invoke(o);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return 0L; // GraphLaunches then launches one by one, and says why
        }
    }
}
