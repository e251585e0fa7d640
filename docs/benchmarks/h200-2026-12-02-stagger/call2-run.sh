#!/bin/bash
# call 2: the Maven build of wip/stagger: DJL JNI, GPU tests, check_kernels bf16/f16, bench_deterministic --stagger both
set -u
R=$(pwd)
LOGS=$OUT/logs; mkdir -p $LOGS $OUT/jni
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
bash .device/djl/jni-build.sh > $LOGS/jni-build.log 2>&1; echo "jni rc=$?"; cp .device/jni/libdjl_torch.so $OUT/jni/ 2>/dev/null
. .device/env.sh > $LOGS/env.txt 2>&1
F=$R/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $F > $LOGS/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $LOGS/gpu.txt 2>&1
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $LOGS/gpu.txt 2>&1
timeout 300 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $LOGS/gpu-tests.txt 2>&1
echo "gpu tests rc=$?"; snap
cd flash-djl-cuda/src/test/python
for dt in bf16 f16; do
  timeout 100 python3 check_kernels.py $F --d 64,96,128 --dtype $dt > $LOGS/check-$dt.txt 2>&1
  echo "check $dt rc=$?: $(tail -1 $LOGS/check-$dt.txt)"
done; snap
timeout 170 python3 bench_deterministic.py $F --d 64,96,128,192,256 --stagger both > $LOGS/deterministic.txt 2>&1
echo "det rc=$?"; snap
grep -E "tests (successful|failed|found|started|aborted)" $LOGS/gpu-tests.txt
grep -B1 -A12 "Failures\|MethodSource.*FAILED" $LOGS/gpu-tests.txt | head -40
grep "^| [0-9]" $LOGS/deterministic.txt
