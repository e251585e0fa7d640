package io.flashdjl.spi;

import ai.djl.Device;
import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.JniUtils;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TorchScript modules that flash-djl generates (source text, {@link TorchScriptArchive}), loaded by libtorch
 * once per device and source and kept for the life of the JVM: a handful at most. Safe to use from several
 * threads: libtorch runs one module from several threads at once.
 */
public final class TorchScriptModules {

    private static final Logger logger = LoggerFactory.getLogger(TorchScriptModules.class);

    private record Key(Device device, String className, String source) {}

    private static final Map<Key, PtSymbolBlock> MODULES = new ConcurrentHashMap<>();

    /** Owns the modules of one device; never closed, as the modules live as long as the JVM. */
    private static final Map<Device, PtNDManager> MANAGERS = new ConcurrentHashMap<>();

    private TorchScriptModules() {}

    /**
     * The module for that device and source, loading it if needed.
     *
     * @param device the device the module runs on
     * @param className the module's class, as the source defines it
     * @param source the contents of {@code code/__torch__.py}
     * @param what what the module is, for messages
     * @return the loaded module
     * @throws IllegalStateException if libtorch cannot load or compile the source
     */
    public static PtSymbolBlock get(Device device, String className, String source, String what) {
        return MODULES.computeIfAbsent(new Key(device, className, source), key -> load(key, what));
    }

    private static PtSymbolBlock load(Key key, String what) {
        byte[] archive = TorchScriptArchive.build(key.className(), key.source(), true);
        PtNDManager manager =
                MANAGERS.computeIfAbsent(key.device(), d -> (PtNDManager) NDManager.newBaseManager(d, "PyTorch"));
        try {
            PtSymbolBlock block = JniUtils.loadModule(manager, new ByteArrayInputStream(archive), true, false);
            logger.debug("loaded the TorchScript module for {} on {}", what, key.device());
            return block;
        } catch (EngineException | IOException e) {
            logger.debug("libtorch rejected this generated TorchScript:\n{}", key.source());
            String message = "libtorch could not load the generated TorchScript module for " + what + " on "
                    + key.device() + ": " + e.getMessage();
            if (logger.isDebugEnabled()) {
                message += "\n--- code/__torch__.py ---\n" + key.source();
            }
            throw new IllegalStateException(message, e);
        }
    }
}
