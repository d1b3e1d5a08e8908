//! A reader of the Prometheus text format, enough to compare every series of a scrape.

use std::collections::BTreeMap;
use std::fmt;

/// One series: a metric name and its labels.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl fmt::Debug for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.name, self.labels)
    }
}

impl Series {
    pub fn new(name: &str, labels: &[(&str, &str)]) -> Series {
        Series {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// Every sample of one scrape, with the HELP and TYPE lines seen.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Exposition {
    pub samples: BTreeMap<Series, f64>,
    pub help: BTreeMap<String, String>,
    pub types: BTreeMap<String, String>,
}

impl Exposition {
    pub fn parse(text: &str) -> Exposition {
        let mut exposition = Exposition::default();
        for line in text.lines().filter(|line| !line.is_empty()) {
            exposition.read_line(line);
        }
        exposition
    }

    fn read_line(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a name and a text");
            self.help.insert(name.to_owned(), help.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a name and a type");
            self.types.insert(name.to_owned(), kind.to_owned());
        } else if !line.starts_with('#') {
            let (series, value) = sample(line);
            let previous = self.samples.insert(series, value);
            assert!(previous.is_none(), "duplicate series in {line:?}");
        }
    }

    /// The value of the series `name` with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.get(&Series::new(name, labels)).copied()
    }

    /// Every series of the metric `name`.
    pub fn family(&self, name: &str) -> Vec<(&Series, f64)> {
        self.samples
            .iter()
            .filter(|(series, _)| series.name == name)
            .map(|(series, value)| (series, *value))
            .collect()
    }

    /// The one value of an unlabelled-but-for-service metric, by name.
    pub fn single(&self, name: &str) -> Option<f64> {
        match self.family(name).as_slice() {
            [] => None,
            [(_, value)] => Some(*value),
            many => panic!("{name} has {} series", many.len()),
        }
    }
}

/// `name{a="x",b="y"} value`, with escaped label values.
fn sample(line: &str) -> (Series, f64) {
    let (name, rest) = match line.find('{') {
        Some(brace) => (&line[..brace], &line[brace + 1..]),
        None => {
            let (name, value) = line.split_once(' ').expect("a sample has a value");
            return (Series::new(name, &[]), number(value));
        }
    };

    let mut labels = BTreeMap::new();
    let mut chars = rest.chars();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let key = key.trim_start_matches(',').to_owned();
        if key.starts_with('}') || key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "label {key} is quoted in {line:?}");
        labels.insert(key, quoted(&mut chars));
        if chars.clone().next() == Some('}') {
            chars.next();
            break;
        }
    }
    let value = chars.as_str().trim();

    let series = Series {
        name: name.to_owned(),
        labels,
    };
    (series, number(value))
}

fn quoted(chars: &mut std::str::Chars<'_>) -> String {
    let mut value = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return value,
            '\\' => match chars.next() {
                Some('n') => value.push('\n'),
                Some(other) => value.push(other),
                None => break,
            },
            other => value.push(other),
        }
    }
    panic!("unterminated label value {value:?}");
}

fn number(text: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {other:?}")),
    }
}
