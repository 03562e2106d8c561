// The CUDA kernel image, embedded as read-only data: scripts/build-cuda.js (a gyp action in binding.gyp, a custom
// command in CMakeLists.txt) writes int8rt_kernels.fatbin into a build folder that both builds put on this file's
// include path (-I, which gcc hands to the assembler too). A build without nvcc writes an empty file, and the two
// symbols then coincide. The same directives assemble for x86-64 and aarch64: `%progbits` rather than `@progbits`,
// since `@` starts a comment in Arm assembly. 16-byte alignment suits the fatbin container, whose headers hold
// 64-bit fields.
#if defined(__ELF__)
  .section .rodata.int8rt_cuda_fatbin,"a"
  .balign 16
  .globl int8rt_cuda_fatbin_begin
  .hidden int8rt_cuda_fatbin_begin
int8rt_cuda_fatbin_begin:
  .incbin "int8rt_kernels.fatbin"
  .globl int8rt_cuda_fatbin_end
  .hidden int8rt_cuda_fatbin_end
int8rt_cuda_fatbin_end:
  .byte 0
  .section .note.GNU-stack,"",%progbits
#endif
