#!/bin/bash
# call 1: STAGGERED STARTS on the harness (bf16 builds of d 64/96/128)
cd flash-djl-cuda/src/test/python
F=$OLDPWD/.device/c1
LOGS=$OUT/logs; mkdir -p $LOGS
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
for d in 64 96 128; do
  timeout 150 python3 check_kernels.py $F/d$d.fatbin --d $d --dtype bf16 > $LOGS/check-d$d.txt 2>&1
  echo "check d$d rc=$?: $(tail -1 $LOGS/check-d$d.txt)"
done
for d in 64 96 128; do
  timeout 200 python3 bench_deterministic.py $F/d$d.fatbin --d $d --stagger both --reps 10 > $LOGS/det-d$d.txt 2>&1
  echo "det d$d rc=$?"
done
for d in 64 128; do
  timeout 120 python3 bench_kernels.py $F/d$d.fatbin $F/d$d-main.fatbin --d $d > $LOGS/kern-d$d.txt 2>&1; echo "kern d$d rc=$?"
done
cat $LOGS/det-d*.txt
grep -h "FAIL\|same" $LOGS/check-d*.txt | head -20
tail -25 $LOGS/kern-d*.txt
