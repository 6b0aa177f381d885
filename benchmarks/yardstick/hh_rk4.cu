/* The GPU yardstick: hhfast's rk4 workload hand-written in CUDA C, the way a CUDA programmer
 * would write it for speed.  One thread per neuron, the state in registers, the amplitude read
 * once (coalesced: neuron index fastest), spike counting with hhfast's re-arm rule (a spike is
 * an upward crossing of THR by an armed detector; it re-arms once V falls below THR - REARM at
 * a step's end), first-spike time by linear interpolation, count and first spike written once
 * at the end.  The rate functions are the textbook ones (six exponentials per evaluation, the
 * removable singularities of an and am by their series), classic HH (rest at 0 mV, 6.3 degC).
 *
 * Built by benchmarks/gpu.py with the toolkit's compiler:
 *   nvcc -O3 -arch=sm_90 -shared -Xcompiler -fPIC -o libhh_rk4.so hh_rk4.cu
 * Workload W (benchmarks/yardstick/run.py): a constant current amp[i] (uA/cm^2) from t = 0,
 * V and the gates from y0 (rest). */
#ifndef __CUDACC_RTC__ /* (NVRTC, which compiles the device code alone: a syntax check) */
#include <cuda_runtime.h>
#include <stdint.h>
#else
typedef long long int64_t;
#endif

#define THR 50.0
#define REARM 10.0

template <typename R> __device__ __forceinline__ R ex(R x);
template <> __device__ __forceinline__ double ex<double>(double x) { return exp(x); }
template <> __device__ __forceinline__ float ex<float>(float x) { return expf(x); }

template <typename R> __device__ __forceinline__ R xexpm1(R z) /* z / (e^z - 1) */
{
    R z2 = z * z;
    R s = (R)1 - z / (R)2 + z2 / (R)12 - z2 * z2 / (R)720;
    return (z < (R)0 ? -z : z) < (R)1e-2 ? s : z / (ex<R>(z) - (R)1);
}

template <typename R>
__device__ __forceinline__ void rhs(R V, R n, R m, R h, R I, R &dV, R &dn, R &dm, R &dh)
{
    R an = (R)0.1 * xexpm1<R>(((R)10 - V) / (R)10);
    R bn = (R)0.125 * ex<R>(-V / (R)80);
    R am = xexpm1<R>(((R)25 - V) / (R)10);
    R bm = (R)4 * ex<R>(-V / (R)18);
    R ah = (R)0.07 * ex<R>(-V / (R)20);
    R bh = (R)1 / (ex<R>(((R)30 - V) / (R)10) + (R)1);
    R iion = (R)120 * m * m * m * h * (V - (R)115) + (R)36 * (n * n) * (n * n) * (V + (R)12)
             + (R)0.3 * (V - (R)10.613);
    dV = I - iion; /* Cm = 1 */
    dn = an * ((R)1 - n) - bn * n;
    dm = am * ((R)1 - m) - bm * m;
    dh = ah * ((R)1 - h) - bh * h;
}

template <typename R>
__global__ void rk4(int64_t N, R dt, int64_t n_steps, const double *__restrict__ amp,
                    const double *__restrict__ y0, int64_t *__restrict__ count,
                    double *__restrict__ first)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    R V = (R)y0[i], n = (R)y0[N + i], m = (R)y0[2 * N + i], h = (R)y0[3 * N + i];
    R I = (R)amp[i];
    R h2 = dt / (R)2, h6 = dt / (R)6;
    bool armed = V < (R)THR;
    int64_t c = 0;
    double t1 = -1.0;
    for (int64_t k = 0; k < n_steps; k++) {
        R a1, b1, c1, d1, a2, b2, c2, d2, a3, b3, c3, d3, a4, b4, c4, d4;
        rhs<R>(V, n, m, h, I, a1, b1, c1, d1);
        rhs<R>(V + h2 * a1, n + h2 * b1, m + h2 * c1, h + h2 * d1, I, a2, b2, c2, d2);
        rhs<R>(V + h2 * a2, n + h2 * b2, m + h2 * c2, h + h2 * d2, I, a3, b3, c3, d3);
        rhs<R>(V + dt * a3, n + dt * b3, m + dt * c3, h + dt * d3, I, a4, b4, c4, d4);
        R V1 = V + h6 * (a1 + (R)2 * (a2 + a3) + a4);
        n += h6 * (b1 + (R)2 * (b2 + b3) + b4);
        m += h6 * (c1 + (R)2 * (c2 + c3) + c4);
        h += h6 * (d1 + (R)2 * (d2 + d3) + d4);
        if (armed && V1 >= (R)THR) {
            if (c == 0) t1 = (k + (THR - (double)V) / ((double)V1 - (double)V)) * (double)dt;
            c++;
            armed = false;
        } else if (!armed && V1 < (R)(THR - REARM)) {
            armed = true;
        }
        V = V1;
    }
    count[i] = c;
    first[i] = t1 < 0 ? __longlong_as_double(0x7ff8000000000000LL) : t1;
}

#ifndef __CUDACC_RTC__
/* Host entry (ctypes): copies in, launches with `threads` per block, copies out; returns the
 * kernel's milliseconds (CUDA events), or a negative CUDA error code. */
template <typename R>
static float run(int64_t N, double dt, int64_t n_steps, const double *amp, const double *y0,
                 int64_t *count, double *first, int threads)
{
    double *d_amp, *d_y0, *d_first;
    int64_t *d_count;
    cudaError_t e;
    if ((e = cudaMalloc(&d_amp, N * sizeof(double))) != cudaSuccess) return -(float)e;
    if ((e = cudaMalloc(&d_y0, 4 * N * sizeof(double))) != cudaSuccess) return -(float)e;
    if ((e = cudaMalloc(&d_first, N * sizeof(double))) != cudaSuccess) return -(float)e;
    if ((e = cudaMalloc(&d_count, N * sizeof(int64_t))) != cudaSuccess) return -(float)e;
    cudaMemcpy(d_amp, amp, N * sizeof(double), cudaMemcpyHostToDevice);
    cudaMemcpy(d_y0, y0, 4 * N * sizeof(double), cudaMemcpyHostToDevice);
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    cudaEventRecord(a);
    rk4<R><<<(unsigned)((N + threads - 1) / threads), threads>>>(N, (R)dt, n_steps, d_amp,
                                                                d_y0, d_count, d_first);
    cudaEventRecord(b);
    e = cudaGetLastError();
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    cudaMemcpy(count, d_count, N * sizeof(int64_t), cudaMemcpyDeviceToHost);
    cudaMemcpy(first, d_first, N * sizeof(double), cudaMemcpyDeviceToHost);
    cudaFree(d_amp);
    cudaFree(d_y0);
    cudaFree(d_first);
    cudaFree(d_count);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return e == cudaSuccess ? ms : -(float)e;
}

extern "C" float hh_rk4_f64(int64_t N, double dt, int64_t n_steps, const double *amp,
                            const double *y0, int64_t *count, double *first, int threads)
{
    return run<double>(N, dt, n_steps, amp, y0, count, first, threads);
}

extern "C" float hh_rk4_f32(int64_t N, double dt, int64_t n_steps, const double *amp,
                            const double *y0, int64_t *count, double *first, int threads)
{
    return run<float>(N, dt, n_steps, amp, y0, count, first, threads);
}
#endif
