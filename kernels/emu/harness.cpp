// Runs every kernel of kernels/coverage.cu on the CPU (through shim.h) and compares it with a
// plain reference; engine/tests/cuda_emulation.rs builds and runs it. Prints "all kernels match".
#include "shim.h"
#include "../coverage.cu"
#include <cstdio>
#include <cstdlib>
#include <random>
#include <algorithm>
static std::mt19937_64 rng(12345);
static unsigned rnd(unsigned m) { return (unsigned)(rng() % m); }
static int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { fails++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

static int qbin_ref(long long v, const std::vector<long long>& q) {
    if (v < q[0] || v > q.back()) return -1;
    for (size_t i = 0; i < q.size(); i++) { if (q[i] > v) return (int)i - 1; if (q[i] == v) return (int)i; }
    return (int)q.size() - 1;
}

int main() {
    const unsigned W = 1 << 14, mask = W - 1;
    std::vector<int> ring(W, 0), depth(W, 0);
    std::vector<u32> tiles(W / TILE);
    int state[2] = {0, 0}, minmax[2];
    u32 total[1];
    std::vector<long long> q = {0, 1, 4, 30, 0x7fffffffffffffffLL};
    std::vector<long long> q2 = {2, 5};
    for (int round = 0; round < 6; round++) {
        unsigned n = round == 0 ? 1 : round == 1 ? W : 1 + rnd(W);
        unsigned base = rnd(W);
        int carry = (int)rnd(50) - 10;
        state[0] = carry;
        // events via scatter_events
        unsigned ne = 1 + rnd(3000), ns = rnd(ne + 1);
        std::vector<u32> ev(ne);
        std::vector<int> diff(n, 0);
        for (unsigned i = 0; i < ne; i++) {
            unsigned off = rnd(n);
            if (round == 5) off = rnd(3);  // pile-up: deep and negative depths
            ev[i] = 1000000u * 7 + base + off;  // high bits beyond the ring, masked away
            diff[off] += i < ns ? 1 : -1;
        }
        // the position of ring slot (base+off)&mask must equal ev & mask: make positions consistent
        for (unsigned i = 0; i < ne; i++) ev[i] = ev[i] - 7000000u + 7u * W;
        launch((ne + 255) / 256, 256, [&] { scatter_events(ring.data(), mask, ev.data(), ns, ne); });
        for (unsigned i = 0; i < n; i++) CHECK(ring[(base + i) & mask] == diff[i], "scatter %u", i);
        unsigned nt = (n + TILE - 1) / TILE;
        launch(nt, BLOCK, [&] { tile_sums(ring.data(), mask, base, n, tiles.data()); });
        launch(1, 1024, [&] { scan_tile_offsets(tiles.data(), nt, state, minmax); });
        launch(nt, BLOCK, [&] { scan_tiles(ring.data(), mask, base, n, tiles.data(), depth.data(), minmax); });
        std::vector<int> d(n);
        int acc = carry, mn = 0x7fffffff, mx = -0x7fffffff - 1;
        for (unsigned i = 0; i < n; i++) { acc += diff[i]; d[i] = acc; mn = std::min(mn, acc); mx = std::max(mx, acc); }
        bool ok = true;
        for (unsigned i = 0; i < n; i++) ok &= depth[i] == d[i];
        CHECK(ok, "round %d: depths differ (n %u base %u)", round, n, base);
        for (unsigned i = 0; i < W; i++) CHECK(ring[i] == 0, "ring not zeroed at %u", i);
        CHECK(state[0] == acc && state[1] == carry, "state %d %d want %d %d", state[0], state[1], acc, carry);
        CHECK(minmax[0] == mn && minmax[1] == mx, "minmax %d %d want %d %d", minmax[0], minmax[1], mn, mx);
        // change points
        for (u32 mode = 0; mode < 3; mode++) {
            for (u32 first = 0; first < 2; first++) {
                auto& qq = mode == 2 ? q2 : q;
                u32 m = mode ? 1 : 0, nq = (u32)qq.size();
                std::vector<u32> op(W); std::vector<int> ov(W);
                u32 from = 1000 + rnd(100000);
                launch(nt, BLOCK, [&] { flags_count(depth.data(), n, state, first, m, qq.data(), nq, tiles.data()); });
                launch(1, 1024, [&] { scan_counts(tiles.data(), nt, total); });
                launch(nt, BLOCK, [&] { flags_scatter(depth.data(), n, state, first, m, qq.data(), nq, from, tiles.data(), op.data(), ov.data()); });
                std::vector<std::pair<u32, int>> want;
                auto f = [&](int v) { return m ? qbin_ref(v, qq) : v; };
                for (unsigned i = 0; i < n; i++) {
                    int v = f(d[i]);
                    bool c = i == 0 ? (first ? true : v != f(carry)) : v != f(d[i - 1]);
                    if (c) want.push_back({from + i, v});
                }
                CHECK(total[0] == want.size(), "mode %u first %u: %u change points, want %zu", mode, first, total[0], want.size());
                bool same = total[0] == want.size();
                for (size_t i = 0; same && i < want.size(); i++) same &= op[i] == want[i].first && ov[i] == want[i].second;
                CHECK(same, "mode %u first %u: change points differ", mode, first);
            }
        }
        // histogram
        for (int shared = 0; shared < 2; shared++) {
            u32 nb = (u32)((long long)mx - mn + 1);
            std::vector<u32> counts(nb, 0), want(nb, 0);
            for (unsigned i = 0; i < n; i++) want[d[i] - mn]++;
            launch((n + 4095) / 4096, 256, [&] { hist_counts(depth.data(), n, mn, nb, (u32)shared, counts.data()); });
            CHECK(counts == want, "hist shared=%d differs", shared);
        }
        // intervals
        std::vector<u32> thr = {0, 1, 2, 10, 100};
        for (u32 nthr : {0u, 5u}) {
            u32 nsegs = 1 + rnd(20);
            std::vector<u32> segs(2 * nsegs);
            for (u32 s = 0; s < nsegs; s++) { u32 a = rnd(n), b = std::min(n, a + rnd(5000)); segs[2*s] = a; segs[2*s+1] = b; }
            std::vector<u32> out(nsegs * (4 + nthr), 0xdeadbeef);
            launch(std::min(nsegs, 7u), 256, [&] { interval_sums(depth.data(), segs.data(), nsegs, thr.data(), nthr, out.data()); });
            for (u32 s = 0; s < nsegs; s++) {
                uint64_t sum = 0; u32 lo = 0xffffffffu, hi = 0; std::vector<uint64_t> above(nthr, 0);
                for (u32 i = segs[2*s]; i < segs[2*s+1]; i++) {
                    int v = d[i]; sum += (uint64_t)(long long)v; lo = std::min(lo, (u32)v); hi = std::max(hi, (u32)v);
                    for (u32 k = 0; k < nthr; k++) { if (v < 0 || (u32)v < thr[k]) break; above[k]++; }
                }
                u32* o = &out[s * (4 + nthr)];
                bool same = o[0] == (u32)sum && o[1] == (u32)(sum >> 32) && o[2] == lo && o[3] == hi;
                for (u32 k = 0; k < nthr; k++) same &= o[4 + k] == above[k];
                CHECK(same, "interval %u (nthr %u) differs", s, nthr);
            }
        }
        printf("round %d: n %u base %u carry %d min %d max %d ok\n", round, n, base, carry, mn, mx);
    }
    printf(fails ? "FAILED (%d)\n" : "all kernels match\n", fails);
    return fails != 0;
}
