//! Argon2's working memory (19 MiB with the default cost), mapped straight
//! from the kernel so that letting it go gives the pages back.
//!
//! Through the allocator, a block this size is served from an arena once
//! the first one was freed (glibc raises its mmap threshold to the freed
//! size), and the arena keeps it: every blocking thread that ever verified
//! a password kept its 19 MiB. [`WorkMemory`] maps the blocks itself
//! (`mmap`, anonymous and private) and unmaps them when dropped or
//! [`released`](WorkMemory::release), so what it holds is exactly what the
//! resident set shows.

use argon2::Block;
use std::ptr::NonNull;

/// One mapping of `len` zero-filled Argon2 blocks, unmapped on drop.
struct Mapping {
    ptr: NonNull<Block>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; nothing else refers to
// its pages, so it may move to another thread.
unsafe impl Send for Mapping {}

impl Mapping {
    fn new(len: usize) -> std::io::Result<Mapping> {
        let bytes = len
            .checked_mul(Block::SIZE)
            .filter(|b| *b > 0)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choosing touches no existing memory; the result is
        // checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<Block>())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
        Ok(Mapping { ptr, len })
    }

    fn blocks(&mut self) -> &mut [Block] {
        // SAFETY: the mapping holds `len` blocks' bytes, page-aligned (a
        // block needs 64), readable and writable, zero-filled by the
        // kernel, and a zero `Block` is valid (it is plain `u64`s). The
        // slice borrows `self` mutably, so it is the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and the size are those `mmap` returned and
        // accepted, and no slice of the mapping outlives `&mut self`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len * Block::SIZE);
        }
    }
}

/// Argon2 working memory kept between computations: mapped at the first
/// use, grown when a hash asks for more, unmapped by [`Self::release`].
#[derive(Default)]
pub struct WorkMemory {
    mapping: Option<Mapping>,
}

impl std::fmt::Debug for WorkMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkMemory")
            .field("blocks", &self.held())
            .finish()
    }
}

impl WorkMemory {
    /// At least `count` blocks, mapping them if fewer are held. The
    /// contents are whatever the last computation left (Argon2 writes
    /// every block before it reads it).
    pub fn blocks(&mut self, count: usize) -> std::io::Result<&mut [Block]> {
        if self.held() < count {
            self.mapping = None;
            self.mapping = Some(Mapping::new(count)?);
        }
        match &mut self.mapping {
            Some(mapping) => Ok(&mut mapping.blocks()[..count]),
            None => Err(std::io::Error::from(std::io::ErrorKind::OutOfMemory)),
        }
    }

    /// How many blocks are mapped now.
    pub fn held(&self) -> usize {
        self.mapping.as_ref().map_or(0, |m| m.len)
    }

    /// Gives the pages back to the system.
    pub fn release(&mut self) {
        self.mapping = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident KiB of the mapping that starts at `addr`, if one does.
    fn resident_kib(addr: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
        let head = format!("{addr:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head));
        lines.next()?;
        lines
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    #[test]
    fn grows_keeps_and_gives_back() {
        let mut memory = WorkMemory::default();
        assert_eq!(memory.held(), 0);
        let blocks = memory.blocks(16 * 1024).unwrap();
        for b in blocks.iter_mut() {
            *b = Block::new();
        }
        assert_eq!(blocks.len(), 16 * 1024);
        let addr = blocks.as_ptr() as usize;
        assert!(
            resident_kib(addr).unwrap_or(0) >= 16 * 1024,
            "16 MiB touched"
        );
        // A smaller request reuses the mapping.
        assert_eq!(memory.blocks(100).unwrap().as_ptr() as usize, addr);
        assert_eq!(memory.held(), 16 * 1024);
        memory.release();
        assert_eq!(memory.held(), 0);
        assert!(
            resident_kib(addr).unwrap_or(0) < 1024,
            "the pages went back"
        );
        assert!(memory.blocks(0).is_err(), "no empty mapping");
    }
}
