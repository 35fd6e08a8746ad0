//! Byte-level mutations, stacked: bit flips, interesting bytes, inserted and deleted runs,
//! duplicated and swapped chunks, truncation, splicing two inputs, tokens from a dictionary and
//! interesting numbers in place of the numbers of the input. Each target adds its own
//! structural mutations (cells, lines, header fields, JSON nodes) on top.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Inputs are cut to this length, so that every iteration stays fast.
pub const MAX_INPUT: usize = 64 << 10;

/// Numbers that find edge cases: missing-value spellings, infinities, overflow, underflow,
/// negative zero, integer limits and sizes that no file holds.
pub const NUMBERS: &[&str] = &[
    "nan",
    "NaN",
    "-nan",
    "NA",
    "?",
    "inf",
    "-inf",
    "infinity",
    "1e308",
    "1e309",
    "-1e309",
    "1.7976931348623157e308",
    "4.9e-324",
    "1e-400",
    "-0",
    "-0.0",
    "0",
    "1",
    "-1",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "2147483648",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "1000000000000",
    "100000000000000000000000000000",
    "0x10",
    "1_000",
    ".5",
    "5.",
    "+1",
    "--1",
    "1e",
    "e5",
    "",
];

/// Bytes that mean something to a CSV, JSON or `.npy` parser, or to UTF-8.
const BYTES: &[u8] = &[
    0, 0xff, 0x7f, 0x80, 0xc3, 0xe4, 0x93, b'\n', b'\r', b',', b'"', b'\'', b'#', b' ', b'\t',
    b'{', b'}', b'[', b']', b'(', b')', b':', b'.', b'-', b'e', b'0', b'9', b'\\',
];

/// A seeded mutator.
pub struct Mutator {
    rng: ChaCha8Rng,
}

impl Mutator {
    /// A mutator drawing from `rng`.
    pub fn new(rng: ChaCha8Rng) -> Self {
        Mutator { rng }
    }

    /// The random numbers, for the targets' structural mutations.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// A random index below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.random_range(0..n)
        }
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// How many mutations to stack: 1 most often, up to 16.
    pub fn count(&mut self) -> usize {
        let mut n = 1;
        while n < 16 && self.rng.random_bool(0.5) {
            n += 1;
        }
        n
    }

    /// One byte-level mutation of `input`, with `other` (another input of the corpus) for
    /// splicing and `tokens` (the target's dictionary) for insertions.
    pub fn mutate_bytes(&mut self, input: &mut Vec<u8>, other: &[u8], tokens: &[&str]) {
        let len = input.len();
        match self.below(12) {
            0 if len > 0 => {
                let at = self.below(len);
                input[at] ^= 1 << self.below(8);
            }
            1 if len > 0 => {
                let at = self.below(len);
                input[at] = *self.pick(BYTES);
            }
            2 if len > 0 => {
                let at = self.below(len);
                input[at] = self.rng.random();
            }
            3 => {
                let at = self.below(len + 1);
                let n = 1 + self.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| self.rng.random()).collect();
                input.splice(at..at, bytes);
            }
            4 if len > 0 => {
                let at = self.below(len);
                let n = (1 + self.below(16)).min(len - at);
                input.drain(at..at + n);
            }
            5 if len > 0 => {
                let at = self.below(len);
                let n = (1 + self.below(64)).min(len - at);
                let chunk = input[at..at + n].to_vec();
                let to = self.below(len + 1);
                input.splice(to..to, chunk);
            }
            6 => {
                let at = self.below(len + 1);
                input.truncate(at);
            }
            7 if !other.is_empty() => {
                // Splice: a prefix of this input, a suffix of the other.
                let cut = self.below(len + 1);
                let from = self.below(other.len());
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            8 if !tokens.is_empty() => {
                let at = self.below(len + 1);
                let token = *self.pick(tokens);
                input.splice(at..at, token.bytes());
            }
            9 => self.replace_number(input),
            10 if len > 1 => {
                // Swap two chunks.
                let a = self.below(len);
                let b = self.below(len);
                let n = (1 + self.below(16)).min(len - a.max(b));
                let (a, b) = (a.min(b), a.max(b));
                if a + n <= b {
                    for i in 0..n {
                        input.swap(a + i, b + i);
                    }
                }
            }
            11 if !other.is_empty() => {
                // Copy a chunk of the other input over this one.
                let from = self.below(other.len());
                let n = (1 + self.below(32)).min(other.len() - from);
                let at = self.below(len + 1);
                let end = (at + n).min(len);
                input.splice(at..end, other[from..from + n].iter().copied());
            }
            _ => {
                let at = self.below(len + 1);
                let number = *self.pick(NUMBERS);
                input.splice(at..at, number.bytes());
            }
        }
        input.truncate(MAX_INPUT);
    }

    /// Replaces a run of digits (with its sign, point and exponent) near a random position by
    /// an interesting number.
    pub fn replace_number(&mut self, input: &mut Vec<u8>) {
        let numeric = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E');
        let len = input.len();
        let start = self.below(len + 1);
        let Some(found) = (start..len)
            .chain(0..start)
            .find(|&i| input[i].is_ascii_digit())
        else {
            let number = *self.pick(NUMBERS);
            input.splice(start..start, number.bytes());
            return;
        };
        let mut a = found;
        while a > 0 && numeric(input[a - 1]) {
            a -= 1;
        }
        let mut b = found;
        while b < len && numeric(input[b]) {
            b += 1;
        }
        let number = *self.pick(NUMBERS);
        input.splice(a..b, number.bytes());
    }
}

/// Splits `input` into lines (without their `\n`).
pub fn lines(input: &[u8]) -> Vec<Vec<u8>> {
    input.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

/// Joins lines with `\n`.
pub fn join_lines(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

/// One line- or cell-level mutation of a CSV-like text: a line duplicated, deleted, swapped,
/// commented out or blanked; a cell replaced by a token or an interesting number, added,
/// removed, quoted or half-quoted; CR-LF line ends.
pub fn mutate_csv(m: &mut Mutator, input: &[u8], tokens: &[&str]) -> Vec<u8> {
    let mut rows = lines(input);
    let n = rows.len();
    let i = m.below(n);
    match m.below(11) {
        0 => {
            let row = rows[i].clone();
            rows.insert(m.below(n + 1), row);
        }
        1 if n > 1 => {
            rows.remove(i);
        }
        2 => {
            let j = m.below(n);
            rows.swap(i, j);
        }
        3 => {
            let mut row = b"#".to_vec();
            row.extend_from_slice(&rows[i]);
            rows.insert(m.below(n + 1), row);
        }
        4 => rows.insert(m.below(n + 1), Vec::new()),
        5 => {
            for row in &mut rows {
                row.push(b'\r');
            }
        }
        _ => {
            let mut cells: Vec<Vec<u8>> =
                rows[i].split(|&b| b == b',').map(<[u8]>::to_vec).collect();
            let c = m.below(cells.len());
            match m.below(5) {
                0 => cells[c] = m.pick(NUMBERS).as_bytes().to_vec(),
                1 if !tokens.is_empty() => cells[c] = m.pick(tokens).as_bytes().to_vec(),
                2 => cells.insert(
                    m.below(cells.len() + 1),
                    m.pick(NUMBERS).as_bytes().to_vec(),
                ),
                3 if cells.len() > 1 => {
                    cells.remove(c);
                }
                _ => {
                    let mut quoted = b"\"".to_vec();
                    quoted.extend_from_slice(&cells[c]);
                    if m.rng().random_bool(0.5) {
                        quoted.push(b'"');
                    }
                    cells[c] = quoted;
                }
            }
            rows[i] = cells.join(&b',');
        }
    }
    let mut out = join_lines(&rows);
    out.truncate(MAX_INPUT);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn mutator(seed: u64) -> Mutator {
        Mutator::new(ChaCha8Rng::seed_from_u64(seed))
    }

    #[test]
    fn the_same_seed_gives_the_same_mutations_and_another_seed_others() {
        let run = |seed| {
            let mut m = mutator(seed);
            let mut input = b"id,a,b\nx,1.5,2\ny,3,4\n".to_vec();
            let mut seen = Vec::new();
            for _ in 0..200 {
                m.mutate_bytes(&mut input, b"other,9,9\n", &["nan"]);
                seen.push(input.clone());
            }
            seen
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn numbers_are_replaced_whole_and_inputs_stay_bounded() {
        let mut m = mutator(1);
        let mut input = b"a,-12.5e3,b".to_vec();
        m.replace_number(&mut input);
        let text = String::from_utf8_lossy(&input).to_string();
        assert!(text.starts_with("a,") && text.ends_with(",b"), "{text}");
        assert!(
            NUMBERS.contains(&&text[2..text.len() - 2]),
            "{text}: the whole number -12.5e3 is replaced by one of NUMBERS"
        );
        let mut big = vec![b'1'; MAX_INPUT];
        for _ in 0..100 {
            m.mutate_bytes(&mut big, &[b'2'; 1000], &[]);
            assert!(big.len() <= MAX_INPUT);
        }
    }

    #[test]
    fn csv_mutations_change_lines_or_cells() {
        let mut m = mutator(3);
        let input = b"id,a\nx,1\ny,2";
        let changed = (0..100)
            .filter(|_| mutate_csv(&mut m, input, &["tok"]) != input)
            .count();
        // Swapping a line with itself or CR-LF on a line is the only no-op-looking change;
        // most mutations change the text.
        assert!(changed > 80, "{changed} of 100 changed the input");
    }
}
