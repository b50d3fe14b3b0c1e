//! Rolling batches (docs/batches.md): `serial:` in the inventory or `--serial` on the
//! command line, as a number, a percentage or a list of growing sizes, and how it splits
//! the selected machines into batches, by Ansible's rules: a percentage is of every
//! selected machine, rounded down but at least 1, and the last size of a list repeats.
//! A leaf: the loader, the command line and the run read it.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// One batch size as written: a number of machines or a percentage of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// So many machines (at least 1).
    Count(u64),
    /// So many percent of the selected machines (1 to 100).
    Percent(u8),
}

impl BatchSize {
    /// The size of a batch of `total` selected machines: a percentage is rounded down, but
    /// is at least 1 (Ansible's `pct_to_int`).
    pub fn of(self, total: usize) -> usize {
        match self {
            BatchSize::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
            BatchSize::Percent(p) => (total * usize::from(p) / 100).max(1),
        }
    }

    /// Read one size: `3` or `"25%"`; the message says what was expected.
    pub fn parse(text: &str) -> Result<BatchSize, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "invalid batch size `{text}`: expected a whole number of machines from 1, or a percentage from 1% to 100% such as \"25%\""
            )
        };
        match t.strip_suffix('%') {
            Some(p) => match p.parse::<u64>() {
                Ok(p @ 1..=100) => Ok(BatchSize::Percent(p as u8)),
                _ => Err(bad()),
            },
            None => match t.parse::<u64>() {
                Ok(n @ 1..) => Ok(BatchSize::Count(n)),
                _ => Err(bad()),
            },
        }
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            BatchSize::Count(n) => write!(f, "{n}"),
            BatchSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// `serial:`: the sizes of the batches in order; the last one repeats. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serial(Vec<BatchSize>);

impl Serial {
    /// The sizes as written; `None` for an empty list.
    pub fn new(sizes: Vec<BatchSize>) -> Option<Serial> {
        (!sizes.is_empty()).then_some(Serial(sizes))
    }

    /// `--serial`: `2`, `"25%"` or a comma-separated list (`1,5,25%`).
    pub fn parse(text: &str) -> Result<Serial, String> {
        let sizes = text
            .split(',')
            .map(BatchSize::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Serial::new(sizes).ok_or_else(|| "expected at least one batch size".to_string())
    }

    /// Split `total` machines (in order) into batches: the size of each, first to last.
    pub fn sizes(&self, total: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut left = total;
        let mut next = self.0.iter();
        let mut size = self.0[0];
        while left > 0 {
            if let Some(s) = next.next() {
                size = *s;
            }
            let n = size.of(total).min(left);
            out.push(n);
            left -= n;
        }
        out
    }

    /// Split `items` into batches, in order.
    pub fn split<T: Clone>(&self, items: &[T]) -> Vec<Vec<T>> {
        let mut rest = items;
        self.sizes(items.len())
            .into_iter()
            .map(|n| {
                let (batch, after) = rest.split_at(n);
                rest = after;
                batch.to_vec()
            })
            .collect()
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let words: Vec<String> = self.0.iter().map(BatchSize::to_string).collect();
        f.write_str(&words.join(", "))
    }
}

/// Whether a batch's failures stop the batches after it: more than `max_fail_percentage`
/// of its machines failed (strictly more, as Ansible), or every one of them did (Ansible
/// ends the play then, whatever the percentage).
pub fn stops(failed: usize, batch: usize, max_fail_percentage: u8) -> bool {
    failed > 0 && (failed == batch || failed * 100 > usize::from(max_fail_percentage) * batch)
}

impl<'de> Deserialize<'de> for BatchSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = BatchSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a whole number of machines from 1, or a percentage such as \"25%\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BatchSize, E> {
                BatchSize::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BatchSize, E> {
                BatchSize::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BatchSize, E> {
                BatchSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Serial;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a batch size (a number from 1, or a percentage such as \"25%\") or a list of them",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Serial, E> {
                BatchSize::parse(&v.to_string())
                    .map(|s| Serial(vec![s]))
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Serial, E> {
                BatchSize::parse(&v.to_string())
                    .map(|s| Serial(vec![s]))
                    .map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Serial, E> {
                BatchSize::parse(v)
                    .map(|s| Serial(vec![s]))
                    .map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Serial, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<BatchSize>()? {
                    out.push(s);
                }
                Serial::new(out).ok_or_else(|| {
                    de::Error::custom("serial: an empty list has no batch size; give at least one")
                })
            }
        }
        d.deserialize_any(V)
    }
}

// The schema of the hand-written deserializer above: what its visitor accepts.
impl JsonSchema for Serial {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Serial".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let size = json_schema!({
            "anyOf": [
                { "type": "integer", "minimum": 1 },
                { "type": "string", "pattern": "^\\s*([1-9][0-9]?|100)%\\s*$" }
            ]
        });
        json_schema!({
            "description": "Rolling batches: a number of machines, a percentage such as \"25%\", or a list of them (the last repeats).",
            "anyOf": [size.clone(), { "type": "array", "items": size, "minItems": 1 }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serial(text: &str) -> Serial {
        Serial::parse(text).unwrap()
    }

    #[test]
    fn a_number_makes_batches_of_that_size_and_a_last_smaller_one() {
        assert_eq!(serial("1").sizes(3), [1, 1, 1]);
        assert_eq!(serial("2").sizes(5), [2, 2, 1]);
        assert_eq!(serial("10").sizes(3), [3]);
        assert_eq!(serial("1").sizes(0), Vec::<usize>::new());
    }

    #[test]
    fn a_percentage_is_of_every_machine_rounded_down_but_at_least_one() {
        // 25% of 10 is 2.5: 2 (Ansible's int()), so 2, 2, 2, 2, 2.
        assert_eq!(serial("25%").sizes(10), [2, 2, 2, 2, 2]);
        // 30% of 3 is 0.9: at least 1.
        assert_eq!(serial("30%").sizes(3), [1, 1, 1]);
        assert_eq!(serial("50%").sizes(5), [2, 2, 1]);
        assert_eq!(serial("100%").sizes(7), [7]);
        assert_eq!(serial("1%").sizes(150), vec![1; 150]);
    }

    #[test]
    fn a_list_grows_and_its_last_size_repeats() {
        // Ansible's documented example: 1, then 5, then 25% of 20 = 5, repeating.
        assert_eq!(serial("1,5,25%").sizes(20), [1, 5, 5, 5, 4]);
        assert_eq!(serial("1,5,25%").sizes(3), [1, 2]);
        assert_eq!(serial("1, 2").sizes(7), [1, 2, 2, 2]);
        assert_eq!(
            serial("1,2").split(&["a", "b", "c", "d"]),
            [vec!["a"], vec!["b", "c"], vec!["d"]]
        );
    }

    #[test]
    fn zero_negative_out_of_range_and_words_are_refused() {
        for bad in [
            "0", "-1", "0%", "150%", "101%", "x", "", "2.5", "%", "1,,2", "-5%",
        ] {
            let err = Serial::parse(bad).unwrap_err();
            assert!(err.starts_with("invalid batch size"), "{bad}: {err}");
        }
        assert_eq!(serial("1, 25%").to_string(), "1, 25%");
    }

    #[test]
    fn a_batch_stops_the_run_above_the_percentage_or_when_all_failed() {
        assert!(!stops(0, 1, 0));
        assert!(stops(1, 1, 0));
        assert!(stops(1, 4, 0));
        // 1 of 4 is 25%: not more than 25, so the run goes on; 2 of 4 is.
        assert!(!stops(1, 4, 25));
        assert!(stops(2, 4, 25));
        // 100 never stops by the percentage, but a batch that failed whole does.
        assert!(!stops(3, 4, 100));
        assert!(stops(4, 4, 100));
    }

    #[test]
    fn yaml_forms_read_as_the_command_line_does() {
        let read = |text: &str| serde_json::from_str::<Serial>(text).map_err(|e| e.to_string());
        assert_eq!(read("2"), Ok(serial("2")));
        assert_eq!(read("\"25%\""), Ok(serial("25%")));
        assert_eq!(read("[1, \"50%\"]"), Ok(serial("1,50%")));
        assert!(read("[]").unwrap_err().contains("empty list"));
        assert!(read("0").unwrap_err().contains("invalid batch size `0`"));
        assert!(read("-3").unwrap_err().contains("invalid batch size `-3`"));
        assert!(read("true").is_err());
        assert!(read("1.5").is_err());
    }
}
