#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::thread::JoinHandle;

use strata_store::{HashAlgo, StoreDir};

use super::*;

fn store(dir: &Path) -> LocalStore {
    LocalStore::open(dir, StoreDir::new("/nix/store").unwrap()).unwrap()
}

fn sha256(data: &[u8]) -> Hash {
    Hash::of(HashAlgo::Sha256, data)
}

/// Serves `responses` (whole HTTP responses, status line to body) on 127.0.0.1, one per
/// connection, in order, then stops. Gives up after ten seconds without a connection. Returns
/// the base URL and a handle yielding the request lines it saw.
pub(crate) fn serve(responses: Vec<Vec<u8>>) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for response in responses {
            let deadline = Instant::now() + Duration::from_secs(10);
            let stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break Some(s),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if Instant::now() > deadline {
                            break None;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            };
            let Some(mut stream) = stream else { break };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            seen.push(first.trim_end().to_owned());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
            }
            let _ = stream.write_all(&response);
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        seen
    });
    (base, handle)
}

pub(crate) fn response(status: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[test]
fn file_url_fetch_then_skip_when_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("some file.deb");
    let data = b"not really a deb, but bytes all the same\n".repeat(1000);
    fs::write(&src, &data).unwrap();
    let mut s = store(&tmp.path().join("root"));
    let expected = sha256(&data);
    let url = file_url(&src);
    assert!(url.contains("some%20file.deb"), "{url}");
    let info = fetch_fixed(&mut s, &url, "some-file.deb", &expected, Progress::Never).unwrap();
    let want = s
        .store_dir()
        .make_fixed_output_path("some-file.deb", false, &expected)
        .unwrap();
    assert_eq!(info.path, want);
    assert_eq!(fs::read(s.real_path(&info.path)).unwrap(), data);
    assert_eq!(
        info.ca.as_deref(),
        Some(format!("fixed:{expected}").as_str())
    );
    // Valid already: the source is not read again (it is gone).
    fs::remove_file(&src).unwrap();
    let again = fetch_fixed(&mut s, &url, "some-file.deb", &expected, Progress::Never).unwrap();
    assert_eq!(again.path, info.path);
    // No temporary file is left behind.
    let leftovers: Vec<_> = fs::read_dir(s.state_dir().join("tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn other_hash_algorithms() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("f");
    fs::write(&src, b"hello\n").unwrap();
    let mut s = store(&tmp.path().join("root"));
    let expected = Hash::of(HashAlgo::Sha512, b"hello\n");
    let info = fetch_fixed(&mut s, &file_url(&src), "f", &expected, Progress::Never).unwrap();
    assert_eq!(
        info.path,
        s.store_dir()
            .make_fixed_output_path("f", false, &expected)
            .unwrap()
    );
}

#[test]
fn mismatch_registers_nothing_and_shows_both_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("pkg.deb");
    fs::write(&src, b"the bytes the archive serves").unwrap();
    let mut s = store(&tmp.path().join("root"));
    let expected = sha256(b"the bytes the index promised");
    let actual = sha256(b"the bytes the archive serves");
    let url = file_url(&src);
    let err = fetch_fixed(&mut s, &url, "pkg.deb", &expected, Progress::Never).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, FetchError::HashMismatch { .. }), "{msg}");
    for part in [
        url.clone(),
        expected.to_sri(),
        expected.to_nix32(),
        actual.to_sri(),
        actual.to_nix32(),
    ] {
        assert!(msg.contains(&part), "{msg:?} should contain {part:?}");
    }
    assert!(s.valid_paths().unwrap().is_empty());
    let store_entries: Vec<_> = fs::read_dir(s.real_store_dir()).unwrap().collect();
    assert!(store_entries.is_empty(), "{store_entries:?}");
    let leftovers: Vec<_> = fs::read_dir(s.state_dir().join("tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn missing_file_and_bad_urls() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = store(&tmp.path().join("root"));
    let h = sha256(b"");
    let url = file_url(&tmp.path().join("absent.deb"));
    let err = fetch_fixed(&mut s, &url, "absent.deb", &h, Progress::Never).unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    for bad in ["ftp://host.invalid/x", "file://relative/x", "x"] {
        let err = fetch_fixed(&mut s, bad, "x", &h, Progress::Never).unwrap_err();
        assert!(
            matches!(err, FetchError::UnsupportedUrl { .. }),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains(bad), "{err}");
    }
    assert!(s.valid_paths().unwrap().is_empty());
}

#[test]
fn http_fetch_from_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let data = vec![7u8; 300_000];
    let (base, server) = serve(vec![response("200 OK", &data)]);
    let mut s = store(&tmp.path().join("root"));
    let url = format!("{base}/pool/main/x/x_1.0_amd64.deb");
    let info = fetch_fixed(
        &mut s,
        &url,
        "x_1.0_amd64.deb",
        &sha256(&data),
        Progress::Terminal,
    )
    .unwrap();
    assert_eq!(fs::read(s.real_path(&info.path)).unwrap(), data);
    assert_eq!(
        server.join().unwrap(),
        ["GET /pool/main/x/x_1.0_amd64.deb HTTP/1.1"]
    );
}

#[test]
fn http_status_errors_name_url_and_status() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, server) = serve(vec![response("404 Not Found", b"gone")]);
    let mut s = store(&tmp.path().join("root"));
    let url = format!("{base}/missing.deb");
    let err = fetch_fixed(&mut s, &url, "missing.deb", &sha256(b""), Progress::Never).unwrap_err();
    assert!(err.is_not_found());
    let msg = err.to_string();
    assert!(
        msg.contains(&url) && msg.contains("HTTP status 404"),
        "{msg}"
    );
    // A 404 is not retried.
    assert_eq!(server.join().unwrap().len(), 1);
    assert!(s.valid_paths().unwrap().is_empty());
}

#[test]
fn http_transient_errors_are_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let data = b"second time lucky".to_vec();
    let (base, server) = serve(vec![
        response("503 Service Unavailable", b""),
        response("200 OK", &data),
    ]);
    let url = format!("{base}/f");
    assert_eq!(fetch_bytes(&url).unwrap(), data);
    assert_eq!(server.join().unwrap().len(), 2);
    let _ = tmp;
}

#[test]
fn http_gives_up_after_the_retries() {
    let (base, server) = serve(
        (0..=RETRIES)
            .map(|_| response("500 Internal Server Error", b""))
            .collect(),
    );
    let url = format!("{base}/f");
    let err = fetch_bytes(&url).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&url) && msg.contains("HTTP status 500") && msg.contains("4 attempts"),
        "{msg}"
    );
    assert_eq!(server.join().unwrap().len(), (RETRIES + 1) as usize);
}

#[test]
fn helpers() {
    use strata_store::cache::is_loopback;
    assert!(is_loopback("http://127.0.0.1:8080/x"));
    assert!(is_loopback("http://localhost/x"));
    assert!(is_loopback("http://[::1]:80/x"));
    assert!(is_loopback("http://user@127.0.0.2/x"));
    assert!(!is_loopback("http://archive.invalid/x"));
    assert!(!is_loopback("http://10.0.0.1/x"));
    assert_eq!(
        file_url_path("", "/a%20b/c%2").unwrap(),
        PathBuf::from("/a b/c%2")
    );
    assert_eq!(
        file_url_path("", "localhost/x").unwrap(),
        PathBuf::from("/x")
    );
    assert_eq!(human_size(512), "512 B");
    assert_eq!(human_size(1536), "1.5 KiB");
    assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
}
