// How the C library's allocator treats the large, short-lived buffers of a forward pass (a
// layer's activations, the logits: megabytes each, freed within milliseconds). By default glibc
// maps each one fresh from the kernel and gives it back on free, so every forward pass pays a
// page fault per 4 KiB it touches (7 % of a bench-20m bf16 forward on this CPU, `perf`). Kept in
// the heap instead, they are reused: bench-20m bf16 forward +10–14 %. The process keeps its peak
// heap until it exits, as PyTorch's GPU caching allocator does with device memory.
#pragma once

namespace itl {

// Allocations up to 32 MiB come from the heap and freed memory stays there, in at most two arenas
// (one a thread would multiply the retained peak by the thread count). glibc only; elsewhere
// a no-op. Returns whether the policy was applied. Once per process (the addon does it at load).
bool retain_freed_memory();

// oneDNN (libtorch's bf16 matmuls on the CPU) caches a compiled kernel per operand shape, 1,024 by
// default, each holding ~0.4 MB. A packed micro-batch has a token count of its own, so training
// fills the cache with kernels never used again: +420 MB peak RSS over a bench-20m bf16 run. 64
// holds every shape of a few steps (forward and both backward products of each projection).
// Sets ONEDNN_PRIMITIVE_CACHE_CAPACITY unless the user did; before the first oneDNN call.
// Returns the capacity in force.
int bound_onednn_kernel_cache();
inline constexpr int kOnednnKernelCache = 64;

}  // namespace itl
