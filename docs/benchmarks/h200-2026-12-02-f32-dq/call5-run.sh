set -u
R=$(pwd)/.device/r5; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
for dt in bfloat16 float16; do
  timeout 90 python3 same_outputs.py $R/H32.cubin $R/F32x.cubin --dtype $dt --d 32 --seed 5501 > $L/same-$dt.log 2>&1; snap
done
tail -n 3 $L/same-*.log
for c in H32 F32x; do
  timeout 90 python3 f32_error_study.py $R/$c.cubin --compute bf16 --shape 2,2,2,17,1023 --mask br --layout bshd --d 20 --seeds 100 > $L/err-bf16-$c.log 2>&1; snap
done
tail -n 6 $L/err-bf16-H32.log $L/err-bf16-F32x.log
