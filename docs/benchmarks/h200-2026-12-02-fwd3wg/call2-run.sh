set -u
R=$(pwd)/.device/r2; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
for d in 128 192 256; do for dt in bf16 f16; do timeout 40 python3 check_kernels.py $R/V$d.cubin --d $d --dtype $dt --seed 92$d > $L/check-kernels-V$d-$dt.log 2>&1; done; done
snap; tail -qn 1 $L/check-*.log
FLASH_FWD_FORM=long timeout 90 python3 bench_kernels.py $R/N64.cubin $R/N64.cubin --before-form short --dtype bf16,f16 --d 64 --n 512,1024,2048 --reps 10 --rounds 3 > $L/bench-64-forms.log 2>&1; snap
for d in 128 192 256; do timeout 150 python3 bench_kernels.py $R/V$d.cubin $R/H$d.cubin --dtype bf16,f16 --d $d --n 1024,2048,4096,8192,16384 --reps 10 --rounds 2 > $L/bench-V$d.log 2>&1; snap; done
grep -A16 "after/before fwd" $L/bench-64-forms.log | tail -14
for d in 128 192 256; do grep -A22 "after/before fwd" $L/bench-V$d.log | tail -21; done
