set -u
R=$(pwd)/.device/od; LOGS=$OUT/logs; mkdir -p $LOGS
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/before.fatbin $R/after.fatbin > $LOGS/fatbins.txt
cd flash-djl-cuda/src/test/python
# after: the Maven fatbin with the turn awaited before the item is staged; before: call 3's (b70598aa...)
timeout 100 python3 check_kernels.py $R/after.fatbin --d 64,96,128 --dtype bf16 --seed 20265 > $LOGS/check-kernels-bf16.log 2>&1; snap
timeout 60 python3 check_kernels.py $R/after.fatbin --d 64,128 --dtype f16 --quick --seed 20266 > $LOGS/check-kernels-f16.log 2>&1; snap
timeout 200 python3 bench_deterministic.py $R/after.fatbin --before $R/before.fatbin --before-mode ordered --d 64,96,128 --n 1024,4096,16384 --reps 10 > $LOGS/det-after-before.log 2>&1; snap
for f in $LOGS/check-*.log; do echo "$(basename $f): $(tail -n 1 $f)"; done
grep "^| [0-9]" $LOGS/det-after-before.log; tail -n 3 $LOGS/det-after-before.log | grep -i "error\|Trace"
