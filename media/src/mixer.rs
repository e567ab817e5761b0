//! Mixing several speakers into one frame, with saturation instead of wrap-around.

/// Adds `frame` into `mix` sample by sample, saturating at the i16 range.
pub fn mix_into(mix: &mut [i16], frame: &[i16]) {
    for (out, sample) in mix.iter_mut().zip(frame) {
        *out = out.saturating_add(*sample);
    }
}

/// Mean square level of a frame in dBFS (−∞ for silence): the sender's audio level for the
/// active-speaker signal and the pre-join level meter.
pub fn level_dbfs(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return f32::NEG_INFINITY;
    }
    let energy: f64 = frame.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / frame.len() as f64;
    if energy == 0.0 {
        return f32::NEG_INFINITY;
    }
    (10.0 * (energy / f64::from(i16::MAX).powi(2)).log10()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_saturates_and_levels_are_in_dbfs() {
        let mut mix = vec![30_000i16, -30_000, 5];
        mix_into(&mut mix, &[10_000, -10_000, 5]);
        assert_eq!(mix, vec![i16::MAX, i16::MIN, 10]);
        assert!(level_dbfs(&[0; 960]).is_infinite());
        let full = vec![i16::MAX; 960];
        assert!(level_dbfs(&full).abs() < 0.01);
    }
}
