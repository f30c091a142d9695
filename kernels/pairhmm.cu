// Read x haplotype alignment costs of `kasane call` (engine/src/backend/pairhmm.rs documents
// the model and the layout): one thread per pair, an integer Viterbi pair-HMM in phred units
// over one DP row kept in global scratch. Additions and minima of small unsigned integers
// only, so the result is bit-identical with the CPU reference `pair_cost`.
//
// No headers are included, so NVRTC needs nothing but itself.

typedef unsigned int u32;

#define PHMM_INF (1u << 28)

__device__ __forceinline__ u32 umin3(u32 a, u32 b, u32 c) {
    u32 m = a < b ? a : b;
    return m < c ? m : c;
}

// pairs: (read item, hap item) per pair, for pairs [first, first + n);
// scratch_off[p - first]: where pair p's 3 * (hap_len + 1) words start in scratch.
extern "C" __global__ void pair_costs(const u32* __restrict__ seqs, const u32* __restrict__ items,
                                      const u32* __restrict__ pairs, u32 first, u32 n, u32 gap_ext,
                                      const u32* __restrict__ scratch_off, u32* scratch,
                                      u32* out) {
    u32 t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n) return;
    u32 p = first + t;
    u32 ri = pairs[2 * p], hi = pairs[2 * p + 1];
    const u32* read = seqs + items[2 * ri];
    u32 rlen = items[2 * ri + 1];
    const u32* hap = seqs + items[2 * hi];
    u32 h = items[2 * hi + 1];
    u32* m = scratch + scratch_off[t];
    u32* ins = m + (h + 1);
    u32* del = ins + (h + 1);
    for (u32 j = 0; j <= h; j++) {
        m[j] = 0;
        ins[j] = PHMM_INF;
        del[j] = PHMM_INF;
    }
    u32 hgo0 = h > 0 ? (hap[0] >> 8) : 0;
    for (u32 i = 0; i < rlen; i++) {
        u32 rb = read[i];
        u32 rcode = rb & 0xff, rcost = (rb >> 8) & 0xff, rgo = rb >> 16;
        u32 go0 = hgo0 < rgo ? hgo0 : rgo;
        u32 dm = m[0], di = ins[0], dd = del[0];
        m[0] = PHMM_INF;
        ins[0] = umin3(dm + go0, di + gap_ext, PHMM_INF);
        del[0] = PHMM_INF;
        u32 lm = PHMM_INF, ld = PHMM_INF;  // this row's values at column j - 1
        for (u32 j = 1; j <= h; j++) {
            u32 hb = hap[j - 1];
            u32 hcode = hb & 0xff, go = hb >> 8;
            go = go < rgo ? go : rgo;
            u32 emit = (rcode == hcode || rcode == 4 || hcode == 4) ? 0 : rcost;
            u32 um = m[j], ui = ins[j], ud = del[j];
            u32 nm = umin3(dm, di, dd) + emit;
            nm = nm < PHMM_INF ? nm : PHMM_INF;
            u32 ni = umin3(um + go, ui + gap_ext, PHMM_INF);
            u32 nd = umin3(lm + go, ld + gap_ext, PHMM_INF);
            m[j] = nm;
            ins[j] = ni;
            del[j] = nd;
            lm = nm;
            ld = nd;
            dm = um;
            di = ui;
            dd = ud;
        }
    }
    u32 best = PHMM_INF;
    if (rlen == 0) {
        best = 0;
    } else {
        for (u32 j = 0; j <= h; j++) best = umin3(best, m[j], ins[j]);
    }
    out[t] = best;
}
