#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use super::*;

const EPOCH: u64 = 1_700_000_000; // 2023-11-14T22:13:20Z

/// Deterministic bytes that differ from file to file.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

fn write(root: &Path, path: &str, content: &[u8]) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// A tree like a strata ESP, plus the awkward cases.
fn esp_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "EFI/BOOT/BOOTX64.EFI", &noise(200_000, 1));
    write(root, "EFI/systemd/systemd-bootx64.efi", &noise(90_000, 2));
    write(
        root,
        "loader/loader.conf",
        b"timeout 3\ndefault strata-generation-12.conf\n",
    );
    write(
        root,
        "loader/entries/strata-generation-12.conf",
        b"title strata\nlinux /kernel\n",
    );
    write(
        root,
        "loader/entries/strata-generation-11.conf",
        b"title strata (11)\n",
    );
    write(root, "strata/kernel-3mib", &noise(3 * 1024 * 1024, 3));
    write(root, "strata/empty", b"");
    write(root, "deep/a/b/c/d/e/f/leaf.txt", b"leaf");
    write(root, "ünïcode ファイル.txt", "ünïcode".as_bytes());
    write(root, "UPPER.TXT", b"upper");
    write(root, "mixed.Case.Name.with.dots", b"dots");
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    dir
}

/// What `read_fat_tree` should find for the tree at `root`.
fn host_tree(root: &Path) -> BTreeMap<String, FatEntry> {
    let mut tree = BTreeMap::new();
    let mut pending = vec![(root.to_owned(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.file_type().unwrap().is_dir() {
                pending.push((entry.path(), path.clone()));
                tree.insert(path, FatEntry::Dir);
            } else {
                tree.insert(path, FatEntry::File(fs::read(entry.path()).unwrap()));
            }
        }
    }
    tree
}

/// An image file of `size` bytes filled with a pattern, so that untouched bytes are visible.
fn patterned_image(size: u64) -> tempfile::NamedTempFile {
    let image = tempfile::NamedTempFile::new().unwrap();
    let chunk = vec![0x5Au8; MIB as usize];
    let mut done = 0;
    while done < size {
        let n = (size - done).min(MIB);
        image
            .as_file()
            .write_all_at(&chunk[..n as usize], done)
            .unwrap();
        done += n;
    }
    image
}

fn region(file: &File, offset: u64, len: u64) -> Vec<u8> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset).unwrap();
    buf
}

fn tool(name: &str) -> bool {
    let found = Command::new(name).arg("--help").output().is_ok();
    if !found {
        println!("note: {name} is not installed; skipping its independent check");
    }
    found
}

/// Runs `fsck.fat -n` (dosfstools) on a copy of the region, when it is installed.
fn fsck(file: &File, offset: u64, len: u64) {
    if !tool("fsck.fat") {
        return;
    }
    let copy = tempfile::NamedTempFile::new().unwrap();
    fs::write(copy.path(), region(file, offset, len)).unwrap();
    let output = Command::new("fsck.fat")
        .arg("-n")
        .arg("-V")
        .arg(copy.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "fsck.fat failed:\n{text}");
    // fsck.fat prints its version, the verification pass and a one-line summary, and
    // anything else only for problems it found.
    let problems: Vec<&str> = text
        .lines()
        .filter(|line| {
            !(line.trim().is_empty()
                || line.starts_with("fsck.fat ")
                || line.starts_with("Starting ")
                || line.contains(" files, "))
        })
        .collect();
    assert!(problems.is_empty(), "fsck.fat reported:\n{text}");
}

/// Lists the region recursively with mtools' `mdir`, when it is installed.
fn mdir_paths(image: &Path, offset: u64) -> Option<Vec<String>> {
    if !tool("mdir") {
        return None;
    }
    let output = Command::new("mdir")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(format!("{}@@{offset}", image.display()))
        .args(["-/", "-b", "::"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "mdir failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut paths: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            line.trim_start_matches("::/")
                .trim_end_matches('/')
                .to_owned()
        })
        .filter(|line| !line.is_empty())
        .collect();
    paths.sort();
    Some(paths)
}

#[test]
fn tree_round_trips_inside_an_image() {
    let tree = esp_tree();
    let (offset, len) = (MIB, 40 * MIB);
    let image = patterned_image(offset + len + MIB);
    let file = image.as_file();
    let report = make_fat(file, offset, len, "esp", 0xDEAD_BEEF, tree.path(), EPOCH).unwrap();
    assert_eq!(report.fat_type, FatType::Fat32);
    assert_eq!(report.cluster_size, 512);
    assert_eq!(report.files, 11);
    assert_eq!(report.directories, 14);
    assert_eq!(
        report.file_bytes,
        host_tree(tree.path())
            .values()
            .map(|e| match e {
                FatEntry::File(c) => c.len() as u64,
                FatEntry::Dir => 0,
            })
            .sum::<u64>()
    );
    assert!(report.free_clusters < report.total_clusters);

    let read = read_fat_tree(file, offset, len).unwrap();
    let expected = host_tree(tree.path());
    assert_eq!(
        read.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert!(read == expected, "contents differ");
    assert!(read.contains_key("loader/entries/strata-generation-12.conf"));
    assert!(read.contains_key("EFI/BOOT/BOOTX64.EFI"));

    let volume = read_fat_volume(file, offset, len).unwrap();
    assert_eq!(volume.fat_type, FatType::Fat32);
    assert_eq!(volume.label, "ESP");
    assert_eq!(volume.volume_id, 0xDEAD_BEEF);
    assert_eq!(volume.free_clusters, report.free_clusters);

    // Nothing outside the region changed.
    assert!(region(file, 0, offset).iter().all(|&b| b == 0x5A));
    assert!(region(file, offset + len, MIB).iter().all(|&b| b == 0x5A));

    fsck(file, offset, len);
    if let Some(paths) = mdir_paths(image.path(), offset) {
        assert_eq!(paths, expected.keys().cloned().collect::<Vec<_>>());
    }
}

#[test]
fn dot_entries_lead_every_directory() {
    let tree = esp_tree();
    for len in [40 * MIB, 8 * MIB] {
        let image = tempfile::tempfile().unwrap();
        image.set_len(len).unwrap();
        make_fat(&image, 0, len, "ESP", 1, tree.path(), EPOCH).unwrap();
        let raw = RawFat::open(&image, 0, len).unwrap();
        let mut pending: Vec<(u32, bool)> = raw
            .subdirs(&raw.read_dir(None).unwrap())
            .map(|c| (c, true))
            .collect();
        let mut seen = 0;
        while let Some((cluster, parent_is_root)) = pending.pop() {
            let content = raw.read_dir(Some(cluster)).unwrap();
            assert_eq!(&content[..11], b".          ");
            assert_eq!(&content[32..43], b"..         ");
            let first_cluster = |e: &[u8]| {
                u32::from(u16::from_le_bytes([e[20], e[21]])) << 16
                    | u32::from(u16::from_le_bytes([e[26], e[27]]))
            };
            assert_eq!(first_cluster(&content[..32]), cluster);
            if parent_is_root {
                assert_eq!(first_cluster(&content[32..64]), 0);
            }
            pending.extend(raw.subdirs(&content).map(|c| (c, false)));
            seen += 1;
        }
        assert_eq!(seen, 14, "{len}");
    }
}

#[test]
fn every_timestamp_is_the_given_time() {
    let tree = esp_tree();
    let len = 40 * MIB;
    let image = tempfile::tempfile().unwrap();
    image.set_len(len).unwrap();
    make_fat(&image, 0, len, "ESP", 1, tree.path(), EPOCH).unwrap();

    let fs = FileSystem::new(Region::new(&image, 0, len, false), FsOptions::new()).unwrap();
    let expected = dos_time(EPOCH);
    let mut pending = vec![fs.root_dir()];
    let mut seen = 0;
    while let Some(dir) = pending.pop() {
        for entry in dir.iter() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            // The dates are kept at 2-second resolution in the modification time.
            let mut modified = entry.modified();
            modified.time.sec -= modified.time.sec % 2;
            let mut want = expected;
            want.time.sec -= want.time.sec % 2;
            assert_eq!(modified, want, "{name}");
            assert_eq!(entry.created(), expected, "{name}");
            assert_eq!(entry.accessed(), expected.date, "{name}");
            seen += 1;
            if entry.is_dir() && name != "." && name != ".." {
                pending.push(entry.to_dir());
            }
        }
    }
    assert!(seen > 20);
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let tree = esp_tree();
    let (offset, len) = (2 * MIB, 36 * MIB);
    // One image starts with garbage in the region, the other is sparse zeros.
    let dirty = patterned_image(offset + len);
    let clean = tempfile::tempfile().unwrap();
    clean.set_len(offset + len).unwrap();
    make_fat(dirty.as_file(), offset, len, "ESP", 7, tree.path(), EPOCH).unwrap();
    make_fat(&clean, offset, len, "ESP", 7, tree.path(), EPOCH).unwrap();
    let first = region(dirty.as_file(), offset, len);
    assert!(first == region(&clean, offset, len), "regions differ");

    // A copy of the tree made in a different order reads back in the same order.
    let copy = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = host_tree(tree.path()).into_iter().collect();
    files.reverse();
    for (path, entry) in files {
        match entry {
            FatEntry::Dir => fs::create_dir_all(copy.path().join(path)).unwrap(),
            FatEntry::File(content) => write(copy.path(), &path, &content),
        }
    }
    make_fat(&clean, offset, len, "ESP", 7, copy.path(), EPOCH).unwrap();
    assert!(
        first == region(&clean, offset, len),
        "tree order leaked into the image"
    );

    // The time, the serial and the label do reach the image.
    make_fat(&clean, offset, len, "ESP", 7, tree.path(), EPOCH + 86_400).unwrap();
    assert!(first != region(&clean, offset, len));
    make_fat(&clean, offset, len, "ESP", 8, tree.path(), EPOCH).unwrap();
    assert!(first != region(&clean, offset, len));
}

#[test]
fn fat_type_follows_the_region_size() {
    let empty = tempfile::tempdir().unwrap();
    write(empty.path(), "EFI/BOOT/BOOTX64.EFI", &noise(5000, 9));
    for (len, fat_type, cluster) in [
        (300 * MIB, FatType::Fat32, 4096),
        (FAT32_MIN_SIZE, FatType::Fat32, 512),
        (FAT32_MIN_SIZE - MIB, FatType::Fat16, 2048),
        (8 * MIB, FatType::Fat16, 1024),
        (2 * MIB, FatType::Fat12, 1024),
        (512 * 1024, FatType::Fat12, 512),
    ] {
        let image = tempfile::tempfile().unwrap();
        image.set_len(len).unwrap();
        let report = make_fat(&image, 0, len, "ESP", 1, empty.path(), EPOCH).unwrap();
        assert_eq!(
            (report.fat_type, report.cluster_size),
            (fat_type, cluster),
            "{len} bytes"
        );
        assert_eq!(read_fat_volume(&image, 0, len).unwrap().fat_type, fat_type);
        let tree = read_fat_tree(&image, 0, len).unwrap();
        assert_eq!(tree["EFI/BOOT/BOOTX64.EFI"], FatEntry::File(noise(5000, 9)));
        fsck(&image, 0, len);
    }
}

#[test]
fn fat32_boundary_matches_fatfs() {
    // FAT32_MIN_SIZE is the first whole MiB our geometry calls FAT32.
    assert!(fat32_geometry(FAT32_MIN_SIZE).is_some());
    assert!(fat32_geometry(FAT32_MIN_SIZE - MIB).is_none());
    // And fatfs agrees on every sector count around the boundary.
    let image = tempfile::tempfile().unwrap();
    let first = (0..)
        .map(|i| 32 * MIB + i * SECTOR)
        .find(|&len| fat32_geometry(len).is_some())
        .unwrap();
    for len in [
        first,
        first + SECTOR,
        first + 100 * SECTOR,
        260 * MIB,
        260 * MIB + SECTOR,
    ] {
        image.set_len(len).unwrap();
        let empty = tempfile::tempdir().unwrap();
        let report = make_fat(&image, 0, len, "", 1, empty.path(), EPOCH).unwrap();
        assert_eq!(report.fat_type, FatType::Fat32, "{len}");
        assert!(u64::from(report.total_clusters) >= FAT32_MIN_CLUSTERS);
        assert_eq!(
            u64::from(report.total_clusters),
            fat32_clusters(len, fat32_cluster_size(len))
        );
    }
    image.set_len(first - SECTOR).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let report = make_fat(&image, 0, first - SECTOR, "", 1, empty.path(), EPOCH).unwrap();
    assert_eq!(report.fat_type, FatType::Fat16);
}

#[test]
fn fat_size_for_holds_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "big", &noise(40 * MIB as usize, 4));
    for i in 0..300 {
        write(
            root,
            &format!("many/sub{}/a file with a rather long name {i}.conf", i % 7),
            &[i as u8; 700],
        );
    }
    for i in 0..50 {
        write(root, &format!("many/tiny{i}"), b"x");
    }
    let size = fat_size_for_dir(root).unwrap();
    let bytes = 40 * MIB + 300 * 700 + 50;
    assert_eq!(size, fat_size_for(bytes, 1 + 7 + 300 + 50 + 1));
    assert_eq!(size % MIB, 0);
    // Generous but not wasteful.
    assert!(size > bytes && size < bytes + 20 * MIB, "{size}");

    let image = tempfile::tempfile().unwrap();
    image.set_len(size).unwrap();
    let report = make_fat(&image, 0, size, "ESP", 1, root, EPOCH).unwrap();
    assert_eq!(report.fat_type, FatType::Fat32);
    assert_eq!(read_fat_tree(&image, 0, size).unwrap(), host_tree(root));
    fsck(&image, 0, size);

    // Too small a region is refused with the size that would do.
    let small = 40 * MIB;
    let err = make_fat(&image, 0, small, "ESP", 1, root, EPOCH).unwrap_err();
    let Error::NoSpace {
        suggested,
        ref fat_path,
        ..
    } = err
    else {
        panic!("{err}")
    };
    assert_eq!(suggested, size);
    assert_eq!(fat_path, "big");
    assert!(err.to_string().contains(&size.to_string()), "{err}");
}

#[test]
fn fat_size_for_bounds() {
    assert_eq!(fat_size_for(0, 0), FAT32_MIN_SIZE);
    assert_eq!(fat_size_for(MIB, 10), FAT32_MIN_SIZE);
    let mut last = 0;
    for bytes in [0, MIB, 100 * MIB, 259 * MIB, 261 * MIB, 10 * GIB] {
        for entries in [0, 1, 1000, 100_000] {
            let size = fat_size_for(bytes, entries);
            assert!(size >= bytes + entries * 512, "{bytes} {entries}");
            assert_eq!(size % MIB, 0);
            last = last.max(size);
        }
    }
    // Absurd inputs saturate instead of overflowing.
    assert!(fat_size_for(u64::MAX, u64::MAX) >= last);
}

#[test]
fn symlinks_are_refused_before_the_image_is_touched() {
    let tree = esp_tree();
    std::os::unix::fs::symlink("../loader/loader.conf", tree.path().join("EFI/link")).unwrap();
    let len = 40 * MIB;
    let image = patterned_image(len);
    let err = make_fat(image.as_file(), 0, len, "ESP", 1, tree.path(), EPOCH).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unsupported {
                kind: "symbolic link",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("EFI/link"), "{err}");
    assert!(region(image.as_file(), 0, len).iter().all(|&b| b == 0x5A));
}

#[test]
fn special_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let socket = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
    let image = tempfile::tempfile().unwrap();
    image.set_len(FAT32_MIN_SIZE).unwrap();
    let err = make_fat(&image, 0, FAT32_MIN_SIZE, "ESP", 1, dir.path(), EPOCH).unwrap_err();
    assert!(
        matches!(err, Error::Unsupported { kind: "socket", .. }),
        "{err}"
    );
    drop(socket);
}

#[test]
fn names_fat_cannot_hold_are_refused() {
    let image = tempfile::tempfile().unwrap();
    image.set_len(FAT32_MIN_SIZE).unwrap();
    for name in [
        "a:b",
        "what?",
        "back\\slash",
        "trailing.",
        "trailing ",
        "tab\there",
        "😀",
    ] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), name, b"x");
        let err = make_fat(&image, 0, FAT32_MIN_SIZE, "ESP", 1, dir.path(), EPOCH).unwrap_err();
        assert!(matches!(err, Error::BadName { .. }), "{name:?}: {err}");
    }
    // Longer names than this cannot exist on Linux, which has the same 255-byte limit.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &"x".repeat(255), b"x");
    make_fat(&image, 0, FAT32_MIN_SIZE, "ESP", 1, dir.path(), EPOCH).unwrap();
}

#[test]
fn names_differing_in_case_are_refused() {
    let image = tempfile::tempfile().unwrap();
    image.set_len(FAT32_MIN_SIZE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "EFI/BOOT/bootx64.efi", b"a");
    write(dir.path(), "EFI/BOOT/BOOTX64.EFI", b"b");
    let err = make_fat(&image, 0, FAT32_MIN_SIZE, "ESP", 1, dir.path(), EPOCH).unwrap_err();
    assert!(matches!(err, Error::CaseClash { .. }), "{err}");
    assert!(err.to_string().contains("bootx64.efi"), "{err}");

    // A name spelling another file's generated 8.3 alias.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "abcdefghij.txt", b"long");
    write(dir.path(), "abcdef~1.txt", b"alias");
    let err = make_fat(&image, 0, FAT32_MIN_SIZE, "ESP", 1, dir.path(), EPOCH).unwrap_err();
    assert!(matches!(err, Error::ShortNameClash { .. }), "{err}");
}

#[test]
fn bad_arguments_are_refused() {
    let tree = esp_tree();
    let image = tempfile::tempfile().unwrap();
    image.set_len(FAT32_MIN_SIZE).unwrap();
    let make = |offset, len, label: &str, source: &Path| {
        make_fat(&image, offset, len, label, 1, source, EPOCH).unwrap_err()
    };
    let err = make(0, FAT32_MIN_SIZE, "TOO LONG LABEL", tree.path());
    assert!(matches!(err, Error::BadLabel { .. }), "{err}");
    let err = make(0, FAT32_MIN_SIZE, "A.B", tree.path());
    assert!(matches!(err, Error::BadLabel { .. }), "{err}");
    let err = make(100, MIB, "ESP", tree.path());
    assert!(matches!(err, Error::BadRegion { .. }), "{err}");
    let err = make(MIB, FAT32_MIN_SIZE, "ESP", tree.path());
    assert!(matches!(err, Error::BadRegion { .. }), "{err}");
    assert!(
        err.to_string().contains(&FAT32_MIN_SIZE.to_string()),
        "{err}"
    );
    let err = make(
        0,
        FAT32_MIN_SIZE,
        "ESP",
        &tree.path().join("loader/loader.conf"),
    );
    assert!(matches!(err, Error::NotADirectory { .. }), "{err}");
    let err = make(0, FAT32_MIN_SIZE, "ESP", &tree.path().join("missing"));
    assert!(matches!(err, Error::ReadSource { .. }), "{err}");
    // Too small for any FAT.
    let err = make(0, 4096, "ESP", tree.path());
    assert!(matches!(err, Error::Format { .. }), "{err}");

    assert_eq!(&volume_label("esp").unwrap(), b"ESP        ");
    assert_eq!(&volume_label("").unwrap(), b"NO NAME    ");
    assert_eq!(&volume_label("STRATA_BOOT").unwrap(), b"STRATA_BOOT");
}

#[test]
fn reading_garbage_is_an_error() {
    let image = tempfile::tempfile().unwrap();
    image.set_len(4 * MIB).unwrap();
    assert!(read_fat_tree(&image, 0, 4 * MIB).is_err());
    image.write_all_at(&noise(4 * MIB as usize, 5), 0).unwrap();
    assert!(read_fat_tree(&image, 0, 4 * MIB).is_err());
    assert!(read_fat_volume(&image, 0, 4 * MIB).is_err());

    // A valid file system with its data scribbled over stays an error or a listing, never a
    // panic or a hang.
    let tree = esp_tree();
    let len = 40 * MIB;
    let image = tempfile::tempfile().unwrap();
    image.set_len(len).unwrap();
    make_fat(&image, 0, len, "ESP", 1, tree.path(), EPOCH).unwrap();
    for (i, at) in [4096u64, 8192, 300_000, 600_000, 1_100_000]
        .into_iter()
        .enumerate()
    {
        image.write_all_at(&noise(4096, 10 + i as u32), at).unwrap();
        let _ = read_fat_tree(&image, 0, len);
    }
}

#[test]
fn dos_times() {
    let t = |y, mo, d, h, mi, s| DateTime {
        date: Date {
            year: y,
            month: mo,
            day: d,
        },
        time: Time {
            hour: h,
            min: mi,
            sec: s,
            millis: 0,
        },
    };
    assert_eq!(dos_time(0), t(1980, 1, 1, 0, 0, 0));
    assert_eq!(dos_time(315_532_800), t(1980, 1, 1, 0, 0, 0));
    assert_eq!(dos_time(EPOCH), t(2023, 11, 14, 22, 13, 20));
    assert_eq!(dos_time(1_709_164_800), t(2024, 2, 29, 0, 0, 0));
    assert_eq!(dos_time(951_868_799), t(2000, 2, 29, 23, 59, 59));
    assert_eq!(dos_time(4_354_819_199), t(2107, 12, 31, 23, 59, 59));
    assert_eq!(dos_time(4_354_819_200), t(2107, 12, 31, 23, 59, 58));
    assert_eq!(dos_time(u64::MAX), t(2107, 12, 31, 23, 59, 58));
}

#[test]
fn region_stream_stays_inside_its_window() {
    let image = tempfile::tempfile().unwrap();
    image.write_all_at(&[1u8; 3000], 0).unwrap();
    let mut region = Region::new(&image, 1000, 1000, true);
    let mut buf = [0u8; 1500];
    assert_eq!(region.read(&mut buf).unwrap(), 1000);
    assert_eq!(region.read(&mut buf).unwrap(), 0);
    region.seek(SeekFrom::End(-10)).unwrap();
    assert_eq!(region.write(&[2u8; 20]).unwrap(), 10);
    assert!(region.write(&[2u8; 1]).is_err());
    assert!(region.seek(SeekFrom::Current(-2000)).is_err());
    let mut all = [0u8; 3000];
    image.read_exact_at(&mut all, 0).unwrap();
    assert!(all[..1990].iter().all(|&b| b == 1));
    assert!(all[1990..2000].iter().all(|&b| b == 2));
    assert!(all[2000..].iter().all(|&b| b == 1));
    let mut read_only = Region::new(&image, 0, 10, false);
    assert!(read_only.write(&[0]).is_err());
}
