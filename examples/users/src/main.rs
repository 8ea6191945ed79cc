//! The `users` server and its `create-user` command (see [`users_example`] for the environment).

use clap::{Parser, Subcommand};
use login_users::{CreateUser, UserRead};

#[derive(Parser)]
#[command(about = "FastAPI Users' flow on axum")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create a user in the database and exit (the first superuser is made this way).
    CreateUser {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// The user's password (8 to 128 characters). Omit it: a password on the command line
        /// shows in `ps` and the shell's history. Without it, the password is prompted for
        /// (no echo) or, when stdin is not a terminal, read from stdin's first line.
        #[arg(long)]
        password: Option<String>,
        /// Make the user a superuser.
        #[arg(long)]
        superuser: bool,
        /// Mark the email as verified.
        #[arg(long)]
        verified: bool,
    },
}

/// `create-user`'s password when `--password` is absent: prompted for twice without echo on a
/// terminal, else the first line of stdin (without its line ending).
fn read_password() -> Result<String, Box<dyn std::error::Error>> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        let password = rpassword::prompt_password("Password: ")?;
        if rpassword::prompt_password("Repeat it: ")? != password {
            return Err("the two passwords differ".into());
        }
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("no --password and no password on stdin's first line".into());
    }
    Ok(password.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let users = users_example::users_from_env().await?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let timeouts = example_serve::Timeouts::from_env()?;
            let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
            let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
            tracing::info!("serving on http://{}", listener.local_addr()?);
            // Each request carries the peer address, which the login throttle keys on.
            example_serve::serve(listener, users_example::app(users), timeouts).await?;
        }
        Command::CreateUser {
            email,
            password,
            superuser,
            verified,
        } => {
            let password = match password {
                Some(password) => password,
                None => read_password()?,
            };
            let mut new = CreateUser::new(email, password);
            new.is_superuser = superuser;
            new.is_verified = verified;
            let user = users.create(new).await?;
            println!("{}", serde_json::to_string(&UserRead::from(&user))?);
        }
    }
    Ok(())
}
