//! Outside programs that read files for henji: tesseract (OCR) and poppler's pdfinfo,
//! pdftotext and pdftoppm. Each runs as a subprocess under limits (wall time, CPU time, address
//! space, through util-linux's `prlimit`), reading its input from a pipe and writing its answer
//! to one: no input file is ever written to disk, so the plaintext of a sealed document stays in
//! memory. A hostile file can make a program fail or be killed; it cannot hang or crash the
//! server.

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// What one run of a program may use.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Wall-clock time, after which the program is killed.
    pub time: Duration,
    /// Address space (`RLIMIT_AS`), bytes.
    pub memory: u64,
    /// Output kept at most; a program that writes more has failed.
    pub output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { time: Duration::from_secs(120), memory: 1 << 30, output: 64 << 20 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0} is not installed (see the README: extraction engines)")]
    Missing(String),
    #[error("{program} took longer than {seconds} s and was stopped")]
    TimedOut { program: String, seconds: u64 },
    #[error("{program} failed: {detail}")]
    Failed { program: String, detail: String },
    #[error("{program} wrote more than {limit} bytes")]
    TooMuchOutput { program: String, limit: usize },
    #[error("running {program}: {detail}")]
    Io { program: String, detail: String },
}

/// A program's input: nothing, bytes in memory, or a stream (a blob read from the store).
pub enum Input {
    None,
    Bytes(Bytes),
    Stream(BoxStream<'static, Result<Bytes, std::io::Error>>),
}

/// Runs `program` with `args` under `limits`, feeding it `input` on standard input, and returns
/// what it wrote to standard output. Standard error is kept (the end of it) for the failure.
pub async fn run(program: &str, args: &[&str], env: &[(&str, &str)], input: Input, limits: Limits) -> Result<Vec<u8>, EngineError> {
    let io = |e: std::io::Error| EngineError::Io { program: program.to_owned(), detail: e.to_string() };
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--as={}", limits.memory))
        .arg(format!("--cpu={}", limits.time.as_secs().max(1)))
        .arg("--core=0")
        .arg("--")
        .arg(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))
        .env("LC_ALL", "C.UTF-8")
        .stdin(if matches!(input, Input::None) { Stdio::null() } else { Stdio::piped() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| if e.kind() == std::io::ErrorKind::NotFound { EngineError::Missing("prlimit (util-linux)".into()) } else { io(e) })?;
    let stdin = child.stdin.take();
    let feeder = tokio::spawn(async move {
        let Some(mut stdin) = stdin else { return Ok::<_, std::io::Error>(()) };
        match input {
            Input::None => {}
            Input::Bytes(b) => stdin.write_all(&b).await?,
            Input::Stream(mut s) => {
                while let Some(chunk) = s.next().await {
                    stdin.write_all(&chunk?).await?;
                }
            }
        }
        stdin.shutdown().await
    });
    let mut stdout = child.stdout.take().ok_or_else(|| io(std::io::Error::other("no stdout")))?;
    let mut stderr = child.stderr.take().ok_or_else(|| io(std::io::Error::other("no stderr")))?;
    let limit = limits.output;
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut out_reader = (&mut stdout).take(limit as u64 + 1);
        let mut err_reader = (&mut stderr).take(64 * 1024);
        let (read_out, _) = tokio::join!(out_reader.read_to_end(&mut out), err_reader.read_to_end(&mut err));
        read_out.map_err(io)?;
        let status = child.wait().await.map_err(io)?;
        Ok::<_, EngineError>((out, err, status))
    };
    let (out, err, status) = match tokio::time::timeout(limits.time, work).await {
        Ok(done) => done?,
        Err(_) => {
            // kill_on_drop ends the process group's leader; say why.
            return Err(EngineError::TimedOut { program: program.to_owned(), seconds: limits.time.as_secs() });
        }
    };
    // A program that stopped reading early (a corrupt file) makes the feeder fail; its own
    // status says what went wrong.
    let _ = feeder.await;
    if out.len() > limit {
        return Err(EngineError::TooMuchOutput { program: program.to_owned(), limit });
    }
    if !status.success() {
        let text = String::from_utf8_lossy(&err);
        let tail: String = text.trim().lines().last().unwrap_or("").chars().take(300).collect();
        if status.code() == Some(127) || tail.contains("failed to execute") && tail.contains("No such file") {
            return Err(EngineError::Missing(program.to_owned()));
        }
        let how = match status.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal (a limit was reached)".to_owned(),
        };
        return Err(EngineError::Failed { program: program.to_owned(), detail: if tail.is_empty() { how } else { format!("{how}: {tail}") } });
    }
    Ok(out)
}

/// The first page of a PDF as a PNG about `width` pixels wide (poppler's pdftoppm).
pub async fn pdf_thumbnail(pdf: Input, width: u32) -> Result<Vec<u8>, EngineError> {
    let width = width.to_string();
    run("pdftoppm", &["-png", "-scale-to", &width, "-f", "1", "-l", "1", "-singlefile", "-"], &[], pdf, Limits { time: Duration::from_secs(30), output: 8 << 20, ..Limits::default() }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_stop_a_program_that_runs_too_long_and_output_is_capped() {
        let quick = Limits { time: Duration::from_millis(300), ..Limits::default() };
        match run("sleep", &["5"], &[], Input::None, quick).await {
            Err(EngineError::TimedOut { .. }) => {}
            other => panic!("{other:?}"),
        }
        let small = Limits { output: 10, ..Limits::default() };
        assert!(matches!(run("cat", &[], &[], Input::Bytes(Bytes::from_static(b"more than ten bytes")), small).await, Err(EngineError::TooMuchOutput { .. })));
        assert_eq!(run("cat", &[], &[], Input::Bytes(Bytes::from_static(b"ok")), Limits::default()).await.unwrap(), b"ok");
        assert!(matches!(run("henji-no-such-program", &[], &[], Input::None, Limits::default()).await, Err(EngineError::Missing(_))));
        assert!(matches!(run("false", &[], &[], Input::None, Limits::default()).await, Err(EngineError::Failed { .. })));
    }
}
