set -u
R=$(pwd)/.device/s16c7; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
for f in $R/*.gz; do gunzip -kf $f; done; N=$R/N.fatbin
sha256sum $N $R/*.cubin > $L/fatbins.txt
cd flash-djl-cuda/src/test/python
# d = 64's wrong dQ (call 6): P64 loads Q and dO before the loop; W1 only S from registers, W2 only dP
for v in P64 W1 W2; do
  timeout 40 python3 check_kernels.py $R/$v.cubin --d 64 --dtype bf16 --seed 17701 > $L/check-kernels-$v.log 2>&1; snap
done
# d = 128 (Q128, correct in call 6): its deterministic backward against main's, same process
timeout 100 python3 bench_deterministic.py $R/Q128.cubin --before $N --d 128 --n 1024,4096,16384 --reps 10 > $L/det-Q128-N.log 2>&1; snap
if tail -n 1 $L/check-kernels-P64.log | grep -q " 0 failed"; then
  timeout 80 python3 bench_deterministic.py $R/P64.cubin --before $N --d 64 --n 1024,4096,16384 --reps 10 > $L/det-P64-N.log 2>&1; snap
fi
for f in $L/check-*.log; do echo "$(basename $f): $(tail -n 1 $f)"; grep -m2 FAIL $f; done
for f in $L/det-*.log; do echo "$(basename $f)"; grep "^| [0-9]" $f; done
