package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What CI (no GPU) can check of {@link KernelTimer}: its states and misuse errors, and that a run without
 * launches touches no CUDA (no events, zero time). Its launches are timed in {@code CudaKernelTimerTest}.
 */
class KernelTimerTest {

    @AfterEach
    void noTimerLeftActive() {
        assertNull(KernelTimer.ACTIVE.get(), "a test left a KernelTimer active on the thread");
    }

    @Test
    void aRunWithoutLaunchesTimesNothing() {
        try (KernelTimer timer = new KernelTimer()) {
            assertFalse(timer.isRunning());
            assertNull(KernelTimer.ACTIVE.get(), "a new timer is inactive");
            timer.start();
            assertTrue(timer.isRunning());
            assertSame(timer, KernelTimer.ACTIVE.get(), "the launches of this thread see the running timer");
            assertEquals(new KernelTimer.Timing(0, 0), timer.stop());
            assertFalse(timer.isRunning());
            assertNull(KernelTimer.ACTIVE.get(), "stop() deactivates it");
            timer.start(); // a timer is reusable
            assertEquals(new KernelTimer.Timing(0, 0), timer.stop());
        }
    }

    @Test
    void stopWithoutStartIsRefused() {
        try (KernelTimer timer = new KernelTimer()) {
            IllegalStateException e = assertThrows(IllegalStateException.class, timer::stop);
            assertEquals("stop() of a KernelTimer that is not running: start() it", e.getMessage());
            timer.start();
            timer.stop();
            assertThrows(IllegalStateException.class, timer::stop, "a second stop()");
        }
    }

    @Test
    void timersDoNotNest() {
        try (KernelTimer outer = new KernelTimer();
                KernelTimer inner = new KernelTimer()) {
            outer.start();
            IllegalStateException e = assertThrows(IllegalStateException.class, inner::start);
            assertTrue(e.getMessage().contains("timers do not nest"), e.getMessage());
            assertFalse(inner.isRunning());
            e = assertThrows(IllegalStateException.class, outer::start);
            assertTrue(e.getMessage().contains("already running"), e.getMessage());
            assertSame(outer, KernelTimer.ACTIVE.get(), "the refused starts left the running timer active");
            outer.stop();
            inner.start(); // one after the other is fine
            inner.stop();
        }
    }

    @Test
    void closeStopsARunningTimerAndEndsIt() {
        KernelTimer timer = new KernelTimer();
        timer.start();
        timer.close();
        assertFalse(timer.isRunning());
        assertNull(KernelTimer.ACTIVE.get(), "close() deactivates a running timer");
        timer.close(); // twice is fine
        assertEquals(
                "this KernelTimer is closed",
                assertThrows(IllegalStateException.class, timer::start).getMessage());
        assertEquals(
                "this KernelTimer is closed",
                assertThrows(IllegalStateException.class, timer::stop).getMessage());
    }

    @Test
    void aTimerBelongsToTheThreadThatStartedIt() throws Exception {
        ExecutorService other = Executors.newSingleThreadExecutor();
        try (KernelTimer timer = new KernelTimer()) {
            timer.start();
            Future<Object> seen = other.submit(() -> KernelTimer.ACTIVE.get());
            assertNull(seen.get(), "another thread's launches are not timed");
            for (Future<?> misuse : new Future<?>[] {other.submit(timer::stop), other.submit(timer::close)}) {
                Exception e = assertThrows(Exception.class, misuse::get);
                assertTrue(e.getCause() instanceof IllegalStateException, e.toString());
                assertTrue(
                        e.getCause()
                                .getMessage()
                                .contains("it runs on thread "
                                        + Thread.currentThread().getName()),
                        e.getCause().getMessage());
            }
            assertTrue(timer.isRunning(), "the refused calls left it running here");
            assertEquals(0, timer.stop().launches());
        } finally {
            other.shutdownNow();
        }
    }
}
