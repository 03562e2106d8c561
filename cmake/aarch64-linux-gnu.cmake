# Cross build for 64-bit Arm Linux with Debian's cross toolchain (g++-aarch64-linux-gnu); tests run under qemu-user.
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# ctest then runs every test binary through qemu (-cpu max: dot product and i8mm); CMakeLists.txt adds the runs with
# a Cortex-A53 model (no dot product) next to them.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(INT8RT_CROSS_PREFIX aarch64-linux-gnu-)
set(CMAKE_C_COMPILER ${INT8RT_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${INT8RT_CROSS_PREFIX}g++)

set(INT8RT_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${INT8RT_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(INT8RT_QEMU qemu-aarch64-static)
if(INT8RT_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${INT8RT_QEMU} -cpu max -L ${INT8RT_SYSROOT})
endif()
