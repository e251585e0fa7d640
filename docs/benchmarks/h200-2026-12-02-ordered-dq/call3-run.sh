set -u
L=$OUT/logs; mkdir -p $L $OUT/jni
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
bash .device/djl/jni-build.sh > $L/jni-build.log 2>&1; cp .device/jni/libdjl_torch.so $OUT/jni/
. .device/env.sh > $L/env.txt 2>&1
F=.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $F > $L/fatbin.txt
( timeout 300 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1 ); snap
cd flash-djl-cuda/src/test/python
timeout 60 python3 check_kernels.py $OLDPWD/$F --d 64,96,128 --dtype f16 --quick --seed 20264 > $L/check-kernels-f16.log 2>&1; snap
timeout 150 python3 bench_deterministic.py $OLDPWD/$F --d 64,96,128,192,256 --n 1024,4096,16384 --reps 10 > $L/det-maven.log 2>&1; snap
cd $OLDPWD
cat $L/env.txt; tail -n 1 $L/jni-build.log
grep -E "tests (successful|failed|aborted|found|started)" $L/gpu-tests.log
grep -B2 -A8 "MethodSource\|AssertionFailed\|JUnitException" $L/gpu-tests.log | head -30
echo "check f16: $(tail -n 1 $L/check-kernels-f16.log)"
grep "^| [0-9]" $L/det-maven.log; tail -n 3 $L/det-maven.log | grep -i "error\|Trace"
