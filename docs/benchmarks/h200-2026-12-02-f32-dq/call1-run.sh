set -u
R=$(pwd)/.device/r1
L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $L/gpu.txt 2>&1
timeout 80 python3 check_kernels.py $R/N.cubin --dtype f32 --seed 5101 > $L/check-kernels-n.log 2>&1
timeout 60 python3 check_bias.py $R/N.cubin --dtype f32 --seed 5102 > $L/check-bias-n.log 2>&1
timeout 60 python3 check_sequences.py $R/N.cubin --dtype f32 --seed 5103 > $L/check-seq-n.log 2>&1; snap
tail -n 1 $L/check-*.log
timeout 90 python3 f32_error_study.py $R/N.cubin --seeds 30 --d 32,64,128 --deterministic > $L/err-det-n.log 2>&1; snap
tail -n 14 $L/err-det-n.log
for c in H N; do timeout 90 python3 bench_deterministic.py $R/$c.cubin --dtype f32 --d 32,64,128 --n 1024,4096,16384 --reps 10 > $L/det-$c.log 2>&1; snap; done
paste <(tail -n 18 $L/det-H.log | cut -c1-80) <(tail -n 18 $L/det-N.log | cut -d'|' -f6-7)
for c in H N; do timeout 70 python3 bench_deterministic.py $R/$c.cubin --dtype f32 --d 32,64 --n 1024,4096 --reps 10 --bias key-pad,docs,alibi --seed 7 > $L/det-bias-$c.log 2>&1; snap; done
paste <(grep -E "key-pad|docs|alibi" $L/det-bias-H.log | cut -c1-80) <(grep -E "key-pad|docs|alibi" $L/det-bias-N.log | cut -d'|' -f6-7)
for c in N M64; do timeout 75 python3 bench_bias.py $R/$c.cubin --dtype float32 --d 64 --n 1024,4096 --window-n 0 --reps 10 --seed 5 > $L/bias-$c.log 2>&1; snap; done
grep "^| 64" $L/bias-N.log; grep "^| 64" $L/bias-M64.log
