set -u
R=$(pwd)/.device/r8; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/* > $L/files.txt
cd flash-djl-cuda/src/test/python
timeout 120 python3 bench_kernels.py $R/N128.cubin $R/H128.cubin --dtype bf16,f16 --d 128 --n 4096,16384 --reps 10 --rounds 3 > $L/bench-128-ab.log 2>&1; snap
timeout 200 python3 bench_kernels.py $R/F.fatbin --d 64,96,128,192,256 --n 512,1024,2048,4096,8192,16384 --dtype bf16,f16 --reps 10 > $L/grid2.log 2>&1; snap
python3 bench_bars.py $L/grid2.log > $L/bars2.txt 2>&1; snap
grep -A12 "after/before fwd" $L/bench-128-ab.log | tail -11
cat $L/bars2.txt
