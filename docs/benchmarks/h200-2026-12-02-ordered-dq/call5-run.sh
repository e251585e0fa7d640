set -u
LOGS=$OUT/logs; mkdir -p $LOGS
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
. .device/env.sh > $LOGS/env.txt 2>&1
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin; B=$(pwd)/.device/od/before.fatbin
sha256sum $F $B > $LOGS/fatbins.txt
cd flash-djl-cuda/src/test/python
# two chains (this build) against call 3's one chain, both ORDERED DQ, one process
timeout 45 python3 check_kernels.py $F --d 64,128 --dtype bf16 --seed 20267 > $LOGS/check-kernels-bf16.log 2>&1; snap
timeout 100 python3 bench_deterministic.py $F --before $B --before-mode ordered --d 64,128 --n 1024,4096,16384 --reps 10 > $LOGS/det-chains.log 2>&1; snap
cd $OLDPWD
echo "check bf16: $(tail -n 1 $LOGS/check-kernels-bf16.log)"
grep "^| [0-9]" $LOGS/det-chains.log; tail -n 3 $LOGS/det-chains.log | grep -i "error\|Trace"
( timeout 300 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $LOGS/gpu-tests.log 2>&1 ); snap
grep -E "tests (successful|failed|aborted|found|started)" $LOGS/gpu-tests.log
grep -B2 -A8 "MethodSource\|AssertionFailed\|JUnitException" $LOGS/gpu-tests.log | head -30
