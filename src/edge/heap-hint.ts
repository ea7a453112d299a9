/**
 * Keeps bulk transfers from re-faulting their memory on every garbage collection.
 *
 * Every data packet we seal or open gets a fresh buffer from node:crypto (up to 255 KiB), and V8
 * frees those buffers in batches when it collects. With glibc's malloc, a batch freed at the top
 * of the heap is given back to the kernel once it passes the trim threshold (128 KiB, raised only
 * when a chunk above the mmap threshold is freed: mallopt(3), M_MMAP_THRESHOLD's dynamic
 * adjustment), so the next batch faults its pages in again. Measured on a 256 MiB download,
 * Seashell to Seashell on Node 20, 24 and 26: 9,000-24,000 minor page faults in the sending
 * process and 1.5-3 s of CPU per GiB; in other runs of the same build, depending on which large
 * blocks happened to be freed earlier, 200 faults and 0.8 s per GiB.
 *
 * Allocating one 31 MiB buffer without touching it (mmap gives it address space, not memory) and
 * dropping it makes its free, at the next collection, raise the thresholds to about 31 and 62 MiB,
 * so the freed batches stay in the heap for the next ones: 5-600 faults per 256 MiB after the
 * first, 640-750 MiB/s instead of 300-400 (16 MiB, thresholds 16 and 32, still left runs with
 * 9,000). The price is that up to 62 MiB of freed heap may stay mapped in a process that moved
 * bulk data. Once per process; other allocators (musl, jemalloc) merely see one large block.
 */
let hinted = false;

export function hintHeapForBulkData(): void {
  if (hinted) return;
  hinted = true;
  // Just under glibc's 32 MiB ceiling for the dynamic threshold (a larger block leaves it alone).
  void Buffer.allocUnsafeSlow(31 * 1024 * 1024);
}
