// Pairwise energy permutation test. Mirrors pairwise.rs::relabel_exceeds exactly.
// One invocation per permutation; writes 1 if the relabelling exceeds.

const WG: u32 = 64u;
const MAX_WORDS: u32 = 128u;

struct PairParams {
    total: u32,
    m: u32,
    perms: u32,
    key: u32,
    obs_rows: u32,
    obs_within: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> pp: PairParams;
@group(0) @binding(1) var<storage, read> qm: array<u32>;
@group(0) @binding(2) var<storage, read> rows: array<u32>;
@group(0) @binding(3) var<storage, read_write> hits: array<u32>;

// Full 32×32 → 64-bit product as (lo, hi), from 16-bit halves (WGSL has no u64).
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    return vec2<u32>((p00 & 0xffffu) | (mid << 16u), p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

fn add_wide(x: vec2<u32>, y: vec2<u32>) -> vec2<u32> {
    let lo = x.x + y.x;
    return vec2<u32>(lo, x.y + y.y + select(0u, 1u, lo < x.x));
}

fn ge_wide(x: vec2<u32>, y: vec2<u32>) -> bool {
    return x.y > y.y || (x.y == y.y && x.x >= y.x);
}

@compute @workgroup_size(64)
fn pairwise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let perm = gid.y * nwg.x * WG + gid.x;
    if (perm >= pp.perms) {
        return;
    }
    let total = pp.total;
    let start = total - pp.m;
    let nwords = (total + 31u) / 32u;
    var mask: array<u32, MAX_WORDS>;
    let pk = perm_key(pp.key, perm);
    var r = 0u;
    var w = 0u;
    for (var c = 0u; c < pp.m; c++) {
        let j = start + c;
        var t = draw(pk, c) % (j + 1u);
        if ((mask[t >> 5u] & (1u << (t & 31u))) != 0u) {
            t = j;
        }
        // Pair sum with the members drawn so far.
        let row = t * total;
        for (var wi = 0u; wi < nwords; wi++) {
            var x = mask[wi];
            while (x != 0u) {
                w += qm[row + wi * 32u + countTrailingZeros(x)];
                x &= x - 1u;
            }
        }
        mask[t >> 5u] |= 1u << (t & 31u);
        r += rows[t];
    }
    // m·R_B + N·W_obs >= m·R_obs + N·W_B, in 64 bits.
    let lhs = add_wide(mul_wide(pp.m, r), mul_wide(total, pp.obs_within));
    let rhs = add_wide(mul_wide(pp.m, pp.obs_rows), mul_wide(total, w));
    hits[perm] = select(0u, 1u, ge_wide(lhs, rhs));
}
