//! `cargo bench --bench interactions -- [RATE] [SECONDS] [DATABASE_URL]`: B1, the same as
//! `warroom bench interactions` (the code is `src/bench/interactions.rs`); defaults 200 per
//! second for 30 s on a temporary SQLite file.

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).filter(|arg| !arg.starts_with('-'));
    let rate = args
        .next()
        .map(|arg| arg.parse())
        .transpose()?
        .unwrap_or(200);
    let seconds = args
        .next()
        .map(|arg| arg.parse())
        .transpose()?
        .unwrap_or(30);
    let database_url = args.next();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(warroom::bench::interactions::run(
            warroom::bench::interactions::Options {
                rate,
                seconds,
                database_url,
            },
        ))
}
