#!/bin/bash
# call 4: GPU tests after the launcher's row-tile helper change (same fatbin af2fd382)
set -u
LOGS=$OUT/logs; mkdir -p $LOGS
. .device/env.sh > $LOGS/env.txt 2>&1
sha256sum .device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin > $LOGS/fatbins.txt
timeout 300 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $LOGS/gpu-tests.txt 2>&1
echo "gpu tests rc=$?"
grep -E "tests (successful|failed|found|started|aborted)" $LOGS/gpu-tests.txt
