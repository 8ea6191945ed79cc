//! The `login` server: [`login_example::app`] on `127.0.0.1:$PORT` (8000).

use tracing_subscriber::filter::LevelFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `RUST_LOG` is one level here (`off`, `error` … `trace`; `info` when unset), which needs no
    // regex engine in the build; the `users` example takes `EnvFilter` directives.
    let level = match std::env::var("RUST_LOG") {
        Ok(level) => level
            .parse::<LevelFilter>()
            .map_err(|e| format!("RUST_LOG=`{level}`: {e}"))?,
        Err(_) => LevelFilter::INFO,
    };
    tracing_subscriber::fmt().with_max_level(level).init();
    let manager = login_example::manager()?;
    let timeouts = example_serve::Timeouts::from_env()?;
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    tracing::info!("serving on http://{}", listener.local_addr()?);
    example_serve::serve(listener, login_example::app(manager), timeouts).await?;
    Ok(())
}
