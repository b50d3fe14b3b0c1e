//! Value types that several kinds' specs share: a file mode and present/absent.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A file mode written as a string of octal digits (`"0644"`, `"755"`).
///
/// A bare number is refused: YAML reads `755` as decimal seven hundred fifty-five, and
/// guessing which the user meant is how files end up with the wrong permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Mode {
    /// The mode as four octal digits.
    pub fn octal(self) -> String {
        format!("{:04o}", self.0)
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Mode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mode as a quoted string of octal digits, such as \"0644\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Mode, E> {
                Err(E::custom(format!(
                    "mode {v} is a number; write it as a quoted string of octal digits, such as \"0{v}\""
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Mode, E> {
                self.visit_u64(v.unsigned_abs())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Mode, E> {
                let ok =
                    (3..=4).contains(&v.len()) && v.bytes().all(|b| (b'0'..=b'7').contains(&b));
                if !ok {
                    return Err(E::custom(format!(
                        "invalid mode \"{v}\", expected 3 or 4 octal digits such as \"0644\""
                    )));
                }
                u32::from_str_radix(v, 8)
                    .map(Mode)
                    .map_err(|_| E::custom(format!("invalid mode \"{v}\"")))
            }
        }
        d.deserialize_any(V)
    }
}

/// What [`Mode`]'s deserializer accepts: a quoted string of 3 or 4 octal digits. (`0755`
/// unquoted is a string to the loader, which reads leading zeros as text.)
impl schemars::JsonSchema for Mode {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Mode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A file mode as a quoted string of octal digits, such as \"0644\".",
            "type": "string",
            "pattern": "^[0-7]{3,4}$"
        })
    }
}

/// Present or absent (directory, line, user).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// Exists (the default).
    #[default]
    Present,
    /// Does not exist.
    Absent,
}
