//! Serde form of [`kernels::Padding`] (`"valid"` / `"same"`, as in Keras configs).

use kernels::Padding;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serialises a [`Padding`] as `"valid"` or `"same"`.
pub fn serialize<S: Serializer>(p: &Padding, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Padding::Valid => "valid",
        Padding::Same => "same",
    }
    .serialize(s)
}

/// Parses `"valid"` or `"same"` into a [`Padding`].
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Padding, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "valid" => Ok(Padding::Valid),
        "same" => Ok(Padding::Same),
        other => Err(serde::de::Error::custom(format!(
            "unknown padding {other:?} (expected \"valid\" or \"same\")"
        ))),
    }
}

/// Default padding for serde (`valid`, Keras's default).
pub(crate) fn default() -> Padding {
    Padding::Valid
}
