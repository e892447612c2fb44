//! What the Transformers of both peers share besides their layers: the
//! sinusoidal position table and the causal mask, as plain row-major values.

/// Sinusoidal position encoding of transformer_seq (Vaswani et al. 2017, §3.5):
/// `pe[pos, 2i] = sin(pos / 10000^(2i/d))`, `pe[pos, 2i+1] = cos(...)`, computed
/// in f32 with the same operations as `tchport::models::positional_encoding`.
/// Row-major `[seq, d_model]`.
pub fn positional_encoding(seq: usize, d_model: usize) -> Vec<f32> {
    let scale = -(10000f64.ln()) / d_model as f64;
    let mut pe = vec![0f32; seq * d_model];
    for pos in 0..seq {
        for i in (0..d_model).step_by(2) {
            let div = (i as f32 * scale as f32).exp();
            let angle = pos as f32 * div;
            pe[pos * d_model + i] = angle.sin();
            if i + 1 < d_model {
                pe[pos * d_model + i + 1] = angle.cos();
            }
        }
    }
    pe
}

/// transformer_seq's causal mask, `[seq, seq]` row-major: 0 where step `i` may
/// attend to step `j` (j ≤ i), −∞ above the diagonal (added to the scores).
pub fn causal_mask(seq: usize) -> Vec<f32> {
    (0..seq * seq)
        .map(|k| {
            if k % seq > k / seq {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect()
}
