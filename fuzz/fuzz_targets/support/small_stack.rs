//! Runs a check of untrusted SQL on a 1 MiB stack, half a spawned thread's: libpg_query
//! recurses on deep trees, and the classifier must refuse those before a proxy's or a hook's
//! thread would overflow. A panic in the check is the fuzz target's.

/// `check(sql)` for UTF-8 input, on its own 1 MiB-stack thread.
pub fn run_sql(data: &[u8], check: fn(&str)) {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    let sql = sql.to_owned();
    let run = std::thread::Builder::new().stack_size(1 << 20).spawn(move || check(&sql));
    if let Ok(handle) = run {
        if let Err(panic) = handle.join() {
            std::panic::resume_unwind(panic);
        }
    }
}
