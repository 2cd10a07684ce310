//! The `touchpath` command.

/// mimalloc: a run allocates millions of small strings and maps, and frees
/// a bucket's memory before it reads the next one; glibc's allocator spent a
/// fifth of a bucketed run in `malloc`, `free` and the kernel zeroing pages it
/// had given back. Built without transparent huge pages (`no_thp`): on its
/// large regions mimalloc asked the kernel for 2 MiB pages, and every region
/// it gave back and touched again was zeroed 2 MiB at a time, a quarter of a
/// run's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    touchpath::cli::main()
}
