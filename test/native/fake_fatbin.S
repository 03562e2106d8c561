// A synthetic CUDA kernel image for the emulated kernel tests (int8rt_cuda_emulated_tests, CMakeLists.txt): the
// fatbin container headers of what nvcc embeds (sm_75, 80, 86, 87, 89, 90 SASS and compute_90 PTX of ISA 9.0, i.e.
// CUDA 13.0; layout in native/cuda/fatbin.cc), each entry with a 16-byte dummy payload. Linked into a test executable
// it defines the two symbols of native/cuda/fatbin_data.S, so that the linker takes these instead of the core
// library's (an archive member is only pulled for undefined symbols): the process-wide probe then sees a build with
// kernels and opens the stand-in driver (fake_libcuda.cc), which runs the kernels on the CPU and never reads the
// image. Not for the addon or any shipped binary.
#if defined(__ELF__)
  .section .rodata.int8rt_fake_fatbin,"a"
  .balign 16
  .globl int8rt_cuda_fatbin_begin
  .hidden int8rt_cuda_fatbin_begin
int8rt_cuda_fatbin_begin:
  .long 0xBA55ED50          // magic
  .short 1                  // version
  .short 16                 // header size
  .quad 7 * (64 + 16)       // size of the entries
// kind (1 PTX, 2 SASS), entry header size 64, payload 16, version (PTX: ISA major << 16 | minor), arch
#define INT8RT_FAKE_ENTRY(kind, version, arch) \
  .short kind; .short 0x0101; .long 64; .quad 16; .long 0; .long 0; .long version; .long arch; .zero 32; .zero 16
  INT8RT_FAKE_ENTRY(2, 0x10008, 75)
  INT8RT_FAKE_ENTRY(2, 0x10008, 80)
  INT8RT_FAKE_ENTRY(2, 0x10008, 86)
  INT8RT_FAKE_ENTRY(2, 0x10008, 87)
  INT8RT_FAKE_ENTRY(2, 0x10008, 89)
  INT8RT_FAKE_ENTRY(2, 0x10008, 90)
  INT8RT_FAKE_ENTRY(1, 0x90000, 90)
  .globl int8rt_cuda_fatbin_end
  .hidden int8rt_cuda_fatbin_end
int8rt_cuda_fatbin_end:
  .byte 0
  .section .note.GNU-stack,"",%progbits
#endif
