package io.flashdjl.sdpa;

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
 * The loaded SDPA modules, one per device and source, loaded on first use and kept for the life
 * of the JVM (a handful at most: three band forms times the scales and accumulation types in use).
 * Safe to use from several threads: libtorch runs one module from several threads at once.
 */
final class SdpaModuleCache {

    private static final Logger logger = LoggerFactory.getLogger(SdpaModuleCache.class);

    private record Key(Device device, SdpaModuleSource source) {}

    private final Map<Key, PtSymbolBlock> modules = new ConcurrentHashMap<>();

    /** Owns the modules of one device; never closed, as the modules live as long as the cache. */
    private final Map<Device, PtNDManager> managers = new ConcurrentHashMap<>();

    /**
     * The module for that device and source, loading it if needed.
     *
     * @throws IllegalStateException if libtorch cannot load or compile the generated TorchScript
     */
    PtSymbolBlock get(Device device, SdpaModuleSource source) {
        return modules.computeIfAbsent(new Key(device, source), this::load);
    }

    private PtSymbolBlock load(Key key) {
        String code = key.source().code();
        byte[] archive = TorchScriptArchive.build(SdpaModuleSource.CLASS_NAME, code, true);
        PtNDManager manager =
                managers.computeIfAbsent(key.device(), d -> (PtNDManager) NDManager.newBaseManager(d, "PyTorch"));
        try {
            PtSymbolBlock block = JniUtils.loadModule(manager, new ByteArrayInputStream(archive), true, false);
            logger.debug("SDPA: loaded the TorchScript module for {} on {}", key.source(), key.device());
            return block;
        } catch (EngineException | IOException e) {
            logger.debug("SDPA: libtorch rejected this generated TorchScript:\n{}", code);
            String message = "SDPA: libtorch could not load the generated TorchScript module for " + key.source()
                    + " on " + key.device() + ": " + e.getMessage();
            if (logger.isDebugEnabled()) {
                message += "\n--- code/__torch__.py ---\n" + code;
            }
            throw new IllegalStateException(message, e);
        }
    }
}
