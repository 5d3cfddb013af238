// How the C library's allocator treats the large, short-lived buffers of a forward pass (a
// layer's activations, the logits: megabytes each, freed within milliseconds). By default glibc
// maps each one fresh from the kernel and gives it back on free, so every forward pass pays a
// page fault per 4 KiB it touches (7 % of a bench-20m bf16 forward on this CPU, `perf`). Kept in
// the heap instead, they are reused: bench-20m bf16 forward +10–14 %. The process keeps its peak
// heap until it exits, as PyTorch's GPU caching allocator does with device memory.
#pragma once

namespace itl {

// Allocations up to 32 MiB come from the heap and freed memory stays there. glibc only; elsewhere
// a no-op. Returns whether the policy was applied. Once per process (the addon does it at load).
bool retain_freed_memory();

}  // namespace itl
