/* The elementwise part of one MI-LSTM time step, forward and backward, in one pass each.

   PyTorch runs each elementwise operation of the cell as its own pass over memory; here
   the work of one name (one row) is done while the row sits in the core's first-level
   cache. generator/fused_cell.py compiles this file with the system's C compiler and calls
   it through ctypes: it needs no PyTorch headers. Names follow generator/milstm.py:

       pre = A * r + B,  r = U h_{t-1}  (r absent when h_{t-1} = 0)
       i, f, o = sigmoid(pre_i, pre_f, pre_o);  z = tanh(pre_z)
       c = f * c_prev + i * z;  h = o * tanh(c)

   A row holds the four gates i, f, o, z side by side (4 * hidden values). The tensors that
   feed matrix products (r, h and their gradients) come in the products' precision, float32
   or bfloat16, so each entry point exists twice, suffixed _f32 and _bf16; everything else
   is float32. The loops are written so that the compiler vectorizes them, the exponentials
   included (glibc's vector math library, with -ffast-math). */

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef uint16_t bf16;

static inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* tanh(x) = 2 sigmoid(2x) - 1: one exponential, exact to float32 rounding */
static inline float tanh_from_exp(float x) { return 2.0f / (1.0f + expf(-2.0f * x)) - 1.0f; }

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

static void forward_row(long hidden, const float *restrict a, const float *restrict b,
                        const float *restrict r, const float *restrict c_prev,
                        float *restrict gates, float *restrict cells,
                        float *restrict tanh_cells, float *restrict outputs) {
    const long width = 4 * hidden;
    if (r) {
        for (long q = 0; q < width; q++) gates[q] = b[q] + a[q] * r[q];
    } else {
        memcpy(gates, b, width * sizeof *gates);
    }
    float *gate_i = gates, *gate_f = gates + hidden, *gate_o = gates + 2 * hidden;
    float *gate_z = gates + 3 * hidden;
    for (long j = 0; j < hidden; j++) {
        float i = sigmoid(gate_i[j]), f = sigmoid(gate_f[j]), o = sigmoid(gate_o[j]);
        float z = tanh_from_exp(gate_z[j]);
        float cell = f * c_prev[j] + i * z;
        float tanh_cell = tanh_from_exp(cell);
        gate_i[j] = i;
        gate_f[j] = f;
        gate_o[j] = o;
        gate_z[j] = z;
        cells[j] = cell;
        tanh_cells[j] = tanh_cell;
        outputs[j] = o * tanh_cell;
    }
}

/* dL/dh of the row is given; carry holds dL/dc through the next step and is replaced by
   dL/dc_prev. Writes dL/dpre (which is dL/dB) and, when r is given, dL/dA and dL/dr. */
static void backward_row(long hidden, const float *restrict grad_h, const float *restrict gates,
                         const float *restrict c_prev, const float *restrict tanh_cells,
                         const float *restrict a, const float *restrict r,
                         float *restrict carry, float *restrict grad_pre,
                         float *restrict grad_A, float *restrict grad_r) {
    const long width = 4 * hidden;
    const float *gate_i = gates, *gate_f = gates + hidden, *gate_o = gates + 2 * hidden;
    const float *gate_z = gates + 3 * hidden;
    float *grad_i = grad_pre, *grad_f = grad_pre + hidden, *grad_o = grad_pre + 2 * hidden;
    float *grad_z = grad_pre + 3 * hidden;
    for (long j = 0; j < hidden; j++) {
        float i = gate_i[j], f = gate_f[j], o = gate_o[j], z = gate_z[j], t = tanh_cells[j];
        float grad_cell = carry[j] + grad_h[j] * o * (1.0f - t * t);
        grad_i[j] = grad_cell * z * i * (1.0f - i);
        grad_f[j] = grad_cell * c_prev[j] * f * (1.0f - f);
        grad_o[j] = grad_h[j] * t * o * (1.0f - o);
        grad_z[j] = grad_cell * i * (1.0f - z * z);
        carry[j] = grad_cell * f;
    }
    if (r) {
        for (long q = 0; q < width; q++) {
            grad_A[q] = grad_pre[q] * r[q];
            grad_r[q] = grad_pre[q] * a[q];
        }
    } else {
        memset(grad_A, 0, width * sizeof *grad_A);
    }
}

/* Gates, cell, tanh of the cell and output of `rows` names; r may be NULL (pre = B). */
void cell_forward_f32(long rows, long hidden, const float *A, const float *B, const float *r,
                      const float *c_prev, float *gates, float *cells, float *tanh_cells,
                      float *outputs) {
    const long width = 4 * hidden;
    for (long n = 0; n < rows; n++) {
        forward_row(hidden, A + n * width, B + n * width, r ? r + n * width : 0,
                    c_prev + n * hidden, gates + n * width, cells + n * hidden,
                    tanh_cells + n * hidden, outputs + n * hidden);
    }
}

void cell_forward_bf16(long rows, long hidden, const float *A, const float *B, const bf16 *r,
                       const float *c_prev, float *gates, float *cells, float *tanh_cells,
                       bf16 *outputs) {
    const long width = 4 * hidden;
    float r_row[width], output_row[hidden];
    for (long n = 0; n < rows; n++) {
        if (r) bf16_to_float(width, r + n * width, r_row);
        forward_row(hidden, A + n * width, B + n * width, r ? r_row : 0, c_prev + n * hidden,
                    gates + n * width, cells + n * hidden, tanh_cells + n * hidden, output_row);
        float_to_bf16(hidden, output_row, outputs + n * hidden);
    }
}

/* One step back for `rows` names. dL/dh of a row is grad_outputs plus, for the first
   later_rows rows (the names that go on to the next step), later, and for the others (the
   names whose last step this is) grad_final_h. See backward_row for the rest; grad_r is
   dL/dr, written only when r is given. */
void cell_backward_f32(long rows, long hidden, long later_rows, const float *grad_outputs,
                       const float *later, const float *grad_final_h, const float *gates,
                       const float *c_prev, const float *tanh_cells, const float *A,
                       const float *r, float *carry, float *grad_pre, float *grad_A,
                       float *grad_r) {
    const long width = 4 * hidden;
    float grad_h[hidden];
    for (long n = 0; n < rows; n++) {
        const float *go = grad_outputs + n * hidden;
        const float *gl = n < later_rows ? later + n * hidden : grad_final_h + n * hidden;
        for (long j = 0; j < hidden; j++) grad_h[j] = go[j] + gl[j];
        backward_row(hidden, grad_h, gates + n * width, c_prev + n * hidden,
                     tanh_cells + n * hidden, A + n * width, r ? r + n * width : 0,
                     carry + n * hidden, grad_pre + n * width, grad_A + n * width,
                     r ? grad_r + n * width : 0);
    }
}

void cell_backward_bf16(long rows, long hidden, long later_rows, const bf16 *grad_outputs,
                        const bf16 *later, const bf16 *grad_final_h, const float *gates,
                        const float *c_prev, const float *tanh_cells, const float *A,
                        const bf16 *r, float *carry, float *grad_pre, float *grad_A,
                        bf16 *grad_r) {
    const long width = 4 * hidden;
    float grad_h[hidden], from_later[hidden], r_row[width], grad_r_row[width];
    for (long n = 0; n < rows; n++) {
        const bf16 *gl = n < later_rows ? later + n * hidden : grad_final_h + n * hidden;
        bf16_to_float(hidden, grad_outputs + n * hidden, grad_h);
        bf16_to_float(hidden, gl, from_later);
        for (long j = 0; j < hidden; j++) grad_h[j] += from_later[j];
        if (r) bf16_to_float(width, r + n * width, r_row);
        backward_row(hidden, grad_h, gates + n * width, c_prev + n * hidden,
                     tanh_cells + n * hidden, A + n * width, r ? r_row : 0, carry + n * hidden,
                     grad_pre + n * width, grad_A + n * width, grad_r_row);
        if (r) float_to_bf16(width, grad_r_row, grad_r + n * width);
    }
}
