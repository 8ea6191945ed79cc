//! The README's cURL flows work verbatim: each `sh` block of `README.md` that talks to an
//! example (the `login` one and the `users` one) is turned into a bash script and run, in order,
//! against the built example binary, and every commented status (`# 204`, or `# 201 {…}` on the
//! next line, whose JSON fields without `…` must match too) is checked. A `curl` line without a
//! comment must answer 2xx. The script is the block's own lines, with only:
//!
//! - the port `8000` replaced by the test server's;
//! - `export NAME=eyJ…` taking the token of the answer before it (its `access_token`, or the
//!   value of its `set-cookie`), and `<id>` the `id` of the first answer that has one (register);
//! - another `eyJ…` (the reset token) taken from the server's stdout, where the example's mail
//!   hook prints it;
//! - `cargo run --release -p users-example --` run as the built `users` binary, on the same
//!   database.
//!
//! Needs `curl` and `jq` (`.ci/run` installs them) and the example binaries
//! (`cargo build -p login-example -p users-example`).

mod support;
use support::binary;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use binary::{example_binary, free_port};
use support::TempDir;

const README: &str = include_str!("../README.md");
const SECRET: &str = "readme-flow-secret-0123456789abcdefghijkl";
const TOKEN: &str = "eyJ…";

/// One command of a block: its text (continuation lines joined), the status its comment
/// promises, the JSON the comment shows after the status, and its line in the README.
#[derive(Debug)]
struct Step {
    command: String,
    status: Option<u16>,
    json: Option<String>,
    line: usize,
}

/// The `sh` blocks of the README, each with the line number of its first line.
fn sh_blocks() -> Vec<(usize, Vec<&'static str>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, Vec<&str>)> = None;
    for (i, line) in README.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```sh" => current = Some((i + 2, Vec::new())),
            None => {}
            Some(_) if line.trim_start() == "```" => blocks.push(current.take().unwrap()),
            Some((_, lines)) => lines.push(line),
        }
    }
    blocks
}

/// The block that contains `needle`.
fn block_with(needle: &str) -> (usize, Vec<&'static str>) {
    let mut found: Vec<_> = sh_blocks()
        .into_iter()
        .filter(|(_, lines)| lines.iter().any(|l| l.contains(needle)))
        .collect();
    assert_eq!(found.len(), 1, "README.md: one sh block with `{needle}`");
    found.pop().unwrap()
}

/// Where the comment of a shell line starts: a `#` after whitespace (or at the start), outside
/// quotes.
fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double, mut prev_space) = (false, false, true);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_space => return Some(i),
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    None
}

/// `# 204, clears it` → (204, None); `# 201 {"id":…}` → (201, Some(json)); else None.
fn promise(comment: &str) -> Option<(u16, Option<String>)> {
    let text = comment.trim_start_matches('#').trim();
    let status: u16 = text.get(..3)?.parse().ok()?;
    if !(100..600).contains(&status) || text[3..].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let json = text.find('{').map(|i| text[i..].trim().to_owned());
    Some((status, json))
}

fn steps(first_line: usize, lines: &[&str]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut pending: Option<Step> = None;
    for (i, raw) in lines.iter().enumerate() {
        let line_no = first_line + i;
        let (code, comment) = match comment_start(raw) {
            Some(at) => (raw[..at].trim_end(), Some(&raw[at..])),
            None => (raw.trim_end(), None),
        };
        if code.trim().is_empty() {
            // A comment line: the answer of the command before it, if it starts with a status.
            if let (Some(comment), Some(last)) = (comment, steps.last_mut())
                && last.status.is_none()
                && let Some((status, json)) = promise(comment)
            {
                last.status = Some(status);
                last.json = json;
            }
            continue;
        }
        let step = pending.get_or_insert_with(|| Step {
            command: String::new(),
            status: None,
            json: None,
            line: line_no,
        });
        match code.strip_suffix('\\') {
            Some(head) => {
                step.command.push_str(head);
                step.command.push(' ');
            }
            None => {
                step.command.push_str(code);
                if let Some((status, json)) = comment.and_then(promise) {
                    step.status = Some(status);
                    step.json = json;
                }
                steps.push(pending.take().unwrap());
            }
        }
    }
    assert!(
        pending.is_none(),
        "README.md line {first_line}: a block ends in `\\`"
    );
    steps
}

/// `text` with single quotes escaped for a bash single-quoted string.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The bash functions the script's checks use.
const PRELUDE: &str = r#"set -eo pipefail
fail() { echo "README.md line $1: $2" >&2; echo "--- body:" >&2; cat "$DIR/body" >&2 || true; exit 1; }
# The token of the last answer: its access_token, else the value of its set-cookie.
last_token() {
  local token
  token=$(jq -r '.access_token // empty' "$DIR/body" 2>/dev/null || true)
  if [ -z "$token" ]; then
    token=$(sed -n 's/^[Ss]et-[Cc]ookie: [^=]*=\([^;]*\);.*/\1/p' "$DIR/headers" | head -n 1)
  fi
  [ -n "$token" ] || fail "$1" "no token in the answer before"
  printf '%s' "$token"
}
# The last token the server printed on stdout (the example's mail hook).
mailed_token() {
  local token="" tries=0
  while [ -z "$token" ] && [ $tries -lt 50 ]; do
    token=$(sed -n 's/^.* token for [^:]*: //p' "$SERVER_STDOUT" | tail -n 1)
    [ -n "$token" ] || { sleep 0.1; tries=$((tries + 1)); }
  done
  [ -n "$token" ] || fail "$1" "no token on the server's stdout"
  printf '%s' "$token"
}
# Checks the last answer: $2 the status promised (empty: any 2xx), $3 the JSON shown (may be empty).
check() {
  local line=$1 want=$2 json=$3 got
  got=$(cat "$DIR/status")
  if [ -z "$want" ]; then
    [ "${got:0:1}" = 2 ] || fail "$line" "answered $got, where the README shows no error"
  else
    [ "$got" = "$want" ] || fail "$line" "answered $got, the README says $want"
  fi
  if [ -n "$json" ]; then
    jq -e --argjson want "$json" '. as $got | [$want | to_entries[]
      | select((.value | type) != "string" or ((.value | contains("…")) | not))
      | $got[.key] == .value] | all' "$DIR/body" >/dev/null \
      || fail "$line" "the answer differs from the README's $json"
  fi
  if [ -z "${USER_ID:-}" ]; then
    USER_ID=$(jq -r '.id // empty' "$DIR/body" 2>/dev/null || true)
  fi
}
"#;

/// The block as a bash script (see the module's documentation).
fn script(steps: &[Step], users_binary: &Path) -> String {
    let mut out = String::from(PRELUDE);
    for step in steps {
        let line = step.line;
        let mut command = step.command.replace(":8000", ":$PORT").replace(
            "cargo run --release -p users-example --",
            &quoted(&users_binary.display().to_string()),
        );
        out.push_str(&format!("echo {} >&2\n", quoted(&format!("$ {}", step.command))));
        if let Some(name) = command
            .strip_prefix("export ")
            .and_then(|rest| rest.strip_suffix(&format!("={TOKEN}")))
        {
            out.push_str(&format!("export {name}=\"$(last_token {line})\"\n"));
            continue;
        }
        command = command.replace("<id>", "$USER_ID");
        // A token from the server's stdout, inside or outside single quotes.
        while let Some(at) = command.find(TOKEN) {
            let inside = command[..at].matches('\'').count() % 2 == 1;
            let value = if inside {
                format!("'\"$(mailed_token {line})\"'")
            } else {
                format!("\"$(mailed_token {line})\"")
            };
            command.replace_range(at..at + TOKEN.len(), &value);
        }
        if let Some(rest) = command.strip_prefix("curl ") {
            out.push_str(&format!(
                "curl -sS -o \"$DIR/body\" -D \"$DIR/headers\" -w '%{{http_code}}' {rest} > \"$DIR/status\" \
                 || fail {line} 'curl failed'\n"
            ));
            let status = step.status.map(|s| s.to_string()).unwrap_or_default();
            let json = step.json.as_deref().unwrap_or("");
            out.push_str(&format!("check {line} {} {}\n", quoted(&status), quoted(json)));
        } else {
            assert!(
                step.status.is_none(),
                "README.md line {line}: a status promised for a command that is not curl"
            );
            out.push_str(&format!("{command} || fail {line} 'the command failed'\n"));
            // `NAME=$(…)`: it must have produced something.
            if let Some((name, _)) = command.split_once("=$(")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                out.push_str(&format!(
                    "{{ [ -n \"${name}\" ] && [ \"${name}\" != null ]; }} || fail {line} '{name} is empty'\n"
                ));
            }
        }
    }
    out
}

/// A fresh directory of this test's, kept when the test fails.
fn temp_dir(tag: &str) -> TempDir {
    TempDir::named(&format!("login-readme-{tag}"))
}

/// The example serving on `port`, stdout to `dir/stdout`; killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(name: &str, port: u16, dir: &Path, database_url: &str) -> Server {
    let child = Command::new(example_binary(name))
        .env("PORT", port.to_string())
        .env("SECRET", SECRET)
        .env("DATABASE_URL", database_url)
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "warn")
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!(
                "{name} exited with {status}: {}",
                std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "{name} did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

fn tools_or_panic() {
    for tool in ["curl", "jq", "bash"] {
        let found = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "`{tool}` is needed to run the README's flows (apt-get install {tool})"
        );
    }
}

/// Runs `needle`'s block against the `example` binary; panics with the script's output when a
/// step disagrees with the README.
fn run_block(needle: &str, example: &str) {
    tools_or_panic();
    let (first_line, lines) = block_with(needle);
    let steps = steps(first_line, &lines);
    assert!(
        steps.iter().filter(|s| s.command.starts_with("curl ")).count() >= 4,
        "README.md line {first_line}: the block has too few curl lines: {steps:#?}"
    );
    let dir = temp_dir(example);
    let database_url = format!("sqlite://{}", dir.join("users.db").display());
    let port = free_port();
    let _server = serve(example, port, &dir, &database_url);
    let script = script(&steps, &example_binary("users"));
    std::fs::write(dir.join("flow.sh"), &script).unwrap();
    let out = Command::new("bash")
        .arg(dir.join("flow.sh"))
        .env("PORT", port.to_string())
        .env("DIR", &*dir)
        .env("SERVER_STDOUT", dir.join("stdout"))
        .env("SECRET", SECRET)
        .env("DATABASE_URL", &database_url)
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "README.md's {example} flow disagrees with the server ({}):\n{}\n--- script: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        dir.join("flow.sh").display()
    );
}

/// The README's quickstart is `examples/login/examples/quickstart.rs`, which `cargo test` compiles.
#[test]
fn the_quickstart_is_the_compiled_example() {
    const EXAMPLE: &str = include_str!("../examples/login/examples/quickstart.rs");
    let start = README.find("## Quickstart").expect("a Quickstart section");
    let (_, block) = README[start..]
        .split_once("```rust\n")
        .expect("a rust block in it");
    let block = &block[..block.find("```\n").expect("the block's end")];
    assert_eq!(
        block, EXAMPLE,
        "the README's quickstart and examples/login/examples/quickstart.rs differ"
    );
}

#[test]
fn the_users_flow_of_the_readme_works_verbatim() {
    run_block("/auth/register", "users");
}

#[test]
fn the_login_flow_of_the_readme_works_verbatim() {
    run_block("/auth/token", "login");
}

#[test]
fn a_readme_that_disagrees_with_the_server_fails() {
    // The checker itself: a wrong status and a wrong field are caught.
    tools_or_panic();
    let lines = [
        "curl localhost:8000/protected   # 200",
        "curl localhost:8000/protected",
        "# 401 {\"detail\":\"Not this\"}",
    ];
    for (lines, what) in [(&lines[..1], "status"), (&lines[1..], "body")] {
        let steps = steps(1, lines);
        let dir = temp_dir("negative");
        let port = free_port();
        let _server = serve("login", port, &dir, "sqlite::memory:");
        std::fs::write(dir.join("flow.sh"), script(&steps, Path::new("/bin/false"))).unwrap();
        let out = Command::new("bash")
            .arg(dir.join("flow.sh"))
            .env("PORT", port.to_string())
            .env("DIR", &*dir)
            .env("SERVER_STDOUT", dir.join("stdout"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "a wrong {what} passed: {steps:?}");
    }
}

#[test]
fn steps_read_statuses_from_trailing_and_next_line_comments() {
    let lines = [
        "curl -X POST \\",
        "  -d '{\"a\": \"#1\"}' localhost:8000/x   # 204, clears it",
        "curl localhost:8000/y",
        "# 201 {\"id\":\"…\",\"ok\":true}",
        "# a remark, not an answer",
        "export TOKEN=eyJ…",
    ];
    let steps = steps(10, &lines);
    assert_eq!(steps.len(), 3, "{steps:#?}");
    assert_eq!(
        steps[0].command,
        "curl -X POST    -d '{\"a\": \"#1\"}' localhost:8000/x"
    );
    assert_eq!((steps[0].status, steps[0].line), (Some(204), 10));
    assert_eq!(steps[1].status, Some(201));
    assert_eq!(steps[1].json.as_deref(), Some("{\"id\":\"…\",\"ok\":true}"));
    assert_eq!((steps[2].status, steps[2].line), (None, 15));
}
