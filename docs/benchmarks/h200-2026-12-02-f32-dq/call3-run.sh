set -u
R=$(pwd)/.device/r3; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin $R/*.fatbin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
# the branch-free mma.sync backward (BR) against the head's (H): d = 32 on sm_90a, d = 64 on the compute_80 PTX path
timeout 70 python3 check_kernels.py $R/BR32.cubin --dtype bf16 --d 32 --seed 5301 > $L/check-kernels-br32.log 2>&1
timeout 90 python3 check_bias.py $R/BR32.cubin --d 32 --seed 5302 > $L/check-bias-br32.log 2>&1
timeout 60 python3 check_bias.py $R/B32.cubin --dtype f32 --d 32 --seed 5304 > $L/check-bias-b32-f32.log 2>&1; snap
tail -n 1 $L/check-*.log
for r in 1 2; do for c in BR32 H32; do
  timeout 60 python3 bench_bias.py $R/$c.cubin --d 32 --n 1024,4096 --window-n 0 --reps 10 --seed 5 > $L/bias32-$c-$r.log 2>&1; snap
done; done
paste <(grep "^| 32" $L/bias32-H32-1.log | cut -d'|' -f2-5) <(grep "^| 32" $L/bias32-BR32-1.log | cut -d'|' -f5) <(grep "^| 32" $L/bias32-H32-2.log | cut -d'|' -f5) <(grep "^| 32" $L/bias32-BR32-2.log | cut -d'|' -f5)
timeout 150 python3 check_bias.py $R/BR80.fatbin --d 64 --seed 5303 > $L/check-bias-br80.log 2>&1; snap
tail -n 3 $L/check-bias-br80.log
for c in BR80 H80; do
  timeout 90 python3 bench_bias.py $R/$c.fatbin --d 64 --n 1024,4096 --window-n 0 --reps 10 --seed 5 > $L/bias80-$c.log 2>&1; snap
done
paste <(grep "^| 64" $L/bias80-H80.log | cut -d'|' -f2-5) <(grep "^| 64" $L/bias80-BR80.log | cut -d'|' -f5)
