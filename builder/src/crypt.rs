//! SHA-512 crypt (`$6$`), as specified in Ulrich Drepper's "Unix crypt using SHA-256 and
//! SHA-512", and the deterministic salt strata hashes a clear-text password of the
//! configuration with (see [`crate::toplevel`] for what that costs).
//!
//! Must not: decide which passwords are hashed (that is [`crate::toplevel`]).

use sha2::{Digest, Sha512};

/// The alphabet of crypt(3)'s base64.
const CRYPT_B64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const ROUNDS_DEFAULT: u32 = 5000;
const ROUNDS_MIN: u32 = 1000;
const ROUNDS_MAX: u32 = 999_999_999;
const SALT_MAX: usize = 16;

/// SHA-512 crypt (`$6$`), as specified in Ulrich Drepper's "Unix crypt using SHA-256 and
/// SHA-512". `setting` is the salt, optionally prefixed by `$6$` and by `rounds=N$`, and
/// optionally followed by `$` and anything (an existing hash); the salt is cut to 16
/// characters and the rounds clamped to 1000..=999999999, as the specification says.
/// Returns `$6$[rounds=N$]salt$hash`, `rounds=` only when it was given.
pub fn sha512_crypt(password: &[u8], setting: &str) -> String {
    let mut rest = setting.strip_prefix("$6$").unwrap_or(setting);
    let mut rounds = ROUNDS_DEFAULT;
    let mut custom_rounds = false;
    if let Some(r) = rest.strip_prefix("rounds=") {
        if let Some((n, after)) = r.split_once('$') {
            if let Ok(n) = n.parse::<u64>() {
                rounds = n.clamp(u64::from(ROUNDS_MIN), u64::from(ROUNDS_MAX)) as u32;
                custom_rounds = true;
                rest = after;
            }
        }
    }
    let salt_str = rest.split('$').next().unwrap_or("");
    // At most 16 bytes, as the specification counts; a salt is ASCII in practice, and a
    // character cut in two would not be text, so the cut backs off to a character boundary.
    let mut salt_len = salt_str.len().min(SALT_MAX);
    while !salt_str.is_char_boundary(salt_len) {
        salt_len -= 1;
    }
    let salt = &salt_str.as_bytes()[..salt_len];
    let digest = sha512_crypt_raw(password, salt, rounds);

    let mut out = String::from("$6$");
    if custom_rounds {
        out.push_str(&format!("rounds={rounds}$"));
    }
    out.push_str(&salt_str[..salt_len]);
    out.push('$');
    out.push_str(&crypt_b64_sha512(&digest));
    out
}

/// Appends `len` bytes of the repeated 64-byte `block` (whole blocks, then a prefix).
fn add_repeated(ctx: &mut Sha512, block: &[u8], len: usize) {
    let mut left = len;
    while left >= block.len() {
        ctx.update(block);
        left -= block.len();
    }
    ctx.update(&block[..left]);
}

/// The 64-byte result of the specification's steps 1 to 21.
fn sha512_crypt_raw(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 64] {
    // Digest B: password, salt, password.
    let b = Sha512::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();

    // Digest A: password, salt, then as many bytes of B as the password has, then for each
    // bit of the password's length from the lowest, B for a one and the password for a zero.
    let mut a = Sha512::new();
    a.update(password);
    a.update(salt);
    add_repeated(&mut a, &b, password.len());
    let mut n = password.len();
    while n > 0 {
        if n & 1 == 1 {
            a.update(b);
        } else {
            a.update(password);
        }
        n >>= 1;
    }
    let a = a.finalize();

    // Digest DP: the password once per byte of the password; P is that many bytes of DP.
    let mut dp = Sha512::new();
    for _ in 0..password.len() {
        dp.update(password);
    }
    let dp = dp.finalize();
    let p: Vec<u8> = dp.iter().copied().cycle().take(password.len()).collect();

    // Digest DS: the salt 16 + A[0] times; S is as many bytes of DS as the salt has.
    let mut ds = Sha512::new();
    for _ in 0..16 + usize::from(a[0]) {
        ds.update(salt);
    }
    let ds = ds.finalize();
    let s: Vec<u8> = ds.iter().copied().cycle().take(salt.len()).collect();

    let mut c: [u8; 64] = a.into();
    for i in 0..rounds {
        let mut ctx = Sha512::new();
        if i % 2 == 1 {
            ctx.update(&p);
        } else {
            ctx.update(c);
        }
        if i % 3 != 0 {
            ctx.update(&s);
        }
        if i % 7 != 0 {
            ctx.update(&p);
        }
        if i % 2 == 1 {
            ctx.update(c);
        } else {
            ctx.update(&p);
        }
        c = ctx.finalize().into();
    }
    c
}

/// Step 22: the digest's bytes in the specification's order, six bits at a time.
fn crypt_b64_sha512(d: &[u8; 64]) -> String {
    fn push(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
        let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
        for _ in 0..n {
            out.push(char::from(CRYPT_B64[(w & 0x3f) as usize]));
            w >>= 6;
        }
    }
    let mut out = String::with_capacity(86);
    // Groups (i, j, k) = (i, i + 21, i + 42) with the three rotated, for i = 0..21.
    for i in 0..21usize {
        let (x, y, z) = (i, i + 21, i + 42);
        let (b2, b1, b0) = match i % 3 {
            0 => (d[x], d[y], d[z]),
            1 => (d[y], d[z], d[x]),
            _ => (d[z], d[x], d[y]),
        };
        push(&mut out, b2, b1, b0, 4);
    }
    push(&mut out, 0, 0, d[63], 2);
    out
}

/// The salt strata hashes a clear-text password of `user` on `host` with: 16 characters of
/// crypt's alphabet from SHA-512 of the two names. Deterministic, so builds are reproducible;
/// see the module documentation for what that costs.
pub fn deterministic_salt(host: &str, user: &str) -> String {
    let d = Sha512::new()
        .chain_update(b"strata sha512-crypt salt\0")
        .chain_update(host.as_bytes())
        .chain_update(b"\0")
        .chain_update(user.as_bytes())
        .finalize();
    d.iter()
        .take(SALT_MAX)
        .map(|b| char::from(CRYPT_B64[usize::from(b & 0x3f)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The SHA-512 test vectors of "Unix crypt using SHA-256 and SHA-512" (Drepper).
    const SPEC_VECTORS: &[(&str, &str, &str)] = &[
        (
            "$6$saltstring",
            "Hello world!",
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
        ),
        (
            "$6$rounds=10000$saltstringsaltstring",
            "Hello world!",
            "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
        ),
        (
            "$6$rounds=5000$toolongsaltstring",
            "This is just a test",
            "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
        ),
        (
            "$6$rounds=1400$anotherlongsaltstring",
            "a very much longer text to encrypt.  This one even stretches over morethan one line.",
            "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
        ),
        (
            "$6$rounds=77777$short",
            "we have a short salt string but not a short password",
            "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0",
        ),
        (
            "$6$rounds=123456$asaltof16chars..",
            "a short string",
            "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1",
        ),
        (
            "$6$rounds=10$roundstoolow",
            "the minimum number is still observed",
            "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
        ),
    ];

    #[test]
    fn sha512_crypt_spec_vectors() {
        for (setting, pw, want) in SPEC_VECTORS {
            assert_eq!(sha512_crypt(pw.as_bytes(), setting), *want, "{setting}");
        }
        // An existing hash as the setting gives the same hash back (how crypt checks).
        let h = SPEC_VECTORS[1].2;
        assert_eq!(sha512_crypt(b"Hello world!", h), h);
        // The empty password (openssl refuses it; this is what glibc's and libxcrypt's crypt give).
        assert_eq!(
            sha512_crypt(b"", "$6$saltstring"),
            "$6$saltstring$kyGrqt6gmjAdtFLPrflEFifSYLCWWq1pyx95SvqinLDy2UHmj0sTF0MSLMwxPFZc3tu5kQckI8fks0zOPda3n1"
        );
        // Without the `$6$` prefix, too.
        assert_eq!(
            sha512_crypt(b"Hello world!", "saltstring"),
            SPEC_VECTORS[0].2
        );
    }

    #[test]
    fn sha512_crypt_agrees_with_openssl() {
        let cases: &[(&[u8], &str)] = &[
            (b"Hello world!", "saltstring"),
            (b"changeme", "abcdefghABCDEFGH"),
            (&[b'x'; 200], "s"),
            ("pässwörd".as_bytes(), "./0189AZaz"),
        ];
        for (pw, salt) in cases {
            let Ok(out) = std::process::Command::new("openssl")
                .args(["passwd", "-6", "-salt", salt, "-stdin"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    // `-stdin` reads one line: the password without its newline.
                    if let Some(mut i) = c.stdin.take() {
                        i.write_all(pw)?;
                        i.write_all(b"\n")?;
                    }
                    c.wait_with_output()
                })
            else {
                eprintln!("openssl is not installed; skipping");
                return;
            };
            assert!(out.status.success());
            let want = String::from_utf8(out.stdout).unwrap();
            assert_eq!(sha512_crypt(pw, salt), want.trim_end(), "salt {salt}");
        }
    }

    #[test]
    fn salts_are_deterministic_and_distinct() {
        let a = deterministic_salt("saguaro", "alice");
        assert_eq!(a, deterministic_salt("saguaro", "alice"));
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| CRYPT_B64.contains(&b)));
        assert_ne!(a, deterministic_salt("saguaro", "bob"));
        assert_ne!(a, deterministic_salt("ocotillo", "alice"));
        // The name boundary counts: ("ab", "c") is not ("a", "bc").
        assert_ne!(deterministic_salt("ab", "c"), deterministic_salt("a", "bc"));
    }
}
