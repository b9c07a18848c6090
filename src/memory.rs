//! The process's heap: jemalloc is the allocator (less fragmentation under DataFusion's large
//! short-lived arrays than the system's), and its count of allocated bytes is the probe the
//! query engine's memory watchdog compares with `query.process_memory_mib`.

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Bytes currently allocated by the process (jemalloc's statistics, refreshed on each call).
#[cfg(not(target_env = "msvc"))]
pub fn allocated_bytes() -> Option<u64> {
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    tikv_jemalloc_ctl::stats::allocated::read().ok().map(|b| b as u64)
}

#[cfg(target_env = "msvc")]
pub fn allocated_bytes() -> Option<u64> {
    None
}
