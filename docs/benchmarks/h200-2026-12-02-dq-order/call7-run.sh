set -u
R=$(pwd)/.device/r5; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/F.fatbin > $L/fatbins.txt
ncu --query-metrics 2>/dev/null | grep -iE "gmma|pipe_tensor|shared" | head -40 > $L/metric-names.txt
cd flash-djl-cuda/src/test/python
for d in 128 64; do
  timeout 100 ncu --clock-control none -k regex:"flash_bwd_dkdv_bf16_hd$d" --launch-count 1 --section SpeedOfLight \
    --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables \
    --section InstructionStats python3 profile_dkdv.py $R/F.fatbin --d $d --n 16384 > $L/ncu-d$d.log 2>&1; snap
done
M=$(grep -oE "sm__pipe_tensor_op_gmma_cycles_active|sm__inst_executed_pipe_tensor_op_gmma|smsp__inst_executed_pipe_tensor_op_gmma|l1tex__data_pipe_lsu_wavefronts_mem_shared|sm__pipe_shared_cycles_active" $L/metric-names.txt | sort -u | tr '\n' ' ')
echo "metrics: $M" > $L/ncu-metrics.log
for d in 128 64; do
  args=""; for m in $M; do args="$args,$m.avg.pct_of_peak_sustained_active,$m.sum"; done
  timeout 60 ncu --clock-control none -k regex:"flash_bwd_dkdv_bf16_hd$d" --launch-count 1 --metrics ${args#,} \
    python3 profile_dkdv.py $R/F.fatbin --d $d --n 16384 >> $L/ncu-metrics.log 2>&1; snap
done
grep -E "Duration|Throughput|Pipe|Shared|pct|Utilization|Issued|Bank" $L/ncu-d128.log | head -40
tail -n 30 $L/ncu-metrics.log
