//! The `touchpath` command.

/// mimalloc: a run allocates millions of small strings and maps, and frees
/// a bucket's memory before it reads the next one; glibc's allocator spent a
/// fifth of a bucketed run in `malloc`, `free` and the kernel zeroing pages it
/// had given back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    touchpath::cli::main()
}
