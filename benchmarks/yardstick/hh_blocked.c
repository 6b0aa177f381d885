/* The yardstick: the HH kernels of hhfast hand-written in C, the way a C programmer would
 * write them for speed.  Blocked layout (BLOCK neurons per block, OpenMP threads over blocks,
 * the time loop inside, an `omp simd` lane loop that gcc vectorises with glibc's vector exp
 * from libmvec), spike counting with re-arming, first-spike time by linear interpolation.
 * The rate functions are the textbook ones (six exponentials per evaluation), with the same
 * series at the removable singularities as hhfast.
 *
 * Built by benchmarks/yardstick/run.py with the system compiler:
 *   gcc -O3 -march=native -ffast-math -fopenmp -shared -fPIC -DREAL=double, or -DREAL=float -DSINGLE
 * Workload: a constant current amp[i] (µA/cm²) from t = 0, classic HH, V from rest. */
#include <math.h>
#include <stdint.h>

#ifndef REAL
#define REAL double
#endif
#if defined(SINGLE)
#define EXP expf
#define FABS fabsf
#else
#define EXP exp
#define FABS fabs
#endif
#define BLOCK 16
#define THR 50.0

static inline REAL xexpm1(REAL z) /* z / (e^z - 1), series near 0 */
{
    REAL z2 = z * z;
    REAL s = 1 - z / 2 + z2 / 12 - z2 * z2 / 720;
    return FABS(z) < (REAL)1e-2 ? s : z / (EXP(z) - 1);
}

#pragma omp declare simd
static inline void rhs(REAL V, REAL n, REAL m, REAL h, REAL I, REAL *dV, REAL *dn, REAL *dm,
                       REAL *dh)
{
    REAL an = (REAL)0.1 * xexpm1((10 - V) / 10);
    REAL bn = (REAL)0.125 * EXP(-V / 80);
    REAL am = xexpm1((25 - V) / 10);
    REAL bm = 4 * EXP(-V / 18);
    REAL ah = (REAL)0.07 * EXP(-V / 20);
    REAL bh = 1 / (EXP((30 - V) / 10) + 1);
    REAL iion = 120 * m * m * m * h * (V - 115) + 36 * (n * n) * (n * n) * (V + 12)
                + (REAL)0.3 * (V - (REAL)10.613);
    *dV = (I - iion) / 1; /* Cm = 1 */
    *dn = an * (1 - n) - bn * n;
    *dm = am * (1 - m) - bm * m;
    *dh = ah * (1 - h) - bh * h;
}

static void events(int i0, long k, double dt, REAL *st, REAL *prev, int *armed, int64_t *count,
                   double *first)
{
    for (int l = 0; l < BLOCK; l++) {
        REAL V = st[l];
        if (armed[l] && V >= THR) {
            double s = (THR - prev[l]) / (double)(V - prev[l]);
            if (count[i0 + l] == 0) first[i0 + l] = (k + s) * dt;
            count[i0 + l]++;
            armed[l] = 0;
        } else if (!armed[l] && V < THR) {
            armed[l] = 1;
        }
    }
}

#define KERNEL(NAME, ...)                                                                      \
    void NAME(int64_t N, double dt_, int64_t n_steps, const double *amp, const double *y0,    \
              int64_t *count, double *first)                                                   \
    {                                                                                          \
        const REAL dt = (REAL)dt_;                                                             \
        _Pragma("omp parallel for schedule(static)")                                          \
        for (int64_t b = 0; b < N / BLOCK; b++) {                                              \
            int i0 = (int)(b * BLOCK);                                                         \
            REAL st[4][BLOCK], prev[BLOCK], I[BLOCK];                                          \
            int armed[BLOCK];                                                                  \
            for (int l = 0; l < BLOCK; l++) {                                                  \
                for (int v = 0; v < 4; v++) st[v][l] = (REAL)y0[v * N + i0 + l];               \
                I[l] = (REAL)amp[i0 + l];                                                      \
                armed[l] = st[0][l] < THR;                                                     \
                count[i0 + l] = 0;                                                             \
                first[i0 + l] = NAN;                                                           \
            }                                                                                  \
            for (int64_t k = 0; k < n_steps; k++) {                                            \
                int ev = 0;                                                                    \
                _Pragma("omp simd reduction(|:ev)")                                           \
                for (int l = 0; l < BLOCK; l++) {                                              \
                    REAL V = st[0][l], n = st[1][l], m = st[2][l], h = st[3][l];               \
                    prev[l] = V;                                                               \
                    __VA_ARGS__                                                                \
                    ev |= (armed[l] != 0) == (st[0][l] >= THR);                                \
                }                                                                              \
                if (ev) events(i0, k, dt_, st[0], prev, armed, count, first);                  \
            }                                                                                  \
        }                                                                                      \
    }

KERNEL(run_euler, {
    REAL dV, dn, dm, dh;
    rhs(V, n, m, h, I[l], &dV, &dn, &dm, &dh);
    st[0][l] = V + dt * dV; st[1][l] = n + dt * dn; st[2][l] = m + dt * dm;
    st[3][l] = h + dt * dh;
})

KERNEL(run_rk4, {
    REAL a1, b1, c1, d1, a2, b2, c2, d2, a3, b3, c3, d3, a4, b4, c4, d4;
    const REAL h2 = dt / 2;
    rhs(V, n, m, h, I[l], &a1, &b1, &c1, &d1);
    rhs(V + h2 * a1, n + h2 * b1, m + h2 * c1, h + h2 * d1, I[l], &a2, &b2, &c2, &d2);
    rhs(V + h2 * a2, n + h2 * b2, m + h2 * c2, h + h2 * d2, I[l], &a3, &b3, &c3, &d3);
    rhs(V + dt * a3, n + dt * b3, m + dt * c3, h + dt * d3, I[l], &a4, &b4, &c4, &d4);
    st[0][l] = V + dt / 6 * (a1 + 2 * (a2 + a3) + a4);
    st[1][l] = n + dt / 6 * (b1 + 2 * (b2 + b3) + b4);
    st[2][l] = m + dt / 6 * (c1 + 2 * (c2 + c3) + c4);
    st[3][l] = h + dt / 6 * (d1 + 2 * (d2 + d3) + d4);
})

KERNEL(run_expeuler, {
    REAL an = (REAL)0.1 * xexpm1((10 - V) / 10), bn = (REAL)0.125 * EXP(-V / 80);
    REAL am = xexpm1((25 - V) / 10), bm = 4 * EXP(-V / 18);
    REAL ah = (REAL)0.07 * EXP(-V / 20), bh = 1 / (EXP((30 - V) / 10) + 1);
    REAL gna = 120 * m * m * m * h, gk = 36 * (n * n) * (n * n), gl = (REAL)0.3;
    REAL gt = gna + gk + gl;
    REAL vinf = (I[l] + gna * 115 - gk * 12 + gl * (REAL)10.613) / gt;
    REAL sn = an + bn, sm = am + bm, sh = ah + bh;
    st[0][l] = vinf + (V - vinf) * EXP(-dt * gt);
    st[1][l] = an / sn + (n - an / sn) * EXP(-dt * sn);
    st[2][l] = am / sm + (m - am / sm) * EXP(-dt * sm);
    st[3][l] = ah / sh + (h - ah / sh) * EXP(-dt * sh);
})

KERNEL(run_heun, {
    REAL a1, b1, c1, d1, a2, b2, c2, d2;
    rhs(V, n, m, h, I[l], &a1, &b1, &c1, &d1);
    rhs(V + dt * a1, n + dt * b1, m + dt * c1, h + dt * d1, I[l], &a2, &b2, &c2, &d2);
    st[0][l] = V + dt / 2 * (a1 + a2); st[1][l] = n + dt / 2 * (b1 + b2);
    st[2][l] = m + dt / 2 * (c1 + c2); st[3][l] = h + dt / 2 * (d1 + d2);
})

/* Rush-Larsen: the gates exactly with V frozen at U over tau, into *n1, *m1, *h1 */
#pragma omp declare simd
static inline void rl_gates(REAL U, REAL n, REAL m, REAL h, REAL tau, REAL *n1, REAL *m1,
                            REAL *h1)
{
    REAL an = (REAL)0.1 * xexpm1((10 - U) / 10), bn = (REAL)0.125 * EXP(-U / 80);
    REAL am = xexpm1((25 - U) / 10), bm = 4 * EXP(-U / 18);
    REAL ah = (REAL)0.07 * EXP(-U / 20), bh = 1 / (EXP((30 - U) / 10) + 1);
    REAL sn = an + bn, sm = am + bm, sh = ah + bh;
    *n1 = an / sn + (n - an / sn) * EXP(-tau * sn);
    *m1 = am / sm + (m - am / sm) * EXP(-tau * sm);
    *h1 = ah / sh + (h - ah / sh) * EXP(-tau * sh);
}

#pragma omp declare simd
static inline REAL dvdt(REAL V, REAL n, REAL m, REAL h, REAL I)
{
    return I - (120 * m * m * m * h * (V - 115) + 36 * (n * n) * (n * n) * (V + 12)
                + (REAL)0.3 * (V - (REAL)10.613));
}

KERNEL(run_rush_larsen, {
    REAL n1, m1, h1;
    rl_gates(V, n, m, h, dt, &n1, &m1, &h1);
    st[0][l] = V + dt * dvdt(V, n, m, h, I[l]);
    st[1][l] = n1; st[2][l] = m1; st[3][l] = h1;
})

KERNEL(run_rl2, {
    REAL nh, mh, hh, n1, m1, h1;
    REAL Vh = V + dt / 2 * dvdt(V, n, m, h, I[l]);
    rl_gates(V, n, m, h, dt / 2, &nh, &mh, &hh);
    rl_gates(Vh, n, m, h, dt, &n1, &m1, &h1);
    st[0][l] = V + dt * dvdt(Vh, nh, mh, hh, I[l]);
    st[1][l] = n1; st[2][l] = m1; st[3][l] = h1;
})
