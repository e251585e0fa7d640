set -u
R=$(pwd)/.device/r3
L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
for a in A1 A2 A3 A4; do
  timeout 100 python3 bench_kernels.py $R/$a.cubin $R/H.cubin --dtype f32 --d 32,64 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-$a.log 2>&1; snap
done
timeout 120 ncu --clock-control none -k regex:flash_bwd_dkdv_f32_hd64 --launch-count 1 --section WarpStateStats \
  --section SourceCounters -o $OUT/pc python3 profile_dkdv.py $R/H.cubin --dtype float32 --d 64 --n 4096 > $L/ncu-pc.log 2>&1
ncu -i $OUT/pc.ncu-rep --page source --csv --print-source sass > $L/pc-h-d64.csv 2>>$L/ncu-pc.log
gzip $L/pc-h-d64.csv; rm -f $OUT/pc.ncu-rep; snap
for a in A1 A2 A3 A4; do echo "== $a"; tail -n 8 $L/bench-$a.log; done
ls -la $L
