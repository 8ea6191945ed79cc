//! The `login` server: [`login_example::app`] on `127.0.0.1:$PORT` (8000).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let manager = login_example::manager()?;
    let timeouts = example_serve::Timeouts::from_env()?;
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    tracing::info!("serving on http://{}", listener.local_addr()?);
    example_serve::serve(listener, login_example::app(manager), timeouts).await?;
    Ok(())
}
