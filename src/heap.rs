//! The library's heap: the system allocator, with large blocks placed half a page past a page boundary.
//!
//! Why: rustls copies every record it decrypts (up to 16 KiB) out of its receive buffer into a fresh
//! `Vec`, and every record it encrypts from the caller's buffer into a fresh `Vec` 5 bytes past its
//! start. When the destination of such a copy lies a few bytes *after* its source modulo 4096, each
//! load of the copy aliases the store just made ("4K aliasing") and glibc's `rep movsb` path (copies
//! of 8 KiB and more) crawls. With glibc's default placement that happened to the decrypt copy on
//! every record, and it cost a third of a download's client CPU (docs/benchmarks.md, "Heap placement").
//!
//! Large blocks therefore start at page offset [`OFFSET`] (2048):
//! - rustls' receive buffer and the plaintext `Vec` sit at the same page offset, so the decrypt copy
//!   goes from `record + 5` to an address 5 bytes *before* it modulo 4096: no aliasing;
//! - caller buffers commonly start at page offset 0 (page-aligned or `mmap`) or 16 (large `malloc`);
//!   at 2048 neither the encrypt copy (caller → `Vec + 5`) nor the copy back to the caller
//!   (`Vec` → caller) lands within the 64 bytes after its source.
//!
//! Small blocks (most of them) go to `malloc` untouched; a block of [`LARGE`] bytes or more costs
//! [`OFFSET`] bytes more (glibc returns the slack in front of the page to its free lists), and a
//! large block that is resized within the room it has stays where it is.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks of this size and larger are placed at [`OFFSET`] in a page.
const LARGE: usize = 4096;
const PAGE: usize = 4096;
/// Where in its page a large block starts.
const OFFSET: usize = PAGE / 2;

/// The global allocator of the library (see the module documentation).
pub struct Heap;

/// The start of the posix_memalign block that holds the large block at `ptr`: the pointer handed out
/// was derived from it, so stepping back keeps its provenance (Miri, Tree Borrows: `make miri`).
fn base(ptr: *mut u8) -> *mut libc::c_void {
    ptr.wrapping_sub(OFFSET).cast()
}

fn is_large(layout: &Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= OFFSET
}

// SAFETY: small blocks come from and return to `System`; large ones are OFFSET bytes into a
// posix_memalign block of OFFSET more bytes and are released by freeing that block; sizes and alignments are honoured as `GlobalAlloc` requires.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !is_large(&layout) {
            // SAFETY: forwarded with the caller's guarantees (non-zero size).
            return unsafe { System.alloc(layout) };
        }
        let Some(total) = layout.size().checked_add(OFFSET) else {
            return std::ptr::null_mut();
        };
        let mut out: *mut libc::c_void = std::ptr::null_mut();
        // SAFETY: `out` is a valid place for the result; PAGE is a power of two and a multiple of the
        // pointer size, as posix_memalign requires.
        match unsafe { libc::posix_memalign(&mut out, PAGE, total) } {
            // SAFETY: the block is `OFFSET + size` bytes long, so `OFFSET` is inside it.
            0 => unsafe { out.cast::<u8>().add(OFFSET) },
            _ => std::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(&layout) {
            // SAFETY: `ptr` came from `alloc` with this layout, i.e. OFFSET bytes into a block from
            // posix_memalign, which free() releases.
            unsafe { libc::free(base(ptr)) };
        } else {
            // SAFETY: a small block came from System.alloc with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !is_large(&layout) {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // SAFETY: non-zero size (it is at least LARGE).
        let p = unsafe { self.alloc(layout) };
        if !p.is_null() {
            // SAFETY: `p` is valid for `layout.size()` bytes.
            unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `layout.align()` is the block's alignment and `new_size` is non-zero and fits
        // isize when rounded to it (the caller's guarantees for realloc).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !is_large(&layout) && !is_large(&new_layout) {
            // SAFETY: both small: the system's realloc keeps malloc's alignment, which is enough.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if is_large(&layout) && is_large(&new_layout) {
            // In place when the block already has the room: rustls shrinks its receive buffer
            // whenever it empties and grows it again 4 KiB at a time for the next record; moving
            // it each time would copy ~40 KiB per 16 KiB record.
            // SAFETY: `ptr - OFFSET` is the start of the posix_memalign block holding `ptr`.
            let room = unsafe { libc::malloc_usable_size(base(ptr)) } - OFFSET;
            if new_size <= room {
                return ptr;
            }
        }
        // SAFETY: as `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size and do not overlap (`new` is fresh).
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_are_page_aligned_and_keep_contents() {
        let heap = Heap;
        let layout = Layout::from_size_align(16384, 1).unwrap();
        // SAFETY: test of the allocator itself; the block is used within its size and freed once.
        unsafe {
            let p = heap.alloc(layout);
            assert!(!p.is_null());
            assert_eq!(p as usize % PAGE, OFFSET);
            p.write_bytes(7, 16384);
            let same = heap.realloc(p, layout, 4096);
            assert_eq!(
                same, p,
                "shrinking a large block within its room keeps it in place"
            );
            let grown = heap.realloc(same, Layout::from_size_align(4096, 1).unwrap(), 16384);
            assert_eq!(grown, p, "growing back within its room keeps it in place");
            let q = heap.realloc(p, layout, 100);
            assert_eq!(*q.add(99), 7);
            let layout = Layout::from_size_align(100, 1).unwrap();
            let r = heap.realloc(q, layout, 20000);
            assert_eq!(r as usize % PAGE, OFFSET);
            assert_eq!(*r.add(99), 7);
            heap.dealloc(r, Layout::from_size_align(20000, 1).unwrap());
            let z = heap.alloc_zeroed(Layout::from_size_align(8192, 8).unwrap());
            assert_eq!(*z.add(8191), 0);
            heap.dealloc(z, Layout::from_size_align(8192, 8).unwrap());
        }
    }
}
