/* oneMKL picks its tuned kernels only on processors whose vendor string is Intel's; on AMD it runs a generic path
 * (bench/README.md, "float32 on AMD"). This one function answers oneMKL's vendor check with "yes": preloaded before
 * libtorch, it takes the place of libtorch's own copy, so the AVX-512/AVX2 kernels the processor supports are used.
 *   gcc -shared -fPIC -O2 -o /tmp/libmkl_intel_cpu_true.so bench/mkl-amd/mkl_intel_cpu_true.c
 *   LD_PRELOAD=/tmp/libmkl_intel_cpu_true.so vla train --config ...
 * Only for x86-64 processors with AVX2 (all AMD Zen); measured, not the default (see bench/README.md). */
int mkl_serv_intel_cpu_true(void) { return 1; }
