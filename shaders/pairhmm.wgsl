// Read x haplotype alignment costs of `kasane call` for the wgpu backend, the WGSL twin of
// kernels/pairhmm.cu (engine/src/backend/pairhmm.rs documents the model and the layout): one
// invocation per pair, an integer Viterbi pair-HMM in phred units over one DP row kept in the
// scratch buffer. u32 additions and minima only, so results are bit-identical with the CPU
// reference `pair_cost`.

struct Params {
    first: u32,
    n: u32,
    gap_ext: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> seqs: array<u32>;
@group(0) @binding(2) var<storage, read> items: array<u32>;
@group(0) @binding(3) var<storage, read> pairs: array<u32>;
@group(0) @binding(4) var<storage, read> scratch_off: array<u32>;
@group(0) @binding(5) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(6) var<storage, read_write> outp: array<u32>;

const INF: u32 = 268435456u;

fn min3(a: u32, b: u32, c: u32) -> u32 {
    return min(min(a, b), c);
}

@compute @workgroup_size(64)
fn pair_costs(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = (wg.x + wg.y * P.groups_x) * 64u + li;
    if (t >= P.n) {
        return;
    }
    let p = P.first + t;
    let ri = pairs[2u * p];
    let hi = pairs[2u * p + 1u];
    let ro = items[2u * ri];
    let rlen = items[2u * ri + 1u];
    let ho = items[2u * hi];
    let h = items[2u * hi + 1u];
    let m = scratch_off[t];
    let ins = m + h + 1u;
    let del = ins + h + 1u;
    for (var j = 0u; j <= h; j++) {
        scratch[m + j] = 0u;
        scratch[ins + j] = INF;
        scratch[del + j] = INF;
    }
    var hgo0 = 0u;
    if (h > 0u) {
        hgo0 = seqs[ho] >> 8u;
    }
    for (var i = 0u; i < rlen; i++) {
        let rb = seqs[ro + i];
        let rcode = rb & 0xffu;
        let rcost = (rb >> 8u) & 0xffu;
        let rgo = rb >> 16u;
        let go0 = min(hgo0, rgo);
        var dm = scratch[m];
        var di = scratch[ins];
        var dd = scratch[del];
        scratch[m] = INF;
        scratch[ins] = min3(dm + go0, di + P.gap_ext, INF);
        scratch[del] = INF;
        var lm = INF;
        var ld = INF;
        for (var j = 1u; j <= h; j++) {
            let hb = seqs[ho + j - 1u];
            let hcode = hb & 0xffu;
            let go = min(hb >> 8u, rgo);
            var emit = rcost;
            if (rcode == hcode || rcode == 4u || hcode == 4u) {
                emit = 0u;
            }
            let um = scratch[m + j];
            let ui = scratch[ins + j];
            let ud = scratch[del + j];
            let nm = min(min3(dm, di, dd) + emit, INF);
            let ni = min3(um + go, ui + P.gap_ext, INF);
            let nd = min3(lm + go, ld + P.gap_ext, INF);
            scratch[m + j] = nm;
            scratch[ins + j] = ni;
            scratch[del + j] = nd;
            lm = nm;
            ld = nd;
            dm = um;
            di = ui;
            dd = ud;
        }
    }
    var best = INF;
    if (rlen == 0u) {
        best = 0u;
    } else {
        for (var j = 0u; j <= h; j++) {
            best = min3(best, scratch[m + j], scratch[ins + j]);
        }
    }
    outp[t] = best;
}
