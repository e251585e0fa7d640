package io.flashdjl;

import io.flashdjl.spi.AttentionBackend;
import io.flashdjl.spi.AttentionProblem;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The backends found on the class path, and the choice among them for each call. */
final class BackendRegistry {

    private static final Logger logger = LoggerFactory.getLogger(BackendRegistry.class);

    private static final Map<Backend, AttentionBackend> BACKENDS = load();

    /** Fallback reasons already logged at warn level, so a training loop logs each once. */
    private static final Set<String> WARNED = ConcurrentHashMap.newKeySet();

    private BackendRegistry() {}

    private static Map<Backend, AttentionBackend> load() {
        Map<Backend, AttentionBackend> map = new EnumMap<>(Backend.class);
        for (AttentionBackend b : ServiceLoader.load(AttentionBackend.class, BackendRegistry.class.getClassLoader())) {
            if (b.kind() == Backend.AUTO) {
                throw new IllegalStateException(b.getClass().getName() + " declares kind AUTO, which is not a backend");
            }
            map.putIfAbsent(b.kind(), b);
        }
        return map;
    }

    /** The backend of that kind, if it is on the class path. */
    static Optional<AttentionBackend> find(Backend kind) {
        return Optional.ofNullable(BACKENDS.get(kind));
    }

    /**
     * The backend that runs {@code p}: the one the options name, or for AUTO the CUDA backend when
     * it is present and takes the problem, else REFERENCE (SDPA for a precision REFERENCE refuses).
     *
     * @throws UnsupportedOperationException when the named backend is missing or cannot take the
     *     problem, with the backend's reason
     */
    static AttentionBackend select(AttentionProblem p) {
        Backend wanted = p.options().backend();
        if (wanted != Backend.AUTO) {
            return require(wanted, p);
        }
        AttentionBackend cuda = BACKENDS.get(Backend.CUDA);
        String why;
        if (cuda == null) {
            why = "flash-djl-cuda is not on the class path";
        } else {
            why = cuda.unavailableReason().or(() -> cuda.unsupportedReason(p)).orElse(null);
            if (why == null) {
                logger.debug("AUTO chose CUDA for {}", p);
                return cuda;
            }
        }
        // REFERENCE computes in the data type only; SDPA takes the reduced precisions it refuses
        Backend fallback = Backend.REFERENCE;
        AttentionBackend reference = BACKENDS.get(Backend.REFERENCE);
        AttentionBackend sdpa = BACKENDS.get(Backend.SDPA);
        if (reference != null
                && reference.unsupportedReason(p).isPresent()
                && sdpa != null
                && sdpa.unavailableReason().or(() -> sdpa.unsupportedReason(p)).isEmpty()) {
            fallback = Backend.SDPA;
        }
        if (p.device().isGpu()) {
            // a slow path on a GPU deserves a visible line, once per reason
            String line = "AUTO: CUDA backend cannot take " + p + ": " + why + "; running " + fallback + " instead";
            if (WARNED.add(why)) {
                logger.warn(line);
            } else {
                logger.debug(line);
            }
        } else {
            logger.debug("AUTO chose {} for {} (CUDA: {})", fallback, p, why);
        }
        return require(fallback, p);
    }

    /**
     * The backend for a differentiable call that selection gave to CUDA while no flash-aware
     * collector is open: the engine cannot differentiate the kernels' output. AUTO moves to SDPA
     * (differentiable, and fast on a GPU), else REFERENCE; an explicit CUDA request fails.
     */
    static AttentionBackend differentiableInsteadOfCuda(AttentionProblem p) {
        if (p.options().backend() == Backend.CUDA) {
            throw new UnsupportedOperationException(
                    "backend CUDA: its output is not part of the engine's autograd graph,"
                            + " and the engine is recording gradients outside a flash-aware collector; train with"
                            + " FlashTraining.newGradientCollector() (or FlashTraining.trainBatch/fit) instead of DJL's own collector,"
                            + " or choose Backend.SDPA or AUTO");
        }
        AttentionBackend sdpa = BACKENDS.get(Backend.SDPA);
        boolean useSdpa = sdpa != null
                && sdpa.unavailableReason().or(() -> sdpa.unsupportedReason(p)).isEmpty();
        Backend chosen = useSdpa ? Backend.SDPA : Backend.REFERENCE;
        String why =
                "the engine records gradients but no FlashGradientCollector is open (use FlashTraining.newGradientCollector()"
                        + " to train with the CUDA kernels)";
        String line = "AUTO: CUDA output is not differentiable by DJL's own GradientCollector: " + why + "; running "
                + chosen + " instead";
        if (WARNED.add("no-tape:" + chosen)) {
            logger.warn(line);
        } else {
            logger.debug(line);
        }
        return require(chosen, p);
    }

    /** The backend of that kind, checked against the problem. */
    static AttentionBackend require(Backend kind, AttentionProblem p) {
        AttentionBackend b = BACKENDS.get(kind);
        if (b == null) {
            throw new UnsupportedOperationException(
                    "backend " + kind + " is not available: no implementation on the class path"
                            + (kind == Backend.CUDA ? " (add the flash-djl-cuda module)" : ""));
        }
        Optional<String> why = b.unavailableReason().or(() -> b.unsupportedReason(p));
        if (why.isPresent()) {
            throw new UnsupportedOperationException("backend " + kind + " cannot run " + p + ": " + why.get());
        }
        return b;
    }
}
