// Runs kernels/pairhmm.cu's pair_costs on the CPU (through shim.h) over a batch read from the
// file named by argv[1] (little-endian u32: gap_ext, n, seqs[n], n, items[n], n, pairs[n]),
// in several launches with their own scratch offsets as the CUDA backend makes them, and
// prints one cost per pair. engine/tests/cuda_emulation.rs compares them with the Rust
// reference (engine/src/backend/pairhmm.rs).
#include "shim.h"
#include "../pairhmm.cu"
#include <cstdio>
#include <vector>

static std::vector<u32> take(FILE* f) {
    u32 n = 0;
    if (fread(&n, 4, 1, f) != 1) return {};
    std::vector<u32> v(n);
    if (n && fread(v.data(), 4, n, f) != n) v.clear();
    return v;
}

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    FILE* f = fopen(argv[1], "rb");
    if (!f) return 2;
    u32 gap_ext = 0;
    if (fread(&gap_ext, 4, 1, f) != 1) return 2;
    std::vector<u32> seqs = take(f), items = take(f), pairs = take(f);
    fclose(f);
    u32 np = (u32)pairs.size() / 2;
    std::vector<u32> out_all;
    // Launches of at most 37 pairs (an odd size, so the last block is partial).
    for (u32 first = 0; first < np; first += 37) {
        u32 n = np - first < 37 ? np - first : 37;
        std::vector<u32> off(n);
        u32 used = 0;
        for (u32 t = 0; t < n; t++) {
            off[t] = used;
            u32 h = pairs[2 * (first + t) + 1];
            used += 3 * (items[2 * h + 1] + 1);
        }
        std::vector<u32> scratch(used + 1, 0xdeadbeef), out(n, 0);
        launch((n + 15) / 16, 16, [&] {
            pair_costs(seqs.data(), items.data(), pairs.data(), first, n, gap_ext, off.data(),
                       scratch.data(), out.data());
        });
        out_all.insert(out_all.end(), out.begin(), out.end());
    }
    for (u32 c : out_all) printf("%u\n", c);
    return 0;
}
