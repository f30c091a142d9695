// Coverage kernels of kasane's CUDA backend, compiled at run time by NVRTC
// (engine/src/backend/cuda.rs). All arithmetic is integer: additions that may wrap are done on
// unsigned types, so every result is bit-identical with the CPU reference
// (engine/src/backend/cpu.rs, `reduce_depths`).
//
// A contig's differences live in a ring of W slots (W a power of two, `mask` = W - 1); the
// difference of position p is in slot p & mask. A stretch of n <= W positions starting at ring
// slot `base` is turned into final depths by a three-pass scan (tile_sums, scan_tile_offsets,
// scan_tiles), which also zeroes the consumed slots and leaves the depths in `depth[0..n)`.
// The reductions then read `depth`:
//   - change points of depth or of the quantize bin: flags_count, scan_counts, flags_scatter
//     (flag + exclusive scan + scatter, so the order is deterministic);
//   - the histogram: scan_tiles leaves min/max in `minmax`, hist_counts counts over [min, max];
//   - interval sums: interval_sums, one block per segment of at most 65536 bases.
//
// No headers are included, so NVRTC needs nothing but itself.

typedef unsigned int u32;
typedef unsigned long long u64;

// Dynamic shared memory; kernels/emu/shim.h redefines it to run these kernels on the CPU.
#ifndef DYN_SHARED
#define DYN_SHARED extern __shared__
#endif

#define BLOCK 512
#define ITEMS 8
#define TILE (BLOCK * ITEMS)
// Padding of shared-memory tiles: thread t reads ITEMS consecutive words, which without
// padding would put 4 threads of a warp on each bank.
#define PAD(i) ((i) + ((i) >> 5))
#define FULL_MASK 0xffffffffu
#define I32_MAX 0x7fffffff
#define I32_MIN (-I32_MAX - 1)

// Inclusive scan over the block (blockDim.x a multiple of 32, at most 1024). `wt` is shared
// scratch of 32 words. Every thread of the block must call it.
__device__ __forceinline__ u32 block_incl_scan(u32 v, u32* wt) {
    const u32 lane = threadIdx.x & 31u;
    const u32 warp = threadIdx.x >> 5;
    const u32 nwarps = blockDim.x >> 5;
    for (u32 o = 1; o < 32; o <<= 1) {
        u32 y = __shfl_up_sync(FULL_MASK, v, o);
        if (lane >= o) v += y;
    }
    if (lane == 31) wt[warp] = v;
    __syncthreads();
    if (warp == 0) {
        u32 w = lane < nwarps ? wt[lane] : 0u;
        for (u32 o = 1; o < 32; o <<= 1) {
            u32 y = __shfl_up_sync(FULL_MASK, w, o);
            if (lane >= o) w += y;
        }
        wt[lane] = w;
    }
    __syncthreads();
    if (warp > 0) v += wt[warp - 1];
    __syncthreads();
    return v;
}

// Sum over the block; the result is valid in every thread.
__device__ __forceinline__ u32 block_sum(u32 v, u32* wt) {
    for (u32 o = 16; o > 0; o >>= 1) v += __shfl_down_sync(FULL_MASK, v, o);
    const u32 lane = threadIdx.x & 31u;
    const u32 warp = threadIdx.x >> 5;
    if (lane == 0) wt[warp] = v;
    __syncthreads();
    u32 s = 0;
    for (u32 w = 0; w < (blockDim.x >> 5); w++) s += wt[w];
    __syncthreads();
    return s;
}

// Scatter-adds events: ev[0..n_starts) are starts (+1), ev[n_starts..n) ends (-1).
extern "C" __global__ void scatter_events(int* ring, u32 mask, const u32* ev, u32 n_starts, u32 n) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        atomicAdd(&ring[ev[i] & mask], i < n_starts ? 1 : -1);
    }
}

// Pass 1 of the scan: the sum of the differences of each tile of TILE positions.
extern "C" __global__ void tile_sums(const int* ring, u32 mask, u32 base, u32 n, u32* sums) {
    __shared__ u32 wt[32];
    const u32 t0 = blockIdx.x * TILE;
    u32 s = 0;
    for (u32 j = threadIdx.x; j < TILE; j += blockDim.x) {
        u32 i = t0 + j;
        if (i < n) s += (u32)ring[(base + i) & mask];
    }
    s = block_sum(s, wt);
    if (threadIdx.x == 0) sums[blockIdx.x] = s;
}

// Pass 2 (one block): tile sums become the depth before each tile. state[0] is the running
// depth carried across stretches (in: depth before the stretch; out: depth of its last base);
// state[1] receives the depth before the stretch, which the change-point flags compare with.
// Also resets minmax for pass 3.
extern "C" __global__ void scan_tile_offsets(u32* sums, u32 ntiles, int* state, int* minmax) {
    __shared__ u32 wt[32];
    __shared__ u32 carry;
    const int carry_in = state[0];
    if (threadIdx.x == 0) carry = (u32)carry_in;
    __syncthreads();
    for (u32 c = 0; c < ntiles; c += blockDim.x) {
        const u32 i = c + threadIdx.x;
        const u32 v = i < ntiles ? sums[i] : 0u;
        const u32 incl = block_incl_scan(v, wt);
        const u32 before = carry;
        if (i < ntiles) sums[i] = before + incl - v;
        __syncthreads();
        if (threadIdx.x == blockDim.x - 1) carry = before + incl;
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        state[1] = carry_in;
        state[0] = (int)carry;
        minmax[0] = I32_MAX;
        minmax[1] = I32_MIN;
    }
}

// Pass 3: final depths of each tile into depth[], zeroing the ring slots consumed, and the
// stretch's min and max depth into minmax.
extern "C" __global__ void scan_tiles(int* ring, u32 mask, u32 base, u32 n, const u32* offsets,
                                      int* depth, int* minmax) {
    __shared__ u32 buf[PAD(TILE)];
    __shared__ u32 wt[32];
    __shared__ int smin, smax;
    const u32 t0 = blockIdx.x * TILE;
    if (threadIdx.x == 0) {
        smin = I32_MAX;
        smax = I32_MIN;
    }
    for (u32 j = threadIdx.x; j < TILE; j += blockDim.x) {
        const u32 i = t0 + j;
        u32 v = 0;
        if (i < n) {
            const u32 slot = (base + i) & mask;
            v = (u32)ring[slot];
            ring[slot] = 0;
        }
        buf[PAD(j)] = v;
    }
    __syncthreads();
    u32 loc[ITEMS];
    u32 s = 0;
    for (u32 k = 0; k < ITEMS; k++) {
        s += buf[PAD(threadIdx.x * ITEMS + k)];
        loc[k] = s;
    }
    const u32 incl = block_incl_scan(s, wt);
    const u32 before = incl - s + offsets[blockIdx.x];
    for (u32 k = 0; k < ITEMS; k++) buf[PAD(threadIdx.x * ITEMS + k)] = before + loc[k];
    __syncthreads();
    int mn = I32_MAX, mx = I32_MIN;
    for (u32 j = threadIdx.x; j < TILE; j += blockDim.x) {
        const u32 i = t0 + j;
        if (i < n) {
            const int d = (int)buf[PAD(j)];
            depth[i] = d;
            mn = min(mn, d);
            mx = max(mx, d);
        }
    }
    for (u32 o = 16; o > 0; o >>= 1) {
        mn = min(mn, __shfl_down_sync(FULL_MASK, mn, o));
        mx = max(mx, __shfl_down_sync(FULL_MASK, mx, o));
    }
    if ((threadIdx.x & 31u) == 0) {
        atomicMin(&smin, mn);
        atomicMax(&smax, mx);
    }
    __syncthreads();
    if (threadIdx.x == 0 && t0 < n) {
        atomicMin(&minmax[0], smin);
        atomicMax(&minmax[1], smax);
    }
}

// The quantize bin of a depth, exactly as `quantize_bin` in engine/src/coverage/stats.rs
// computes it (on 64-bit integers): -1 outside every bin.
__device__ __forceinline__ int qbin(int v, const long long* q, u32 nq) {
    const long long x = (long long)v;
    if (x < q[0] || x > q[nq - 1]) return -1;
    for (u32 i = 0; i < nq; i++) {
        if (q[i] > x) return (int)i - 1;
        if (q[i] == x) return (int)i;
    }
    return (int)nq - 1;
}

// mode 0: the value is the depth; mode 1: its quantize bin.
__device__ __forceinline__ int value_of(int d, u32 mode, const long long* q, u32 nq) {
    return mode ? qbin(d, q, nq) : d;
}

// Whether position i of the stretch starts a run: the first position of a reduce call always
// does (`first`); the first of a later piece compares with the depth before it (state[1]).
__device__ __forceinline__ u32 is_change(const int* depth, u32 i, u32 first, int prev, u32 mode,
                                         const long long* q, u32 nq, int* val) {
    const int v = value_of(depth[i], mode, q, nq);
    *val = v;
    if (i == 0) return first ? 1u : (u32)(v != value_of(prev, mode, q, nq));
    return (u32)(v != value_of(depth[i - 1], mode, q, nq));
}

// Change points per tile.
extern "C" __global__ void flags_count(const int* depth, u32 n, const int* state, u32 first,
                                       u32 mode, const long long* q, u32 nq, u32* counts) {
    __shared__ u32 wt[32];
    const u32 t0 = blockIdx.x * TILE;
    const int prev = state[1];
    u32 c = 0;
    int v;
    for (u32 j = threadIdx.x; j < TILE; j += blockDim.x) {
        const u32 i = t0 + j;
        if (i < n) c += is_change(depth, i, first, prev, mode, q, nq, &v);
    }
    c = block_sum(c, wt);
    if (threadIdx.x == 0) counts[blockIdx.x] = c;
}

// Exclusive scan of the per-tile counts (one block); total[0] receives their sum.
extern "C" __global__ void scan_counts(u32* counts, u32 ntiles, u32* total) {
    __shared__ u32 wt[32];
    __shared__ u32 carry;
    if (threadIdx.x == 0) carry = 0;
    __syncthreads();
    for (u32 c = 0; c < ntiles; c += blockDim.x) {
        const u32 i = c + threadIdx.x;
        const u32 v = i < ntiles ? counts[i] : 0u;
        const u32 incl = block_incl_scan(v, wt);
        const u32 before = carry;
        if (i < ntiles) counts[i] = before + incl - v;
        __syncthreads();
        if (threadIdx.x == blockDim.x - 1) carry = before + incl;
        __syncthreads();
    }
    if (threadIdx.x == 0) total[0] = carry;
}

// Writes the change points (position, value) in order, each tile from its scanned offset.
extern "C" __global__ void flags_scatter(const int* depth, u32 n, const int* state, u32 first,
                                         u32 mode, const long long* q, u32 nq, u32 from,
                                         const u32* offsets, u32* out_pos, int* out_val) {
    __shared__ u32 wt[32];
    const u32 t0 = blockIdx.x * TILE + threadIdx.x * ITEMS;
    const int prev = state[1];
    u32 flags = 0;
    int vals[ITEMS];
    u32 c = 0;
    for (u32 k = 0; k < ITEMS; k++) {
        const u32 i = t0 + k;
        vals[k] = 0;
        if (i < n && is_change(depth, i, first, prev, mode, q, nq, &vals[k])) {
            flags |= 1u << k;
            c++;
        }
    }
    const u32 incl = block_incl_scan(c, wt);
    u32 at = offsets[blockIdx.x] + incl - c;
    for (u32 k = 0; k < ITEMS; k++) {
        if (flags & (1u << k)) {
            out_pos[at] = from + t0 + k;
            out_val[at] = vals[k];
            at++;
        }
    }
}

// Histogram of depth[0..n) over [minv, minv + nbins); counts must be zeroed. With use_shared,
// counts are first gathered per block in nbins words of dynamic shared memory.
extern "C" __global__ void hist_counts(const int* depth, u32 n, int minv, u32 nbins,
                                       u32 use_shared, u32* counts) {
    DYN_SHARED u32 sh[];
    const u32 stride = gridDim.x * blockDim.x;
    if (use_shared) {
        for (u32 j = threadIdx.x; j < nbins; j += blockDim.x) sh[j] = 0;
        __syncthreads();
        for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
            atomicAdd(&sh[(u32)depth[i] - (u32)minv], 1u);
        }
        __syncthreads();
        for (u32 j = threadIdx.x; j < nbins; j += blockDim.x) {
            const u32 v = sh[j];
            if (v) atomicAdd(&counts[j], v);
        }
    } else {
        for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
            atomicAdd(&counts[(u32)depth[i] - (u32)minv], 1u);
        }
    }
}

// Sums of segments [segs[2s], segs[2s+1]) of depth[]: per segment, out[s * (4 + nthr) ..] =
// sum (low word, high word; wrapping 64-bit), min and max (depths as u32), then for each
// threshold k the bases with depth >= thr[k] (as the CPU counts them: thresholds in order,
// stopping at the first one not reached; a negative depth reaches none). Dynamic shared memory:
// nthr + 1 words.
extern "C" __global__ void interval_sums(const int* depth, const u32* segs, u32 nsegs,
                                         const u32* thr, u32 nthr, u32* out) {
    DYN_SHARED u32 reached[];  // reached[c]: bases reaching exactly c leading thresholds
    __shared__ u64 wsum[32];
    __shared__ u32 wmin[32], wmax[32];
    const u32 lane = threadIdx.x & 31u;
    const u32 warp = threadIdx.x >> 5;
    const u32 nwarps = blockDim.x >> 5;
    for (u32 s = blockIdx.x; s < nsegs; s += gridDim.x) {
        const u32 a = segs[2 * s], b = segs[2 * s + 1];
        for (u32 j = threadIdx.x; j <= nthr; j += blockDim.x) reached[j] = 0;
        __syncthreads();
        u64 sum = 0;
        u32 mn = 0xffffffffu, mx = 0;
        for (u32 i = a + threadIdx.x; i < b; i += blockDim.x) {
            const int v = depth[i];
            const u32 u = (u32)v;
            sum += (u64)(long long)v;
            mn = min(mn, u);
            mx = max(mx, u);
            u32 c = 0;
            if (v >= 0) {
                while (c < nthr && u >= thr[c]) c++;
            }
            if (c) atomicAdd(&reached[c], 1u);
        }
        for (u32 o = 16; o > 0; o >>= 1) {
            sum += __shfl_down_sync(FULL_MASK, sum, o);
            mn = min(mn, __shfl_down_sync(FULL_MASK, mn, o));
            mx = max(mx, __shfl_down_sync(FULL_MASK, mx, o));
        }
        if (lane == 0) {
            wsum[warp] = sum;
            wmin[warp] = mn;
            wmax[warp] = mx;
        }
        __syncthreads();
        u32* o = out + (u64)s * (4u + nthr);
        if (threadIdx.x == 0) {
            u64 ts = 0;
            u32 tmn = 0xffffffffu, tmx = 0;
            for (u32 w = 0; w < nwarps; w++) {
                ts += wsum[w];
                tmn = min(tmn, wmin[w]);
                tmx = max(tmx, wmax[w]);
            }
            o[0] = (u32)ts;
            o[1] = (u32)(ts >> 32);
            o[2] = tmn;
            o[3] = tmx;
        }
        for (u32 k = threadIdx.x; k < nthr; k += blockDim.x) {
            u32 above = 0;
            for (u32 c = k + 1; c <= nthr; c++) above += reached[c];
            o[4 + k] = above;
        }
        __syncthreads();
    }
}
