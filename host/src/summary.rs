//! `model.summary()`: Keras's table of layers, output shapes and parameter counts.

use crate::model::Model;

/// Formats `n` with thousands separators, as Keras does (`104,202`).
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// One row of the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// `name (Class)`.
    pub layer: String,
    /// `(None, 26, 26, 32)`.
    pub output_shape: String,
    /// Parameters of the layer.
    pub params: usize,
}

/// The rows of the summary.
pub fn rows(model: &Model) -> Vec<SummaryRow> {
    model
        .layers()
        .iter()
        .zip(model.output_shapes())
        .enumerate()
        .map(|(i, (l, s))| SummaryRow {
            layer: format!("{} ({})", l.name, l.kind.class_name()),
            output_shape: s.to_string(),
            params: model.layer_param_count(i),
        })
        .collect()
}

/// The summary table, as printed by Keras 2 for a `Sequential` model named `name`.
pub fn summary(model: &Model, name: &str) -> String {
    let rows = rows(model);
    let widest = rows
        .iter()
        .map(|r| r.layer.chars().count() + 2)
        .max()
        .unwrap_or(0);
    let w: [usize; 3] = [widest.max(29), 26, 10];
    let line = |c: char| c.to_string().repeat(w.iter().sum::<usize>()) + "\n";
    let row = |a: &str, b: &str, c: &str| {
        let mut s = String::new();
        for (text, w) in [a, b, c].into_iter().zip(w) {
            s += &format!("{text:<w$}");
            if text.chars().count() >= w {
                s.push(' ');
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = format!("Model: \"{name}\"\n");
    out += &line('_');
    out += &row(" Layer (type)", "Output Shape", "Param #");
    out += &line('=');
    for (i, r) in rows.iter().enumerate() {
        out += &row(
            &format!(" {}", r.layer),
            &r.output_shape,
            &thousands(r.params),
        );
        out += if i + 1 < rows.len() { "\n" } else { "" };
    }
    out += &line('=');
    let total = model.param_count();
    let trainable = model.trainable_param_count();
    out += &format!("Total params: {}\n", thousands(total));
    out += &format!("Trainable params: {}\n", thousands(trainable));
    out += &format!("Non-trainable params: {}\n", thousands(total - trainable));
    out += &line('_');
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(320), "320");
        assert_eq!(thousands(18_496), "18,496");
        assert_eq!(thousands(991_041), "991,041");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
