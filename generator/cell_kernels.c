/* The elementwise part of one MI-LSTM time step, forward and backward, in one pass each.

   PyTorch runs each elementwise operation of the cell as its own pass over memory; here
   the work of one name (one row) is done while the row sits in the core's first-level
   cache. generator/fused_cell.py compiles this file with the system's C compiler and calls
   it through ctypes: it needs no PyTorch headers. Names follow generator/milstm.py:

       pre = A * r + B,  r = U h_{t-1}  (r absent when h_{t-1} = 0)
       A = alpha * P + beta1,  B = beta2 * P + bias,  P = W x_t
       i, f, o = sigmoid(pre_i, pre_f, pre_o);  z = tanh(pre_z)
       c = f * c_prev + i * z;  h = o * tanh(c)

   With layer normalization (Ba et al. 2016) r is replaced by its normalized form
   n = (r - mean(r)) / sqrt(var(r) + eps), mean and variance taken over the row's 4 * hidden
   values, with no gain or bias of its own: A n + B already scales and shifts n per unit.

   Only c and h are kept for the backward pass: it forms the gates again from P and r,
   which it reads anyway, rather than read stored ones back from memory, which is what
   the cell's arithmetic waits on at our sizes.

   A row holds the four gates i, f, o, z side by side (4 * hidden values). The tensors that
   come out of or feed matrix products (P, r, h and their gradients) come in the products'
   precision, float32 or bfloat16, so each entry point exists twice, suffixed _f32 and
   _bf16; the cell state and the coefficients are always float32, and so is the arithmetic.
   The loops are written so that the compiler vectorizes them, the exponentials
   included (glibc's vector math library, with -ffast-math), and a step's rows are shared
   between threads with OpenMP when it is compiled with it (see fused_cell.py). */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef uint16_t bf16;

/* exp's argument is capped: past 88 expf overflows to infinity, which -ffast-math lets the
   compiler assume never happens, and the division after it then gives NaN. e^80 keeps
   1 / (1 + e^80) a normal float, and the results are those of the exact functions to
   float32 rounding: sigmoid(-80) and tanh(-40) are 0 and -1 to within 2e-35. */
#define EXP_LIMIT 80.0f

static inline float sigmoid(float x) { return 1.0f / (1.0f + expf(fminf(-x, EXP_LIMIT))); }

/* tanh(x) = 2 sigmoid(2x) - 1: one exponential, exact to float32 rounding */
static inline float tanh_from_exp(float x) {
    return 2.0f / (1.0f + expf(fminf(-2.0f * x, EXP_LIMIT))) - 1.0f;
}

static void bf16_to_float(long count, const bf16 *restrict from, float *restrict to) {
    for (long k = 0; k < count; k++) {
        uint32_t bits = (uint32_t)from[k] << 16;
        memcpy(&to[k], &bits, sizeof bits);
    }
}

/* rounds to nearest even, as PyTorch does */
static void float_to_bf16(long count, const float *restrict from, bf16 *restrict to) {
    for (long k = 0; k < count; k++) {
        uint32_t bits;
        memcpy(&bits, &from[k], sizeof bits);
        bits += 0x7fffu + ((bits >> 16) & 1u);
        to[k] = (bf16)(bits >> 16);
    }
}

/* The four coefficient vectors of the gates, each 4 * hidden long, one after the other:
   alpha, beta1, beta2, bias. With P = W x the gates' input projection,
   A = alpha * P + beta1 and B = beta2 * P + bias. */
enum { ALPHA, BETA1, BETA2, BIAS };

/* The gates of one row after their nonlinearities, i, f, o, z side by side, into gates */
static void gates_of_row(long hidden, const float *restrict P, const float *restrict coefficients,
                         const float *restrict r, float *restrict gates) {
    const long width = 4 * hidden;
    const float *alpha = coefficients + ALPHA * width, *beta1 = coefficients + BETA1 * width;
    const float *beta2 = coefficients + BETA2 * width, *bias = coefficients + BIAS * width;
    if (r) {
        for (long q = 0; q < width; q++)
            gates[q] = (alpha[q] * P[q] + beta1[q]) * r[q] + beta2[q] * P[q] + bias[q];
    } else {
        for (long q = 0; q < width; q++) gates[q] = beta2[q] * P[q] + bias[q];
    }
    for (long q = 0; q < 3 * hidden; q++) gates[q] = sigmoid(gates[q]);
    for (long q = 3 * hidden; q < width; q++) gates[q] = tanh_from_exp(gates[q]);
}

#define NORM_EPSILON 1e-5f

/* n = (r - mean) / sqrt(var + eps) over the row into normalized; returns 1 / sqrt(var + eps) */
static float normalize_row(long width, const float *restrict r, float *restrict normalized) {
    float sum = 0.0f, squares = 0.0f;
    for (long q = 0; q < width; q++) sum += r[q];
    const float mean = sum / width;
    for (long q = 0; q < width; q++) {
        float centred = r[q] - mean;
        squares += centred * centred;
    }
    const float inverse_deviation = 1.0f / sqrtf(squares / width + NORM_EPSILON);
    for (long q = 0; q < width; q++) normalized[q] = (r[q] - mean) * inverse_deviation;
    return inverse_deviation;
}

/* dL/dr from dL/dn, in place: (dn - mean(dn) - n * mean(dn * n)) / sqrt(var + eps) */
static void normalize_row_backward(long width, const float *restrict normalized,
                                   float inverse_deviation, float *restrict grad) {
    float sum = 0.0f, projection = 0.0f;
    for (long q = 0; q < width; q++) {
        sum += grad[q];
        projection += grad[q] * normalized[q];
    }
    const float mean = sum / width, mean_projection = projection / width;
    for (long q = 0; q < width; q++)
        grad[q] = (grad[q] - mean - normalized[q] * mean_projection) * inverse_deviation;
}

/* normalized is scratch space of 4 * hidden, used when `normalize` is set and r given */
static void forward_row(long hidden, const float *restrict P, const float *restrict coefficients,
                        const float *restrict r, int normalize, const float *restrict c_prev,
                        float *restrict cells, float *restrict outputs, float *restrict gates,
                        float *restrict normalized) {
    if (r && normalize) {
        normalize_row(4 * hidden, r, normalized);
        r = normalized;
    }
    gates_of_row(hidden, P, coefficients, r, gates);
    const float *gate_i = gates, *gate_f = gates + hidden, *gate_o = gates + 2 * hidden;
    const float *gate_z = gates + 3 * hidden;
    for (long j = 0; j < hidden; j++) {
        float cell = gate_f[j] * c_prev[j] + gate_i[j] * gate_z[j];
        cells[j] = cell;
        outputs[j] = gate_o[j] * tanh_from_exp(cell);
    }
}

/* dL/dh of the row is given; carry holds dL/dc through the next step and is replaced by
   dL/dc_prev. Writes dL/dP and, when r is given, dL/dr; adds the row's share of the
   coefficients' gradients to grad_coefficients. gates and normalized are scratch space of
   4 * hidden each; with `normalize`, n is formed again from r. */
static void backward_row(long hidden, const float *restrict grad_h, const float *restrict P,
                         const float *restrict coefficients, const float *restrict r,
                         int normalize, const float *restrict c_prev,
                         const float *restrict cells, float *restrict carry,
                         float *restrict grad_P, float *restrict grad_coefficients,
                         float *restrict grad_r, float *restrict gates,
                         float *restrict normalized) {
    const long width = 4 * hidden;
    float inverse_deviation = 0.0f;
    if (r && normalize) {
        inverse_deviation = normalize_row(width, r, normalized);
        r = normalized;
    }
    gates_of_row(hidden, P, coefficients, r, gates);
    /* each gate's value is replaced by dL/dpre of that gate, in place */
    float *gate_i = gates, *gate_f = gates + hidden, *gate_o = gates + 2 * hidden;
    float *gate_z = gates + 3 * hidden;
    for (long j = 0; j < hidden; j++) {
        float i = gate_i[j], f = gate_f[j], o = gate_o[j], z = gate_z[j];
        float t = tanh_from_exp(cells[j]);
        float grad_cell = carry[j] + grad_h[j] * o * (1.0f - t * t);
        gate_i[j] = grad_cell * z * i * (1.0f - i);
        gate_f[j] = grad_cell * c_prev[j] * f * (1.0f - f);
        gate_o[j] = grad_h[j] * t * o * (1.0f - o);
        gate_z[j] = grad_cell * i * (1.0f - z * z);
        carry[j] = grad_cell * f;
    }

    const float *grad_pre = gates;
    const float *alpha = coefficients + ALPHA * width, *beta1 = coefficients + BETA1 * width;
    const float *beta2 = coefficients + BETA2 * width;
    float *grad_alpha = grad_coefficients + ALPHA * width;
    float *grad_beta1 = grad_coefficients + BETA1 * width;
    float *grad_beta2 = grad_coefficients + BETA2 * width;
    float *grad_bias = grad_coefficients + BIAS * width;
    if (r) {
        /* pre = A r + B: dA = dpre r, dB = dpre, dr = dpre A */
        for (long q = 0; q < width; q++) {
            float grad_A = grad_pre[q] * r[q];
            grad_r[q] = grad_pre[q] * (alpha[q] * P[q] + beta1[q]);
            grad_P[q] = grad_A * alpha[q] + grad_pre[q] * beta2[q];
            grad_alpha[q] += grad_A * P[q];
            grad_beta1[q] += grad_A;
            grad_beta2[q] += grad_pre[q] * P[q];
            grad_bias[q] += grad_pre[q];
        }
        if (normalize) normalize_row_backward(width, r, inverse_deviation, grad_r);
    } else {
        for (long q = 0; q < width; q++) {
            grad_P[q] = grad_pre[q] * beta2[q];
            grad_beta2[q] += grad_pre[q] * P[q];
            grad_bias[q] += grad_pre[q];
        }
    }
}

/* The coefficients' gradients are sums over rows. When OpenMP shares the rows between
   threads (its thread pool is the one PyTorch's own kernels use), thread 0 adds into the
   result itself and every other thread into a zeroed buffer of its own; thread 0 then adds
   those in, in thread order, so that the sums do not depend on which thread ends first. */
static float *thread_share(float *result, float **shares, long count) {
#ifdef _OPENMP
    int thread = omp_get_thread_num();
    if (thread != 0) shares[thread] = calloc(count, sizeof(float));
    return thread == 0 ? result : shares[thread];
#else
    (void)shares, (void)count;
    return result;
#endif
}

/* Called by every thread after the rows are done (past the barrier of `omp for`). */
static void add_thread_shares(float *result, float **shares, long count) {
#ifdef _OPENMP
    if (omp_get_thread_num() != 0) return;
    for (int thread = 1; thread < omp_get_num_threads(); thread++) {
        for (long k = 0; k < count; k++) result[k] += shares[thread][k];
        free(shares[thread]);
    }
#else
    (void)result, (void)shares, (void)count;
#endif
}

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* The cell state and output of `rows` names; r may be NULL (pre = B). P holds a row of
   input projections per name or, when P_rows is given, is a table whose row P_rows[n] is
   name n's: sampling looks its inputs up this way without copying them out first. */
static inline const float *input_row(const float *P, const int64_t *P_rows, long n,
                                     long width) {
    return P + (P_rows ? P_rows[n] : n) * width;
}

void cell_forward_f32(long rows, long hidden, const float *P, const int64_t *P_rows,
                      const float *coefficients, const float *r, long normalize,
                      const float *c_prev, float *cells, float *outputs) {
    const long width = 4 * hidden;
#pragma omp parallel if (rows > 1)
    {
        float gates[width], normalized[width];
#pragma omp for schedule(static)
        for (long n = 0; n < rows; n++) {
            forward_row(hidden, input_row(P, P_rows, n, width), coefficients,
                        r ? r + n * width : 0, normalize, c_prev + n * hidden,
                        cells + n * hidden, outputs + n * hidden, gates, normalized);
        }
    }
}

void cell_forward_bf16(long rows, long hidden, const bf16 *P, const int64_t *P_rows,
                       const float *coefficients, const bf16 *r, long normalize,
                       const float *c_prev, float *cells, bf16 *outputs) {
    const long width = 4 * hidden;
#pragma omp parallel if (rows > 1)
    {
        float gates[width], normalized[width], P_row[width], r_row[width], output_row[hidden];
#pragma omp for schedule(static)
        for (long n = 0; n < rows; n++) {
            bf16_to_float(width, P + (P_rows ? P_rows[n] : n) * width, P_row);
            if (r) bf16_to_float(width, r + n * width, r_row);
            forward_row(hidden, P_row, coefficients, r ? r_row : 0, normalize,
                        c_prev + n * hidden, cells + n * hidden, output_row, gates, normalized);
            float_to_bf16(hidden, output_row, outputs + n * hidden);
        }
    }
}

/* One step back for `rows` names. dL/dh of a row is grad_outputs plus, for the first
   later_rows rows (the names that go on to the next step), later, and for the others (the
   names whose last step this is) grad_final_h. See backward_row for the rest; grad_r is
   written only when r is given. */
void cell_backward_f32(long rows, long hidden, long later_rows, const float *grad_outputs,
                       const float *later, const float *grad_final_h, const float *P,
                       const float *coefficients, const float *r, long normalize,
                       const float *c_prev,
                       const float *cells, float *carry, float *grad_P,
                       float *grad_coefficients, float *grad_r) {
    const long width = 4 * hidden;
    float *shares[max_threads()];
#pragma omp parallel if (rows > 1)
    {
        float grad_h[hidden], gates[width], normalized[width];
        float *partial = thread_share(grad_coefficients, shares, 4 * width);
#pragma omp for schedule(static)
        for (long n = 0; n < rows; n++) {
            const float *go = grad_outputs + n * hidden;
            const float *gl = n < later_rows ? later + n * hidden : grad_final_h + n * hidden;
            for (long j = 0; j < hidden; j++) grad_h[j] = go[j] + gl[j];
            backward_row(hidden, grad_h, P + n * width, coefficients, r ? r + n * width : 0,
                         normalize, c_prev + n * hidden, cells + n * hidden,
                         carry + n * hidden, grad_P + n * width, partial,
                         r ? grad_r + n * width : 0, gates, normalized);
        }
        add_thread_shares(grad_coefficients, shares, 4 * width);
    }
}

void cell_backward_bf16(long rows, long hidden, long later_rows, const bf16 *grad_outputs,
                        const bf16 *later, const bf16 *grad_final_h, const bf16 *P,
                        const float *coefficients, const bf16 *r, long normalize,
                        const float *c_prev, const float *cells, float *carry, bf16 *grad_P,
                        float *grad_coefficients, bf16 *grad_r) {
    const long width = 4 * hidden;
    float *shares[max_threads()];
#pragma omp parallel if (rows > 1)
    {
        float grad_h[hidden], from_later[hidden], gates[width], normalized[width];
        float P_row[width], r_row[width];
        float grad_P_row[width], grad_r_row[width];
        float *partial = thread_share(grad_coefficients, shares, 4 * width);
#pragma omp for schedule(static)
        for (long n = 0; n < rows; n++) {
            const bf16 *gl = n < later_rows ? later + n * hidden : grad_final_h + n * hidden;
            bf16_to_float(hidden, grad_outputs + n * hidden, grad_h);
            bf16_to_float(hidden, gl, from_later);
            for (long j = 0; j < hidden; j++) grad_h[j] += from_later[j];
            bf16_to_float(width, P + n * width, P_row);
            if (r) bf16_to_float(width, r + n * width, r_row);
            backward_row(hidden, grad_h, P_row, coefficients, r ? r_row : 0, normalize,
                         c_prev + n * hidden, cells + n * hidden, carry + n * hidden,
                         grad_P_row, partial, grad_r_row, gates, normalized);
            float_to_bf16(width, grad_P_row, grad_P + n * width);
            if (r) float_to_bf16(width, grad_r_row, grad_r + n * width);
        }
        add_thread_shares(grad_coefficients, shares, 4 * width);
    }
}

/* to = from^T for a matrix of rows x cols (rows first..last of `from` only), in tiles small
   enough that the lines they read and write all stay in cache; for float32 and bfloat16 */
#define TRANSPOSE(name, type)                                                                 \
    void name(long rows, long cols, long first, long last, const type *restrict from,         \
              type *restrict to) {                                                            \
        enum { TILE = 32 };                                                                   \
        _Pragma("omp parallel for schedule(static)")                                          \
        for (long i0 = first; i0 < last; i0 += TILE) {                                        \
            long i1 = i0 + TILE < last ? i0 + TILE : last;                                    \
            for (long j0 = 0; j0 < cols; j0 += TILE) {                                        \
                long j1 = j0 + TILE < cols ? j0 + TILE : cols;                                \
                for (long j = j0; j < j1; j++)                                                \
                    for (long i = i0; i < i1; i++) to[j * rows + i] = from[i * cols + j];     \
            }                                                                                 \
        }                                                                                     \
    }

TRANSPOSE(transpose_f32, float)
TRANSPOSE(transpose_bf16, bf16)
