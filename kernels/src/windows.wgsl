// Window permutation tests. Mirrors cpu.rs::window_exceedances exactly.
//
// `permute`: one invocation per (window, block of 32 permutations); writes one word
// whose bit i says whether permutation block*32 + i exceeded the observed sum.
// `reduce`: one invocation per window; counts the exceedances and finds the
// 1-based index of the h-th one (sequential stopping), so only 8 bytes per window
// travel back.

const WG: u32 = 64u;
// Pools up to 4096 values: GPU_MAX_POOL in gpu.rs.
const MAX_WORDS: u32 = 128u;

struct Params {
    num_windows: u32,
    perms: u32,
    blocks: u32,
    stop_h: u32,
}

// A window's pool is its baseline (b integers at base_off in `base`, shared by
// the windows that have the same baseline and grid) then its own m integers at
// win_off in `q`.
struct Meta {
    base_off: u32,
    b: u32,
    win_off: u32,
    m: u32,
    obs: u32,
    key: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> metas: array<Meta>;
@group(0) @binding(2) var<storage, read> q: array<u32>;
@group(0) @binding(3) var<storage, read_write> bits: array<u32>;
@group(0) @binding(4) var<storage, read_write> summary: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read> base: array<u32>;

fn linear_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.y * nwg.x * WG + gid.x;
}

@compute @workgroup_size(64)
fn permute(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg);
    let w = id / params.blocks;
    if (w >= params.num_windows) {
        return;
    }
    let blk = id - w * params.blocks;
    let md = metas[w];
    let nwords = (md.b + md.m + 31u) / 32u;
    let start = md.b;
    let p0 = blk * 32u;
    let p1 = min(p0 + 32u, params.perms);
    var mask: array<u32, MAX_WORDS>;
    var out = 0u;
    for (var p = p0; p < p1; p++) {
        for (var i = 0u; i < nwords; i++) {
            mask[i] = 0u;
        }
        let pk = perm_key(md.key, p);
        var sum = 0u;
        // Robert Floyd's algorithm: m draws, no rejection.
        for (var c = 0u; c < md.m; c++) {
            let j = start + c;
            var t = draw(pk, c) % (j + 1u);
            if ((mask[t >> 5u] & (1u << (t & 31u))) != 0u) {
                t = j;
            }
            mask[t >> 5u] |= 1u << (t & 31u);
            if (t < md.b) {
                sum += base[md.base_off + t];
            } else {
                sum += q[md.win_off + t - md.b];
            }
        }
        if (sum >= md.obs) {
            out |= 1u << (p - p0);
        }
    }
    bits[id] = out;
}

@compute @workgroup_size(64)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let w = linear_id(gid, nwg);
    if (w >= params.num_windows) {
        return;
    }
    let h = params.stop_h;
    var count = 0u;
    var stop_at = 0u;
    for (var b = 0u; b < params.blocks; b++) {
        let word = bits[w * params.blocks + b];
        let pc = countOneBits(word);
        if (h != 0u && stop_at == 0u && count + pc >= h) {
            // The h-th exceedance is the (h - count)-th set bit of this word.
            var x = word;
            for (var k = count + 1u; k < h; k++) {
                x &= x - 1u;
            }
            stop_at = b * 32u + countTrailingZeros(x) + 1u;
        }
        count += pc;
    }
    summary[w] = vec2<u32>(count, stop_at);
}
