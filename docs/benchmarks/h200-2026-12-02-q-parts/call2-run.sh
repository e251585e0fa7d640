set -u
R=$(pwd)/.device/s15c2; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
Q=$R/Q.cubin; W=$R/W1.cubin
sha256sum $Q $W > $L/cubins.txt
nvidia-smi --query-gpu=name,driver_version --format=csv > $L/gpu.txt 2>&1
cd flash-djl-cuda/src/test/python
# checks first, under timeout: a miscounted barrier hangs
timeout 80 python3 check_kernels.py $Q --d 64,96,128,192,256 --dtype bf16 --seed 16101 > $L/check-kernels-bf16.log 2>&1; snap
tail -n 1 $L/check-kernels-bf16.log
if grep -q " 0 failed" $L/check-kernels-bf16.log; then
FLASH_TMA=never timeout 30 python3 check_kernels.py $Q --d 96 --dtype bf16 --seed 16102 > $L/check-kernels-96-notma.log 2>&1; snap
FLASH_FWD_FORM=long timeout 30 python3 check_kernels.py $Q --d 64 --dtype bf16 --seed 16103 > $L/check-kernels-64-long.log 2>&1; snap
for n in 512 1024 2048 16384; do
  timeout 70 python3 bench_kernels.py $Q $W --dtype bf16 --d 64,96,128,192,256 --n $n --reps 10 --rounds 2 > $L/bench-Q-W-bf16-$n.log 2>&1; snap
done
timeout 70 python3 check_kernels.py $Q --d 64,96,128,192,256 --dtype f16 --seed 16104 > $L/check-kernels-f16.log 2>&1; snap
timeout 60 python3 check_sequences.py $Q --dtype bf16 --seed 16105 > $L/check-seq.log 2>&1; snap
timeout 60 python3 check_bias.py $Q --d 96,128 --seed 16106 > $L/check-bias.log 2>&1; snap
timeout 40 python3 check_dropout.py $Q --seed 16107 > $L/check-dropout.log 2>&1; snap
timeout 70 python3 bench_kernels.py $Q $W --dtype f16 --d 64,128,256 --n 512,1024 --reps 10 --rounds 2 > $L/bench-Q-W-f16.log 2>&1; snap
timeout 90 ncu --clock-control none -k regex:flash_fwd --launch-count 1 --section SpeedOfLight --section WarpStateStats \
    -o $L/rep-q-512 python3 profile_dkdv.py $Q --d 128 --n 512 > $L/ncu-run-q-512.log 2>&1
ncu -i $L/rep-q-512.ncu-rep --page details --print-details all > $L/details-q-512.txt 2>&1; rm -f $L/rep-q-512.ncu-rep; snap
fi
tail -qn 1 $L/check-*.log
grep -h "Duration\|Tensor (All)\|Long Scoreboard\|Warp Cycles Per Issued" $L/details-q-512.txt
for f in $L/bench-*.log; do echo "$(basename $f)"; sed -n '/after\/before fwd/,$p' $f | grep -v -- '---'; done
