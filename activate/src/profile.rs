//! The system profile and its generations, in Nix's layout: `nix/var/nix/profiles/system` is
//! a link to `system-<N>-link`, which links to the generation's toplevel. Each link is made
//! under a temporary name and renamed into place, so the profile always names a whole
//! generation. A generation's date is its link's modification time.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{io_err, ActivateError};

/// The profiles directory, below the root.
pub const PROFILES: &str = "nix/var/nix/profiles";
/// The system profile's name.
pub const SYSTEM: &str = "system";

/// One generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationInfo {
    pub number: u32,
    /// The toplevel (a logical store path).
    pub toplevel: String,
    /// Seconds since the epoch when the generation was made.
    pub created: u64,
    /// The profile points at it.
    pub current: bool,
    /// The running system booted it (`/run/booted-system`).
    pub booted: bool,
}

fn profiles(root: &Path) -> PathBuf {
    root.join(PROFILES)
}

fn link_name(n: u32) -> String {
    format!("{SYSTEM}-{n}-link")
}

fn number_of(name: &str) -> Option<u32> {
    name.strip_prefix(&format!("{SYSTEM}-"))?
        .strip_suffix("-link")?
        .parse()
        .ok()
}

/// Replaces the link `path` with one to `target`, atomically.
pub(crate) fn relink(path: &Path, target: &str) -> Result<(), ActivateError> {
    let tmp = path.with_extension("tmp-link");
    let _ = fs::remove_file(&tmp);
    symlink(target, &tmp).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// The number of the generation the profile points at, if any.
pub fn current(root: &Path) -> Option<u32> {
    let t = fs::read_link(profiles(root).join(SYSTEM)).ok()?;
    number_of(&t.to_string_lossy())
}

/// Every generation, oldest first.
pub fn list(root: &Path) -> Result<Vec<GenerationInfo>, ActivateError> {
    let dir = profiles(root);
    let cur = current(root);
    let booted = fs::read_link(root.join("run/booted-system"))
        .ok()
        .map(|t| t.to_string_lossy().into_owned());
    let mut out = Vec::new();
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(&dir)(e)),
    };
    for e in rd {
        let e = e.map_err(io_err(&dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(number) = number_of(&name) else {
            continue;
        };
        let path = e.path();
        let toplevel = fs::read_link(&path)
            .map_err(io_err(&path))?
            .to_string_lossy()
            .into_owned();
        let created = fs::symlink_metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        out.push(GenerationInfo {
            number,
            current: cur == Some(number),
            booted: booted.as_deref() == Some(toplevel.as_str()),
            toplevel,
            created,
        });
    }
    out.sort_by_key(|g| g.number);
    Ok(out)
}

/// Adds `toplevel` as a generation (the next number), unless the current generation is that
/// toplevel already; returns its number. The profile is not switched ([`set_current`]).
pub fn add(root: &Path, toplevel: &str) -> Result<u32, ActivateError> {
    let dir = profiles(root);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let gens = list(root)?;
    if let Some(g) = gens.iter().find(|g| g.current && g.toplevel == toplevel) {
        return Ok(g.number);
    }
    let n = gens.last().map_or(1, |g| g.number + 1);
    relink(&dir.join(link_name(n)), toplevel)?;
    Ok(n)
}

/// Points the profile at generation `n`.
pub fn set_current(root: &Path, n: u32) -> Result<(), ActivateError> {
    let dir = profiles(root);
    if fs::symlink_metadata(dir.join(link_name(n))).is_err() {
        return Err(ActivateError::Invalid(format!(
            "there is no generation {n}"
        )));
    }
    relink(&dir.join(SYSTEM), &link_name(n))
}

/// The generation before the current one (what `rollback` switches to).
pub fn previous(root: &Path) -> Result<GenerationInfo, ActivateError> {
    let gens = list(root)?;
    let cur = current(root)
        .ok_or_else(|| ActivateError::Invalid("the system profile has no generation".into()))?;
    gens.into_iter().rfind(|g| g.number < cur).ok_or_else(|| {
        ActivateError::Invalid(format!(
            "generation {cur} is the oldest; there is nothing to roll back to"
        ))
    })
}

/// Which generations a deletion removes: those named, or those older than `older_than`
/// (measured from `now`); never the current one (named: an error).
pub fn to_delete(
    gens: &[GenerationInfo],
    numbers: &[u32],
    older_than: Option<Duration>,
    now: SystemTime,
) -> Result<Vec<u32>, ActivateError> {
    let mut out = Vec::new();
    for n in numbers {
        let Some(g) = gens.iter().find(|g| g.number == *n) else {
            return Err(ActivateError::Invalid(format!(
                "there is no generation {n}"
            )));
        };
        if g.current {
            return Err(ActivateError::Invalid(format!(
                "generation {n} is the current one; switch to another first"
            )));
        }
        out.push(*n);
    }
    if let Some(age) = older_than {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let limit = now.saturating_sub(age.as_secs());
        out.extend(
            gens.iter()
                .filter(|g| !g.current && g.created < limit)
                .map(|g| g.number),
        );
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Removes the links of generations `numbers` (their store paths become garbage).
pub fn delete(root: &Path, numbers: &[u32]) -> Result<(), ActivateError> {
    let dir = profiles(root);
    for n in numbers {
        let p = dir.join(link_name(*n));
        fs::remove_file(&p).map_err(io_err(&p))?;
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM` (UTC) of seconds since the epoch.
pub fn format_date(secs: u64) -> String {
    let (y, mo, d) = civil_date(secs);
    let (h, m) = ((secs % 86400) / 3600, (secs % 3600) / 60);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}")
}

/// The UTC calendar date (year, month, day) of seconds since the epoch: the civil date from
/// days since 1970-01-01, through 400-year eras of 146097 days (proleptic Gregorian).
pub fn civil_date(secs: u64) -> (i64, i64, i64) {
    let days = i64::try_from(secs / 86400).unwrap_or(0);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    (y, mo, d)
}

/// `30d`, `12h`, `90m`, `3600s` or plain seconds (as `nix-collect-garbage --delete-older-than`
/// takes days).
pub fn parse_age(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'd') => (&s[..i], 86400),
        (i, 'h') => (&s[..i], 3600),
        (i, 'm') => (&s[..i], 60),
        (i, 's') => (&s[..i], 1),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .map(|n| Duration::from_secs(n * mult))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn set_age(root: &Path, n: u32, days_ago: u64) {
        let p = root.join(PROFILES).join(link_name(n));
        let when = SystemTime::now() - Duration::from_secs(days_ago * 86400);
        let t = rustix::fs::Timespec {
            tv_sec: when.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64,
            tv_nsec: 0,
        };
        let times = rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            &p,
            &times,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }

    #[test]
    fn generations_are_added_switched_listed_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(list(root).unwrap().is_empty());
        assert_eq!(add(root, "/nix/store/a-system").unwrap(), 1);
        set_current(root, 1).unwrap();
        // The same toplevel again is the same generation.
        assert_eq!(add(root, "/nix/store/a-system").unwrap(), 1);
        assert_eq!(add(root, "/nix/store/b-system").unwrap(), 2);
        assert_eq!(current(root), Some(1), "added, not switched");
        set_current(root, 2).unwrap();
        assert_eq!(add(root, "/nix/store/c-system").unwrap(), 3);
        set_current(root, 3).unwrap();
        assert_eq!(
            fs::read_link(root.join(PROFILES).join("system")).unwrap(),
            Path::new("system-3-link")
        );
        fs::create_dir_all(root.join("run")).unwrap();
        symlink("/nix/store/b-system", root.join("run/booted-system")).unwrap();
        let gens = list(root).unwrap();
        let marks: Vec<(u32, bool, bool)> = gens
            .iter()
            .map(|g| (g.number, g.current, g.booted))
            .collect();
        assert_eq!(
            marks,
            [(1, false, false), (2, false, true), (3, true, false)]
        );
        assert_eq!(previous(root).unwrap().number, 2);

        // Deleting: the current one is refused; by age never takes it either.
        set_age(root, 1, 40);
        set_age(root, 2, 10);
        set_age(root, 3, 60);
        let gens = list(root).unwrap();
        let now = SystemTime::now();
        let e = to_delete(&gens, &[3], None, now).unwrap_err();
        assert!(
            e.to_string().contains("generation 3 is the current one"),
            "{e}"
        );
        assert!(to_delete(&gens, &[9], None, now).is_err());
        let old = to_delete(&gens, &[], parse_age("30d"), now).unwrap();
        assert_eq!(old, [1]);
        delete(root, &old).unwrap();
        let left: Vec<u32> = list(root).unwrap().iter().map(|g| g.number).collect();
        assert_eq!(left, [2, 3]);
        // Numbers keep growing after a deletion.
        assert_eq!(add(root, "/nix/store/d-system").unwrap(), 4);
        set_current(root, 2).unwrap();
        let e = previous(root).unwrap_err();
        assert!(e.to_string().contains("nothing to roll back to"), "{e}");
        assert!(set_current(root, 1).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(format_date(0), "1970-01-01 00:00");
        assert_eq!(format_date(1_795_257_000), "2026-11-21 10:30");
        assert_eq!(format_date(951_782_400), "2000-02-29 00:00");
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("30d"), Some(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_age("12h"), Some(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_age("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_age("soon"), None);
        assert_eq!(parse_age(""), None);
    }
}
