/* libcufft.so.11 for ASTRA's pip wheel on a machine that has only CUDA 13's cuFFT (libcufft.so.12).
 *
 * Why: astra-toolbox 2.5's wheel links cuFFT 11 (CUDA 12) by versioned symbols; its own cuFFT
 * wheel (nvidia-cufft-cu12, 85-200 MB) does not fit what travels to the GPU machine. ASTRA calls
 * five cuFFT functions whose signatures did not change between cuFFT 11 and 12, so this library
 * exports them under the version libcufft.so.11 and forwards each to libcufft.so.12 (opened with
 * dlopen, path given at build time as CUFFT12). Used by benchmarks/peers/setup_peers.sh only.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef int cufftHandle;
typedef int cufftResult;

static void *forward(const char *name) {
    static void *library;
    if (!library && !(library = dlopen(CUFFT12, RTLD_NOW | RTLD_LOCAL))) {
        fprintf(stderr, "cufft11 shim: cannot open %s: %s\n", CUFFT12, dlerror());
        abort();
    }
    void *function = dlsym(library, name);
    if (!function) {
        fprintf(stderr, "cufft11 shim: %s has no %s\n", CUFFT12, name);
        abort();
    }
    return function;
}

cufftResult cufftPlan1d(cufftHandle *plan, int nx, int type, int batch) {
    return ((cufftResult (*)(cufftHandle *, int, int, int))forward("cufftPlan1d"))(plan, nx, type, batch);
}

cufftResult cufftExecR2C(cufftHandle plan, float *in, void *out) {
    return ((cufftResult (*)(cufftHandle, float *, void *))forward("cufftExecR2C"))(plan, in, out);
}

cufftResult cufftExecC2R(cufftHandle plan, void *in, float *out) {
    return ((cufftResult (*)(cufftHandle, void *, float *))forward("cufftExecC2R"))(plan, in, out);
}

cufftResult cufftSetStream(cufftHandle plan, void *stream) {
    return ((cufftResult (*)(cufftHandle, void *))forward("cufftSetStream"))(plan, stream);
}

cufftResult cufftDestroy(cufftHandle plan) {
    return ((cufftResult (*)(cufftHandle))forward("cufftDestroy"))(plan);
}
