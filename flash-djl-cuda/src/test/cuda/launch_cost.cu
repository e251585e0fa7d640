// launch_cost.cu - the host cost of the driver calls a flash-djl call makes, measured in C on the device, so that
// the Java figures (HostCostProbe, the latency grid) can be set against the driver's own floor. Not a test: it
// prints microseconds per operation. Build: nvcc -O2 -arch=sm_90 -o launch_cost launch_cost.cu -lcuda
//
// Each operation runs in bursts of BURST with the GPU drained between bursts (not timed), so that launches queue
// without blocking and the clock sees host work only; the figure is the median over ROUNDS bursts.
#include <cuda.h>
#include <cuda_runtime.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#define CK(x) do { CUresult r_ = (x); if (r_ != CUDA_SUCCESS) { std::printf("%s: %d\n", #x, (int)r_); std::exit(1); } } while (0)
#define RK(x) do { cudaError_t r_ = (x); if (r_ != cudaSuccess) { std::printf("%s: %s\n", #x, cudaGetErrorString(r_)); std::exit(1); } } while (0)

constexpr int BURST = 40;
constexpr int ROUNDS = 200;

struct Big {  // about the size of flash-djl's backward parameter block with four tensor maps
  unsigned char bytes[1024];
};

__global__ void empty_kernel() {}
__global__ void big_kernel(const __grid_constant__ Big p) {
  if (p.bytes[threadIdx.x] == 255 && blockIdx.x == 1 << 30) printf("never\n");
}
__global__ void smem_kernel(const __grid_constant__ Big p) {
  extern __shared__ unsigned char s[];
  if (p.bytes[threadIdx.x] == 255 && blockIdx.x == 1 << 30) s[threadIdx.x] = 1;
}

static double median_us(const std::function<void()>& op) {
  std::vector<double> v;
  for (int r = 0; r < ROUNDS + 5; ++r) {
    RK(cudaDeviceSynchronize());
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < BURST; ++i) op();
    auto t1 = std::chrono::steady_clock::now();
    if (r >= 5) v.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / BURST);
  }
  RK(cudaDeviceSynchronize());
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main() {
  RK(cudaFree(0));
  CUcontext ctx;
  CK(cuCtxGetCurrent(&ctx));
  CUfunction fe, fb, fs;
  RK(cudaGetFuncBySymbol(reinterpret_cast<cudaFunction_t*>(&fe), (const void*)empty_kernel));
  RK(cudaGetFuncBySymbol(reinterpret_cast<cudaFunction_t*>(&fb), (const void*)big_kernel));
  RK(cudaGetFuncBySymbol(reinterpret_cast<cudaFunction_t*>(&fs), (const void*)smem_kernel));
  const int smem = 200 * 1024;
  CK(cuFuncSetAttribute(fs, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem));
  Big big{};
  void* args[] = {&big};
  CUevent ev;
  CK(cuEventCreate(&ev, CU_EVENT_DEFAULT));

  std::printf("operation | us per operation (median of %d bursts of %d)\n--- | ---:\n", ROUNDS, BURST);
  std::printf("cuCtxSetCurrent | %.2f\n", median_us([&] { CK(cuCtxSetCurrent(ctx)); }));
  std::printf("cuEventRecord (null stream) | %.2f\n", median_us([&] { CK(cuEventRecord(ev, nullptr)); }));
  std::printf("cuLaunchKernel, empty kernel, 1 block | %.2f\n",
              median_us([&] { CK(cuLaunchKernel(fe, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr)); }));
  std::printf("cuLaunchKernel, 1 KiB parameter, 132 blocks x 384 | %.2f\n",
              median_us([&] { CK(cuLaunchKernel(fb, 132, 1, 1, 384, 1, 1, 0, nullptr, args, nullptr)); }));
  std::printf("cuLaunchKernel, 1 KiB parameter, 200 KiB dynamic smem | %.2f\n",
              median_us([&] { CK(cuLaunchKernel(fs, 132, 1, 1, 384, 1, 1, smem, nullptr, args, nullptr)); }));
  std::printf("cudaMallocAsync + cudaFreeAsync, 1 MiB (null stream) | %.2f\n", median_us([&] {
                void* p;
                RK(cudaMallocAsync(&p, 1 << 20, nullptr));
                RK(cudaFreeAsync(p, nullptr));
              }));

  // three kernels in one graph: their parameters set per call (as a call's new addresses would be), one launch
  CUgraph g;
  CK(cuGraphCreate(&g, 0));
  CUDA_KERNEL_NODE_PARAMS np{};
  np.func = fb;
  np.gridDimX = 132; np.gridDimY = 1; np.gridDimZ = 1;
  np.blockDimX = 384; np.blockDimY = 1; np.blockDimZ = 1;
  np.kernelParams = args;
  CUgraphNode nodes[3];
  for (int i = 0; i < 3; ++i) CK(cuGraphAddKernelNode(&nodes[i], g, i ? &nodes[i - 1] : nullptr, i ? 1 : 0, &np));
  CUgraphExec ge;
  CK(cuGraphInstantiate(&ge, g, 0));
  std::printf("three launches, 1 KiB parameter each | %.2f\n", median_us([&] {
                for (int i = 0; i < 3; ++i) CK(cuLaunchKernel(fb, 132, 1, 1, 384, 1, 1, 0, nullptr, args, nullptr));
              }));
  std::printf("graph of three: three cuGraphExecKernelNodeSetParams + cuGraphLaunch | %.2f\n", median_us([&] {
                for (int i = 0; i < 3; ++i) CK(cuGraphExecKernelNodeSetParams(ge, nodes[i], &np));
                CK(cuGraphLaunch(ge, nullptr));
              }));
  std::printf("graph of three: cuGraphLaunch alone | %.2f\n", median_us([&] { CK(cuGraphLaunch(ge, nullptr)); }));

  // from an idle GPU: an event recorded, the operation, an event; the pair's GPU time is what the GPU waited plus
  // what it ran (median of 200)
  CUevent a, b;
  CK(cuEventCreate(&a, CU_EVENT_DEFAULT));
  CK(cuEventCreate(&b, CU_EVENT_DEFAULT));
  auto idle = [&](const std::function<void()>& op) {
    std::vector<float> t;
    for (int r = 0; r < 205; ++r) {
      RK(cudaDeviceSynchronize());
      CK(cuEventRecord(a, nullptr));
      op();
      CK(cuEventRecord(b, nullptr));
      CK(cuEventSynchronize(b));
      float ms;
      CK(cuEventElapsedTime(&ms, a, b));
      if (r >= 5) t.push_back(ms * 1000);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  std::printf("event, empty launch, event from an idle GPU: GPU time between the events | %.2f\n",
              idle([&] { CK(cuLaunchKernel(fe, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr)); }));
  std::printf("idle GPU, events around three launches | %.2f\n", idle([&] {
                for (int i = 0; i < 3; ++i) CK(cuLaunchKernel(fb, 132, 1, 1, 384, 1, 1, 0, nullptr, args, nullptr));
              }));
  std::printf("idle GPU, events around the graph of three, nodes set | %.2f\n", idle([&] {
                for (int i = 0; i < 3; ++i) CK(cuGraphExecKernelNodeSetParams(ge, nodes[i], &np));
                CK(cuGraphLaunch(ge, nullptr));
              }));
  std::printf("idle GPU, events around the graph of three, nodes unchanged | %.2f\n",
              idle([&] { CK(cuGraphLaunch(ge, nullptr)); }));
  std::printf("idle GPU, events around one launch (1 KiB parameter) | %.2f\n",
              idle([&] { CK(cuLaunchKernel(fb, 132, 1, 1, 384, 1, 1, 0, nullptr, args, nullptr)); }));
  char name[256];
  CUdevice dev;
  CK(cuCtxGetDevice(&dev));
  CK(cuDeviceGetName(name, sizeof name, dev));
  std::printf("\ndevice: %s\n", name);
  return 0;
}
