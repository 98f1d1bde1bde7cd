#version 450
// Dependent dispatches without pipeline barriers: dispatch i's workgroups wait (thread 0 spins on a counter) until
// the G workgroups of every earlier dispatch have signalled, then run; each workgroup signals after its writes.
layout(local_size_x = 256) in;
layout(std430, binding = 0) coherent readonly buffer A { uint a[]; };
layout(std430, binding = 1) coherent writeonly buffer B { uint b[]; };
layout(std430, binding = 2) coherent volatile buffer C { uint cnt[]; };
layout(push_constant, std430) uniform PC { uint waitFor; uint chain; } pc;
shared uint go;
void main() {
  if (pc.chain != 0u) {
    if (gl_LocalInvocationIndex == 0u) {
      while (cnt[0] < pc.waitFor) {}
      memoryBarrierBuffer();
    }
    barrier();
  }
  uint i = gl_GlobalInvocationID.x;
  b[i] = a[i] + 1u;
  if (pc.chain != 0u) {
    memoryBarrierBuffer();
    barrier();
    if (gl_LocalInvocationIndex == 0u) atomicAdd(cnt[0], 1u);
  }
}
