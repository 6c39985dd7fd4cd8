//! A memo of an engine's own results keyed by a whole-number argument (a token or sequence count), filled on
//! first use and shared by every thread that prices iterations: an iteration's linear layers, elementwise
//! passes and collectives depend on its token count alone, and serving batches repeat the same few hundred
//! counts millions of times. The cached value is the engine's result for exactly that argument, so a hit
//! returns what computing it again would (bit for bit); arguments that are not whole numbers in
//! `1..CAPACITY` are computed every time.
use std::sync::OnceLock;

/// Entries per block (allocated together on first use of any of them).
const BLOCK: usize = 64;
/// Blocks: whole numbers `1..BLOCK * BLOCKS` are cached.
const BLOCKS: usize = 256;
/// The first argument not cached.
pub const CAPACITY: usize = BLOCK * BLOCKS;

/// `BLOCK` entries, each filled once.
type Block<T> = Box<[OnceLock<T>]>;

/// Lazily filled values of a pure function of a whole number.
pub struct Memo<T> {
    blocks: Box<[OnceLock<Block<T>>]>,
}

impl<T: Copy> Memo<T> {
    pub fn new() -> Self {
        Memo {
            blocks: (0..BLOCKS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// `f()`, the value of the memo's function at `x`, remembered when `x` is a whole number in
    /// `1..CAPACITY`. `f` must depend on `x` alone (and on what never changes for the memo's owner).
    #[inline]
    pub fn get(&self, x: f64, f: impl FnOnce() -> T) -> T {
        // Whole numbers >= 1 only: 0 and -0 (and fractions, NaN, infinities) are computed directly.
        if !(x >= 1.0 && x < CAPACITY as f64 && x.fract() == 0.0) {
            return f();
        }
        let i = x as usize;
        let block =
            self.blocks[i / BLOCK].get_or_init(|| (0..BLOCK).map(|_| OnceLock::new()).collect());
        *block[i % BLOCK].get_or_init(f)
    }

    /// Entries filled so far.
    pub fn filled(&self) -> usize {
        self.blocks
            .iter()
            .filter_map(OnceLock::get)
            .map(|b| b.iter().filter(|e| e.get().is_some()).count())
            .sum()
    }
}

impl<T: Copy> Default for Memo<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A clone starts empty (it may belong to an engine whose fields are then changed).
impl<T: Copy> Clone for Memo<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T: Copy> std::fmt::Debug for Memo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memo({} filled)", self.filled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn remembers_whole_numbers_only() {
        let calls = Cell::new(0);
        let m: Memo<f64> = Memo::new();
        let f = |x: f64| {
            calls.set(calls.get() + 1);
            x * 0.1
        };
        for x in [1.0, 1.0, 63.0, 64.0, 64.0, (CAPACITY - 1) as f64] {
            assert_eq!(m.get(x, || f(x)).to_bits(), (x * 0.1).to_bits());
        }
        assert_eq!(calls.get(), 4);
        assert_eq!(m.filled(), 4);
        for x in [
            0.0,
            -0.0,
            0.5,
            2.5,
            CAPACITY as f64,
            f64::INFINITY,
            f64::NAN,
            -3.0,
        ] {
            m.get(x, || f(x));
        }
        assert_eq!(calls.get(), 12);
        assert_eq!(m.filled(), 4);
        assert_eq!(m.clone().filled(), 0);
    }
}
