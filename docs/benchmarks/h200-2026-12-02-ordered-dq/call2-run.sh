set -u
R=$(pwd)/.device/od; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.fatbin > $L/fatbins.txt
cd flash-djl-cuda/src/test/python
# P<d>: the adds on producer warps of their own (two in turn when ordered); M<d>: main's source, same build
for d in 64 128 96; do
  timeout 60 python3 check_kernels.py $R/P$d.fatbin --d $d --dtype bf16 --seed 2027$d > $L/check-kernels-P$d.log 2>&1; snap
done
for d in 64 128 96; do
  timeout 120 python3 bench_deterministic.py $R/P$d.fatbin --d $d --n 1024,4096,16384 --reps 10 > $L/det-P$d.log 2>&1; snap
done
timeout 120 python3 bench_kernels.py $R/P128.fatbin $R/M128.fatbin --d 128 --n 1024,4096,16384 --dtype bf16 --reps 10 > $L/atomic-P128-M128.log 2>&1; snap
timeout 120 python3 bench_kernels.py $R/P64.fatbin $R/M64.fatbin --d 64 --n 1024,4096,16384 --dtype bf16 --reps 10 > $L/atomic-P64-M64.log 2>&1; snap
for b in P M; do timeout 90 python3 bench_bias.py $R/${b}128.fatbin --d 128 --n 4096 --window-n 0 --seed 7 --reps 10 > $L/bias-${b}128.log 2>&1; snap; done
for f in $L/check-*.log; do echo "$(basename $f): $(tail -n 1 $f)"; done
for f in $L/det-*.log; do echo "$(basename $f)"; grep "^| [0-9]" $f; tail -n 3 $f | grep -i "error\|Traceback" ; done
for f in $L/atomic-*.log; do echo "$(basename $f)"; grep "after/before" -A8 $f | grep "^| bf16"; done
for f in $L/bias-*.log; do echo "$(basename $f)"; grep "^|" $f | head -8; done
