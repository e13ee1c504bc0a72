/* kernels_dispatch.c — which own-kernel table runs (kernels.h): AVX-512 where cpu.c's ISA path says so
 * (the CPU has AVX-512 F/BW/VL/DQ and CAI_ISA does not force avx2), the AVX2 baseline otherwise. */
#include <string.h>

#include "cpu.h"
#include "kernels.h"

const cai_kernels *cai_kernels_get(void) {
    const cai_kernels *k = !strcmp(cai_cpu_isa_path(), "avx512") ? cai_kernels_avx512() : NULL;
    return k ? k : cai_kernels_avx2();
}
