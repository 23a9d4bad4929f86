// Test-only entry point: evaluates the generator on given inputs so the Rust and
// WGSL versions can be compared.

struct RngCase {
    seed_lo: u32,
    seed_hi: u32,
    win_lo: u32,
    win_hi: u32,
    perm: u32,
    counter: u32,
}

@group(0) @binding(0) var<storage, read> cases: array<RngCase>;
@group(0) @binding(1) var<storage, read_write> outputs: array<vec4<u32>>;

@compute @workgroup_size(64)
fn rng_check(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= arrayLength(&cases)) {
        return;
    }
    let c = cases[i];
    let wk = window_key(c.seed_lo, c.seed_hi, c.win_lo, c.win_hi);
    let pk = perm_key(wk, c.perm);
    outputs[i] = vec4<u32>(hash32(c.counter), wk, pk, draw(pk, c.counter));
}
