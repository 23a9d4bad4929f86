//! Quantised baselines kept on the device across calls. The engine tests every
//! window of a batch, and the batches that follow until its model is refreshed,
//! against one baseline; its integers are uploaded when first needed and found
//! again by content (values and grid), not by where the caller keeps them.

use std::collections::VecDeque;

use crate::quantize::Grid;

/// Images remembered for reuse; the buffer keeps older ones until it is full.
const REMEMBERED: usize = 64;
/// Smallest resident buffer, in 4-byte words (4 MiB).
const MIN_WORDS: u64 = 1 << 20;

struct Image {
    values: Vec<f32>,
    grid: Grid,
    offset: u32,
}

/// Which baseline integers the resident buffer holds, and where. Words are only
/// appended until a chunk's new images do not fit; then everything is forgotten
/// and that chunk starts the buffer afresh.
#[derive(Default)]
pub(super) struct Baselines {
    images: VecDeque<Image>,
    used: u64,
    capacity: u64,
}

impl Baselines {
    /// Makes room for `words` more (an upper bound for a chunk's new images).
    pub fn reserve(&mut self, words: u64, max_words: u64) {
        if self.used + words > self.capacity {
            self.images.clear();
            self.used = 0;
            self.capacity = self
                .capacity
                .max((2 * words).clamp(MIN_WORDS.min(max_words), max_words))
                .max(words);
        }
    }

    /// The offset of an image with these values on this grid, if it is resident.
    pub fn find(&self, values: &[f32], grid: &Grid) -> Option<u32> {
        self.images
            .iter()
            .rev()
            .find(|im| {
                im.grid.same(grid)
                    && bytemuck::cast_slice::<f32, u32>(&im.values)
                        == bytemuck::cast_slice::<f32, u32>(values)
            })
            .map(|im| im.offset)
    }

    /// Places a new image after the last one; [`Self::reserve`] made room.
    pub fn insert(&mut self, values: &[f32], grid: Grid) -> u32 {
        let offset = self.used as u32;
        self.used += values.len() as u64;
        debug_assert!(self.used <= self.capacity);
        if self.images.len() == REMEMBERED {
            self.images.pop_front();
        }
        self.images.push_back(Image {
            values: values.to_vec(),
            grid,
            offset,
        });
        offset
    }

    /// Where the next new image goes.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// The size the resident buffer must have, in words.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(max: f32) -> Grid {
        Grid {
            min: 0.0,
            max,
            scale_bits: 20,
        }
    }

    #[test]
    fn finds_by_content_and_grid_and_forgets_when_full() {
        let mut b = Baselines::default();
        b.reserve(6, 1 << 30);
        assert_eq!(b.capacity(), MIN_WORDS);
        let x = [1.0f32, 2.0, 3.0];
        assert_eq!(b.find(&x, &grid(3.0)), None);
        assert_eq!(b.insert(&x, grid(3.0)), 0);
        assert_eq!(b.insert(&x, grid(4.0)), 3);
        assert_eq!(b.find(&x, &grid(3.0)), Some(0));
        assert_eq!(b.find(&x, &grid(4.0)), Some(3));
        assert_eq!(b.find(&[1.0, 2.0, 3.5], &grid(3.0)), None);
        // Room left: nothing forgotten.
        b.reserve(MIN_WORDS - 6, 1 << 30);
        assert_eq!(b.find(&x, &grid(3.0)), Some(0));
        // No room: the buffer starts afresh.
        b.reserve(MIN_WORDS, 1 << 30);
        assert_eq!((b.used(), b.find(&x, &grid(3.0))), (0, None));
        assert_eq!(b.capacity(), 2 * MIN_WORDS);
    }
}
