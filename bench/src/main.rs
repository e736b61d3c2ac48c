//! herald-bench: placeholder, being written.
fn main() {}
