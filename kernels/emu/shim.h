// CPU emulation of the few CUDA features kernels/coverage.cu uses: blocks run one after
// another, the threads of a block as std::threads; __syncthreads is a barrier, shuffles
// exchange through a per-warp buffer between two warp barriers.
#include <barrier>
#include <thread>
#include <vector>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
struct dim3 { unsigned x = 1, y = 1, z = 1; };
thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
std::barrier<>* g_block_barrier;
std::vector<std::unique_ptr<std::barrier<>>> g_warp_barriers;
uint64_t g_xchg[32][32];
#define __global__
#define __device__
#define __forceinline__
#define __shared__ static
#define DYN_SHARED extern
inline void __syncthreads() { g_block_barrier->arrive_and_wait(); }
template <class T> T min(T a, T b) { return a < b ? a : b; }
template <class T> T max(T a, T b) { return a > b ? a : b; }
template <class T> T shfl(T v, int src_lane_delta, bool up) {
    unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    uint64_t bits = 0; std::memcpy(&bits, &v, sizeof(T));
    g_xchg[warp][lane] = bits;
    g_warp_barriers[warp]->arrive_and_wait();
    int src = up ? (int)lane - src_lane_delta : (int)lane + src_lane_delta;
    T r = v;
    if (src >= 0 && src < 32) std::memcpy(&r, &g_xchg[warp][src], sizeof(T));
    g_warp_barriers[warp]->arrive_and_wait();
    return r;
}
template <class T> T __shfl_up_sync(unsigned, T v, unsigned o) { return shfl(v, o, true); }
template <class T> T __shfl_down_sync(unsigned, T v, unsigned o) { return shfl(v, o, false); }
template <class T> T atomicAdd(T* p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline int atomicMin(int* p, int v) { int o = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (v < o && !__atomic_compare_exchange_n(p, &o, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {} return o; }
inline int atomicMax(int* p, int v) { int o = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (v > o && !__atomic_compare_exchange_n(p, &o, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {} return o; }
// Dynamic shared memory of the two kernels that use it.
unsigned int sh[1 << 16];
unsigned int reached[1 << 16];

template <class F> void launch(unsigned grid, unsigned block, F f) {
    gridDim.x = grid; blockDim.x = block;
    for (unsigned b = 0; b < grid; b++) {
        std::barrier<> bar(block);
        g_block_barrier = &bar;
        g_warp_barriers.clear();
        for (unsigned w = 0; w < block / 32; w++) g_warp_barriers.emplace_back(new std::barrier<>(32));
        std::vector<std::thread> ts;
        for (unsigned t = 0; t < block; t++)
            ts.emplace_back([=] { threadIdx.x = t; blockIdx.x = b; f(); });
        for (auto& t : ts) t.join();
    }
}
