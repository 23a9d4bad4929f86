// Port of src/rng.rs; must stay bit-identical (pinned by tests/gpu_parity.rs).

fn hash32(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

fn absorb(h: u32, x: u32) -> u32 {
    return hash32(h ^ hash32(x));
}

fn window_key(seed_lo: u32, seed_hi: u32, win_lo: u32, win_hi: u32) -> u32 {
    var k = absorb(0x243f6a88u, seed_lo);
    k = absorb(k, seed_hi);
    k = absorb(k, win_lo);
    return absorb(k, win_hi);
}

fn perm_key(wkey: u32, perm: u32) -> u32 {
    return absorb(wkey, perm);
}

fn draw(pkey: u32, counter: u32) -> u32 {
    return hash32(pkey + counter * 0x9e3779b9u);
}
