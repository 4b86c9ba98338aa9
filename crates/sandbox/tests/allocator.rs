//! The allocator option `serve` sets first thing: the option index names mimalloc's purge
//! delay (its default, 10 ms, is read there before it is set), and setting it takes.
#![allow(missing_docs)]

#[test]
fn freed_memory_is_kept_for_a_second() {
    // One test in this binary: options are set while no other test thread runs.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        assert_eq!(holdpoint_sandbox::freed_memory_kept_ms(), 10, "mimalloc v2's default purge delay");
    }
    holdpoint_sandbox::keep_freed_memory();
    let expected = match std::env::var("MIMALLOC_PURGE_DELAY") {
        Ok(set) => set.parse::<std::ffi::c_long>().unwrap_or(10),
        Err(_) => holdpoint_sandbox::FREED_MEMORY_KEPT_MS,
    };
    assert_eq!(holdpoint_sandbox::freed_memory_kept_ms(), expected);
}
