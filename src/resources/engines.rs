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

/// A program's input: nothing, bytes in memory, or a stream (a blob read from the store), all
/// through a pipe; or an in-memory file the program reads as `/dev/stdin`.
pub enum Input {
    None,
    Bytes(Bytes),
    Stream(BoxStream<'static, Result<Bytes, std::io::Error>>),
    File(std::fs::File),
}

/// `bytes` as an anonymous file in memory (memfd): a program given it as standard input reads
/// `/dev/stdin` as a file it can seek in, as fast as a file on disk (tesseract spends a tenth
/// more time on a pipe), and no plaintext touches the disk.
pub fn memory_file(bytes: &[u8]) -> Result<std::fs::File, EngineError> {
    use std::io::{Seek, Write};
    let io = |e: std::io::Error| EngineError::Io { program: "memfd".into(), detail: e.to_string() };
    let fd = rustix::fs::memfd_create("henji-input", rustix::fs::MemfdFlags::CLOEXEC).map_err(|e| io(e.into()))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes).map_err(io)?;
    file.rewind().map_err(io)?;
    Ok(file)
}

/// Runs `program` with `args` under `limits`, feeding it `input` on standard input, and returns
/// what it wrote to standard output. Standard error is kept (the end of it) for the failure.
pub async fn run(program: &str, args: &[&str], env: &[(&str, &str)], input: Input, limits: Limits) -> Result<Vec<u8>, EngineError> {
    let io = |e: std::io::Error| EngineError::Io { program: program.to_owned(), detail: e.to_string() };
    let (stdin, input) = match input {
        Input::None => (Stdio::null(), Input::None),
        Input::File(file) => (Stdio::from(file), Input::None),
        piped => (Stdio::piped(), piped),
    };
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
        .stdin(stdin)
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
            Input::None | Input::File(_) => {}
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

/// How tesseract reads: its language model, where the models are (the system's when `None`),
/// and its page segmentation mode.
pub struct Ocr<'a> {
    pub language: &'a str,
    pub models: Option<&'a std::path::Path>,
    pub psm: u8,
}

/// The language models tesseract has (`--list-langs`).
pub async fn ocr_languages(models: Option<&std::path::Path>) -> Result<Vec<String>, EngineError> {
    let models = models.map(|m| m.to_string_lossy());
    let mut args = vec!["--list-langs"];
    if let Some(m) = &models {
        args.extend(["--tessdata-dir", m]);
    }
    let out = run("tesseract", &args, &[], Input::None, Limits { time: Duration::from_secs(20), ..Limits::default() }).await?;
    // The first line says where the models are; each further line names one.
    Ok(String::from_utf8_lossy(&out).lines().skip(1).map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect())
}

/// A page image's text by tesseract, as TSV (words with boxes; `domain::extract::page_from_tsv`
/// reads it). One thread per process (`OMP_THREAD_LIMIT=1`): pages run side by side instead,
/// since a multi-threaded tesseract spin-waits for its threads.
pub async fn ocr_tsv(image: Input, ocr: &Ocr<'_>) -> Result<String, EngineError> {
    let (source, image) = match image {
        Input::Bytes(b) => ("/dev/stdin", Input::File(memory_file(&b)?)),
        other => ("stdin", other),
    };
    let psm = ocr.psm.to_string();
    let mut args = vec![source, "stdout", "-l", ocr.language, "--psm", &psm];
    let models = ocr.models.map(|m| m.to_string_lossy());
    if let Some(m) = &models {
        args.extend(["--tessdata-dir", m]);
    }
    args.push("tsv");
    let out = run("tesseract", &args, &[("OMP_THREAD_LIMIT", "1")], image, Limits { memory: 2 << 30, ..Limits::default() }).await?;
    String::from_utf8(out).map_err(|_| EngineError::Failed { program: "tesseract".into(), detail: "wrote text that is not UTF-8".into() })
}

/// The first line of `program --version` (its own output), e.g. `tesseract 5.3.0`.
pub async fn version(program: &str, args: &[&str]) -> Result<String, EngineError> {
    let quick = Limits { time: Duration::from_secs(20), ..Limits::default() };
    // poppler's tools print their version on standard error, with status 0 or 99.
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let out = tokio::time::timeout(quick.time, cmd.output())
        .await
        .map_err(|_| EngineError::TimedOut { program: program.to_owned(), seconds: quick.time.as_secs() })?
        .map_err(|e| if e.kind() == std::io::ErrorKind::NotFound { EngineError::Missing(program.to_owned()) } else { EngineError::Io { program: program.to_owned(), detail: e.to_string() } })?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    text.lines().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_owned()).ok_or_else(|| EngineError::Failed { program: program.to_owned(), detail: "printed no version".into() })
}

/// What pdfinfo says of a PDF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PdfInfo {
    pub pages: u32,
}

pub async fn pdf_info(pdf: Input) -> Result<PdfInfo, EngineError> {
    let out = run("pdfinfo", &["-"], &[], pdf, Limits { time: Duration::from_secs(60), output: 1 << 20, ..Limits::default() }).await?;
    let text = String::from_utf8_lossy(&out);
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()));
    let pages = field("Pages:").and_then(|p| p.parse().ok()).ok_or_else(|| EngineError::Failed { program: "pdfinfo".into(), detail: "gave no page count".into() })?;
    Ok(PdfInfo { pages })
}

/// The text layer of every page (pdftotext, UTF-8, in reading order); pages are split at the
/// form feeds pdftotext ends each with.
pub async fn pdf_text(pdf: Input) -> Result<Vec<String>, EngineError> {
    let out = run("pdftotext", &["-enc", "UTF-8", "-", "-"], &[], pdf, Limits { time: Duration::from_secs(300), ..Limits::default() }).await?;
    let text = String::from_utf8_lossy(&out);
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    Ok(pages)
}

/// One page of a PDF as a greyscale image at `dpi` (PGM, which tesseract reads).
pub async fn pdf_page_image(pdf: Input, page: u32, dpi: u32) -> Result<Vec<u8>, EngineError> {
    let (page, dpi) = (page.to_string(), dpi.to_string());
    run("pdftoppm", &["-f", &page, "-l", &page, "-r", &dpi, "-gray", "-singlefile", "-"], &[], pdf, Limits { time: Duration::from_secs(120), output: 256 << 20, ..Limits::default() }).await
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
        let file = memory_file(b"read as a file").unwrap();
        assert_eq!(run("cat", &["/dev/stdin"], &[], Input::File(file), Limits::default()).await.unwrap(), b"read as a file");
        assert!(matches!(run("henji-no-such-program", &[], &[], Input::None, Limits::default()).await, Err(EngineError::Missing(_))));
        assert!(matches!(run("false", &[], &[], Input::None, Limits::default()).await, Err(EngineError::Failed { .. })));
    }
}
