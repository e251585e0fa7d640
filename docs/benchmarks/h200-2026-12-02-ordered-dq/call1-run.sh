set -u
R=$(pwd)/.device/od; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt
sha256sum $R/*.fatbin > $L/fatbins.txt
cd flash-djl-cuda/src/test/python
# O<d>: ORDERED DQ (this branch), bf16 kernels of one head dim; M<d>: main's source, the same build
timeout 60 python3 check_kernels.py $R/O64.fatbin --d 64 --dtype bf16 --seed 20261 > $L/check-kernels-O64.log 2>&1; snap
timeout 60 python3 check_kernels.py $R/O128.fatbin --d 128 --dtype bf16 --seed 20262 > $L/check-kernels-O128.log 2>&1; snap
timeout 60 python3 check_kernels.py $R/O96.fatbin --d 96 --dtype bf16 --seed 20263 > $L/check-kernels-O96.log 2>&1; snap
for d in 64 128 96; do
  timeout 120 python3 bench_deterministic.py $R/O$d.fatbin --d $d --n 1024,4096,16384 --reps 10 > $L/det-O$d.log 2>&1; snap
done
timeout 120 python3 bench_kernels.py $R/O128.fatbin $R/M128.fatbin --d 128 --n 1024,4096,16384 --dtype bf16 --reps 10 > $L/atomic-O128-M128.log 2>&1; snap
timeout 120 python3 bench_kernels.py $R/O64.fatbin $R/M64.fatbin --d 64 --n 1024,4096,16384 --dtype bf16 --reps 10 > $L/atomic-O64-M64.log 2>&1; snap
cat $L/gpu.txt
for f in $L/check-*.log; do echo "$(basename $f): $(grep -c ' ok' $f) ok, $(grep -c FAIL $f) FAIL; $(tail -n 1 $f)"; done
for f in $L/det-*.log; do echo "$(basename $f)"; grep "^| [0-9]" $f; tail -n 2 $f | grep -i "error\|Traceback" ; done
for f in $L/atomic-*.log; do echo "$(basename $f)"; grep -A12 -i "before" $f | grep "^|" | head -14; done
