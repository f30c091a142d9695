// Coverage kernels for the wgpu backend (engine/src/backend/wgpu.rs), the WGSL twin of
// kernels/coverage.cu. Integer arithmetic only, so results are bit-identical with the CPU
// reference (engine/src/backend/cpu.rs, reduce_depths). WGSL has no 64-bit integers: sums are
// carried as (lo, hi) u32 pairs and quantize edges are compared as (hi, lo) pairs.
//
// A contig's depth differences live in `ring` (a power-of-two ring indexed `pos & mask`); a
// piece of `n` positions from ring slot `base` is scanned into `depth`, then reduced.

struct Params {
    mask: u32,
    base: u32,
    n: u32,
    ntiles: u32,
    // Change points: the piece's first base is always listed (first = 1), or compared with
    // the depth before the piece.
    first: u32,
    // 0: change points of depth; 1: of its quantize bin.
    mode: u32,
    nq: u32,
    first_pos: u32,
    // Histogram: counts of depth lo .. lo + nbins.
    lo: i32,
    nbins: u32,
    nsegs: u32,
    nthr: u32,
    n_events: u32,
    n_starts: u32,
    // Workgroups along x in a 2-D dispatch.
    groups_x: u32,
    pad: u32,
}

// misc[0]: running depth after the last piece; misc[1]: depth before the current piece;
// misc[2], misc[3]: the piece's min and max depth; misc[4]: change points found.
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> ring: array<atomic<i32>>;
@group(0) @binding(2) var<storage, read_write> depth: array<i32>;
@group(0) @binding(3) var<storage, read_write> tiles: array<u32>;
@group(0) @binding(4) var<storage, read_write> misc: array<atomic<i32>>;
@group(0) @binding(5) var<storage, read> events: array<u32>;
@group(0) @binding(6) var<storage, read_write> outp: array<u32>;
@group(0) @binding(7) var<storage, read_write> hist: array<atomic<u32>>;
// Quantize edges as (lo, hi) words of i64, then the thresholds.
@group(0) @binding(8) var<storage, read> aux: array<u32>;
@group(0) @binding(9) var<storage, read> segs: array<u32>;
@group(0) @binding(10) var<storage, read_write> seg_out: array<u32>;

const WG: u32 = 256u;
const ITEMS: u32 = 16u;
const TILE: u32 = 4096u;
const MAX_THR: u32 = 64u;

var<workgroup> sh: array<u32, 256>;
var<workgroup> sh2: array<u32, 256>;
var<workgroup> sh3: array<u32, 256>;
var<workgroup> sh4: array<u32, 256>;
var<workgroup> reached: array<atomic<u32>, 65>;

fn group_index(wg: vec3<u32>) -> u32 {
    return wg.x + wg.y * P.groups_x;
}

// Exclusive scan of `v` over the workgroup (wrapping u32); the total lands in sh[WG - 1]
// plus the last value, returned as .y.
fn wg_exclusive_scan(t: u32, v: u32) -> vec2<u32> {
    sh[t] = v;
    workgroupBarrier();
    var off = 1u;
    loop {
        if off >= WG { break; }
        var add = 0u;
        if t >= off { add = sh[t - off]; }
        workgroupBarrier();
        sh[t] = sh[t] + add;
        workgroupBarrier();
        off = off << 1u;
    }
    let incl = sh[t];
    let total = sh[WG - 1u];
    workgroupBarrier();
    return vec2<u32>(incl - v, total);
}

@compute @workgroup_size(256)
fn scatter_events(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = group_index(wg) * WG + lid.x;
    if i >= P.n_events { return; }
    let p = events[i] & P.mask;
    if i < P.n_starts {
        atomicAdd(&ring[p], 1);
    } else {
        atomicAdd(&ring[p], -1);
    }
}

// Scan pass 1: the sum of the differences in each tile.
@compute @workgroup_size(256)
fn tile_sums(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = group_index(wg);
    let t = lid.x;
    var s = 0u;
    if tile < P.ntiles {
        for (var k = 0u; k < ITEMS; k++) {
            let i = tile * TILE + t * ITEMS + k;
            if i < P.n {
                s += bitcast<u32>(atomicLoad(&ring[(P.base + i) & P.mask]));
            }
        }
    }
    let r = wg_exclusive_scan(t, s);
    if t == 0u && tile < P.ntiles {
        tiles[tile] = r.y;
    }
}

// Scan pass 2 (one workgroup): the depth before each tile, from the carried running depth.
@compute @workgroup_size(1)
fn scan_tile_offsets() {
    var acc = bitcast<u32>(atomicLoad(&misc[0]));
    atomicStore(&misc[1], bitcast<i32>(acc));
    for (var k = 0u; k < P.ntiles; k++) {
        let s = tiles[k];
        tiles[k] = acc;
        acc += s;
    }
    atomicStore(&misc[0], bitcast<i32>(acc));
    atomicStore(&misc[2], 2147483647);
    atomicStore(&misc[3], -2147483647 - 1);
}

// Scan pass 3: final depths, ring slots zeroed, min and max.
@compute @workgroup_size(256)
fn scan_tiles(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = group_index(wg);
    let t = lid.x;
    var d: array<u32, 16>;
    var s = 0u;
    if tile < P.ntiles {
        for (var k = 0u; k < ITEMS; k++) {
            let i = tile * TILE + t * ITEMS + k;
            var v = 0u;
            if i < P.n {
                let slot = (P.base + i) & P.mask;
                v = bitcast<u32>(atomicLoad(&ring[slot]));
                atomicStore(&ring[slot], 0);
            }
            d[k] = v;
            s += v;
        }
    }
    let r = wg_exclusive_scan(t, s);
    if tile >= P.ntiles { return; }
    var run = tiles[tile] + r.x;
    var mn = 2147483647;
    var mx = -2147483647 - 1;
    for (var k = 0u; k < ITEMS; k++) {
        let i = tile * TILE + t * ITEMS + k;
        if i < P.n {
            run += d[k];
            let v = bitcast<i32>(run);
            depth[i] = v;
            mn = min(mn, v);
            mx = max(mx, v);
        }
    }
    if mn <= mx {
        atomicMin(&misc[2], mn);
        atomicMax(&misc[3], mx);
    }
}

// a < b for i64 values given as (lo, hi) words.
fn lt64(alo: u32, ahi: i32, blo: u32, bhi: i32) -> bool {
    return ahi < bhi || (ahi == bhi && alo < blo);
}

// mosdepth's quantize bin of depth v: -1 outside every bin.
fn qbin(v: i32) -> i32 {
    let vlo = bitcast<u32>(v);
    var vhi = 0;
    if v < 0 { vhi = -1; }
    let n = P.nq;
    if lt64(vlo, vhi, aux[0], bitcast<i32>(aux[1])) ||
       lt64(aux[2u * (n - 1u)], bitcast<i32>(aux[2u * (n - 1u) + 1u]), vlo, vhi) {
        return -1;
    }
    for (var i = 0u; i < n; i++) {
        let elo = aux[2u * i];
        let ehi = bitcast<i32>(aux[2u * i + 1u]);
        if lt64(vlo, vhi, elo, ehi) { return i32(i) - 1; }
        if elo == vlo && ehi == vhi { return i32(i); }
    }
    return i32(n) - 1;
}

fn value_at(v: i32) -> i32 {
    if P.mode == 1u { return qbin(v); }
    return v;
}

// Whether position i of the piece starts a run, and its value.
fn change(i: u32) -> vec2<i32> {
    let v = value_at(depth[i]);
    var flag = false;
    if i == 0u {
        flag = P.first == 1u || v != value_at(atomicLoad(&misc[1]));
    } else {
        flag = v != value_at(depth[i - 1u]);
    }
    return vec2<i32>(select(0, 1, flag), v);
}

@compute @workgroup_size(256)
fn flags_count(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = group_index(wg);
    let t = lid.x;
    var c = 0u;
    if tile < P.ntiles {
        for (var k = 0u; k < ITEMS; k++) {
            let i = tile * TILE + t * ITEMS + k;
            if i < P.n && change(i).x == 1 { c++; }
        }
    }
    let r = wg_exclusive_scan(t, c);
    if t == 0u && tile < P.ntiles {
        tiles[tile] = r.y;
    }
}

@compute @workgroup_size(1)
fn scan_counts() {
    var acc = 0u;
    for (var k = 0u; k < P.ntiles; k++) {
        let s = tiles[k];
        tiles[k] = acc;
        acc += s;
    }
    atomicStore(&misc[4], bitcast<i32>(acc));
}

@compute @workgroup_size(256)
fn flags_scatter(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = group_index(wg);
    let t = lid.x;
    var c = 0u;
    if tile < P.ntiles {
        for (var k = 0u; k < ITEMS; k++) {
            let i = tile * TILE + t * ITEMS + k;
            if i < P.n && change(i).x == 1 { c++; }
        }
    }
    let r = wg_exclusive_scan(t, c);
    if tile >= P.ntiles { return; }
    var o = tiles[tile] + r.x;
    for (var k = 0u; k < ITEMS; k++) {
        let i = tile * TILE + t * ITEMS + k;
        if i < P.n {
            let ch = change(i);
            if ch.x == 1 {
                outp[2u * o] = P.first_pos + i;
                outp[2u * o + 1u] = bitcast<u32>(ch.y);
                o++;
            }
        }
    }
}

@compute @workgroup_size(256)
fn hist_counts(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let base = group_index(wg) * TILE;
    for (var k = 0u; k < ITEMS; k++) {
        let i = base + k * WG + lid.x;
        if i < P.n {
            let b = u32(depth[i] - P.lo);
            if b < P.nbins { atomicAdd(&hist[b], 1u); }
        }
    }
}

// One workgroup per segment [segs[2j], segs[2j+1]) of the piece (at most 65536 bases):
// 64-bit wrapping sum, min and max compared as u32, and per-threshold counts.
@compute @workgroup_size(256)
fn interval_sums(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let j = group_index(wg);
    let t = lid.x;
    let valid = j < P.nsegs;
    for (var c = t; c <= MAX_THR; c += WG) { atomicStore(&reached[c], 0u); }
    workgroupBarrier();
    var lo = 0u;
    var hi = 0u;
    var mn = 0xffffffffu;
    var mx = 0u;
    if valid {
        let s = segs[2u * j];
        let e = segs[2u * j + 1u];
        let thr0 = 2u * P.nq;
        for (var i = s + t; i < e; i += WG) {
            let v = depth[i];
            let u = bitcast<u32>(v);
            let nlo = lo + u;
            hi += select(0u, 1u, nlo < lo);
            if v < 0 { hi += 0xffffffffu; }
            lo = nlo;
            mn = min(mn, u);
            mx = max(mx, u);
            if P.nthr > 0u {
                // Thresholds are sorted: count the leading ones this depth reaches.
                var c = 0u;
                if v >= 0 {
                    loop {
                        if c >= P.nthr || u < aux[thr0 + c] { break; }
                        c++;
                    }
                }
                atomicAdd(&reached[c], 1u);
            }
        }
    }
    sh[t] = lo;
    sh2[t] = hi;
    sh3[t] = mn;
    sh4[t] = mx;
    workgroupBarrier();
    var half = WG / 2u;
    loop {
        if half == 0u { break; }
        if t < half {
            let alo = sh[t];
            let blo = sh[t + half];
            let nlo = alo + blo;
            sh2[t] = sh2[t] + sh2[t + half] + select(0u, 1u, nlo < alo);
            sh[t] = nlo;
            sh3[t] = min(sh3[t], sh3[t + half]);
            sh4[t] = max(sh4[t], sh4[t + half]);
        }
        workgroupBarrier();
        half = half / 2u;
    }
    if valid && t == 0u {
        let stride = 4u + P.nthr;
        let o = j * stride;
        seg_out[o] = sh[0];
        seg_out[o + 1u] = sh2[0];
        seg_out[o + 2u] = sh3[0];
        seg_out[o + 3u] = sh4[0];
        // above[k]: bases reaching more than k thresholds.
        var acc = 0u;
        var k = P.nthr;
        loop {
            if k == 0u { break; }
            acc += atomicLoad(&reached[k]);
            seg_out[o + 4u + k - 1u] = acc;
            k--;
        }
    }
}
