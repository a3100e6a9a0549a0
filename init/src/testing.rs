//! A [`Sys`] that records every call and answers from an in-memory file system, with devices
//! that appear after a given number of uevent waits and a clock that moves only when a wait
//! times out.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use crate::sys::Sys;

#[derive(Debug, Clone)]
pub enum Node {
    Dir,
    File(Vec<u8>),
    Link(String),
    Block(Vec<u8>),
}

/// The recording system.
#[derive(Debug, Default)]
pub struct Recorder {
    pub fs: BTreeMap<String, Node>,
    /// Every call, one line each (`mount proc /proc proc 14 `, `load /lib/...`, ...).
    pub calls: Vec<String>,
    pub console: Vec<String>,
    pub clock: Duration,
    /// Nodes added when the wait with this number (from 1) returns, as a uevent.
    pub hotplug: BTreeMap<usize, Vec<(String, Node)>>,
    pub waits: usize,
    /// Paths whose `load_module` fails with this errno.
    pub module_errors: BTreeMap<String, i32>,
    /// The images given to `init_module`, in order.
    pub images: Vec<Vec<u8>>,
    /// Targets whose mount fails with this errno.
    pub mount_errors: BTreeMap<String, i32>,
    /// The keyboard map entries set, in order.
    pub key_entries: Vec<(u8, u8, u16)>,
    /// How many entries `set_key_entries` says the kernel refused.
    pub refused_keys: usize,
    /// The errno opening the console fails with in `set_key_entries`.
    pub key_error: Option<i32>,
}

fn err(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

impl Recorder {
    pub fn new() -> Recorder {
        let mut r = Recorder::default();
        r.fs.insert("/".into(), Node::Dir);
        r
    }

    pub fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.parents(path);
        self.fs.insert(path.into(), Node::File(data.to_vec()));
        self
    }

    pub fn dir(&mut self, path: &str) -> &mut Self {
        self.parents(path);
        self.fs.insert(path.into(), Node::Dir);
        self
    }

    pub fn link(&mut self, path: &str, target: &str) -> &mut Self {
        self.parents(path);
        self.fs.insert(path.into(), Node::Link(target.into()));
        self
    }

    pub fn block(&mut self, path: &str, data: Vec<u8>) -> &mut Self {
        self.parents(path);
        self.fs.insert(path.into(), Node::Block(data));
        self
    }

    fn parents(&mut self, path: &str) {
        let mut p = path;
        while let Some((parent, _)) = p.rsplit_once('/') {
            let parent = if parent.is_empty() { "/" } else { parent };
            self.fs.entry(parent.into()).or_insert(Node::Dir);
            if parent == "/" {
                break;
            }
            p = parent;
        }
    }

    /// The calls that start with `prefix`.
    pub fn calls_starting(&self, prefix: &str) -> Vec<String> {
        self.calls
            .iter()
            .filter(|c| c.starts_with(prefix))
            .cloned()
            .collect()
    }
}

impl Sys for Recorder {
    fn mount(
        &mut self,
        source: &str,
        target: &str,
        fstype: &str,
        flags: u64,
        data: &str,
    ) -> io::Result<()> {
        self.calls
            .push(format!("mount {source} {target} {fstype} {flags} {data}"));
        if let Some(&e) = self.mount_errors.get(target) {
            return Err(err(e));
        }
        Ok(())
    }

    fn mkdir_p(&mut self, path: &str) -> io::Result<()> {
        self.parents(&format!("{path}/x"));
        Ok(())
    }

    fn read_file(&mut self, path: &str) -> io::Result<Vec<u8>> {
        match self.fs.get(path) {
            Some(Node::File(d)) => Ok(d.clone()),
            Some(_) => Err(err(libc::EISDIR)),
            None => Err(err(libc::ENOENT)),
        }
    }

    fn read_at(&mut self, path: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        match self.fs.get(path) {
            Some(Node::File(d) | Node::Block(d)) => {
                let start = (offset as usize).min(d.len());
                let end = start.saturating_add(len).min(d.len());
                Ok(d[start..end].to_vec())
            }
            Some(_) => Err(err(libc::EISDIR)),
            None => Err(err(libc::ENOENT)),
        }
    }

    fn read_dir(&mut self, path: &str) -> io::Result<Vec<String>> {
        if !matches!(self.fs.get(path), Some(Node::Dir)) {
            return Err(err(libc::ENOENT));
        }
        let prefix = if path == "/" {
            "/".to_owned()
        } else {
            format!("{path}/")
        };
        Ok(self
            .fs
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_owned)
            .collect())
    }

    fn read_link(&mut self, path: &str) -> io::Result<String> {
        match self.fs.get(path) {
            Some(Node::Link(t)) => Ok(t.clone()),
            Some(_) => Err(err(libc::EINVAL)),
            None => Err(err(libc::ENOENT)),
        }
    }

    fn exists(&mut self, path: &str) -> bool {
        self.fs.contains_key(path)
    }

    fn is_block_device(&mut self, path: &str) -> bool {
        matches!(self.fs.get(path), Some(Node::Block(_)))
    }

    fn load_module(&mut self, path: &str, params: &str) -> io::Result<()> {
        self.calls.push(format!("load {path} {params}"));
        if let Some(&e) = self.module_errors.get(path) {
            return Err(err(e));
        }
        if !self.fs.contains_key(path) {
            return Err(err(libc::ENOENT));
        }
        Ok(())
    }

    fn init_module(&mut self, image: &[u8], params: &str) -> io::Result<()> {
        self.calls
            .push(format!("init_module {} bytes {params}", image.len()));
        self.images.push(image.to_vec());
        // The kernel refuses what is not an ELF object.
        if !image.starts_with(b"\x7fELF") {
            return Err(err(libc::ENOEXEC));
        }
        Ok(())
    }

    fn watch_uevents(&mut self) -> io::Result<()> {
        self.calls.push("watch-uevents".into());
        Ok(())
    }

    fn wait_uevent(&mut self, timeout: Duration) -> io::Result<bool> {
        self.waits += 1;
        self.calls.push(format!("wait {}ms", timeout.as_millis()));
        if let Some(nodes) = self.hotplug.remove(&self.waits) {
            for (p, n) in nodes {
                self.parents(&p);
                self.fs.insert(p, n);
            }
            self.clock += Duration::from_millis(10);
            return Ok(true);
        }
        self.clock += timeout;
        Ok(false)
    }

    fn now(&mut self) -> Duration {
        self.clock
    }

    fn console(&mut self, line: &str) {
        self.console.push(line.to_owned());
    }

    fn clear_initramfs(&mut self, keep: &str) -> io::Result<()> {
        self.calls.push(format!("clear-initramfs keeping {keep}"));
        Ok(())
    }

    fn switch_root(&mut self, new_root: &str) -> io::Result<()> {
        self.calls.push(format!("switch-root {new_root}"));
        Ok(())
    }

    fn attach_loop(&mut self, path: &str) -> io::Result<String> {
        self.calls.push(format!("attach-loop {path}"));
        Ok("/dev/loop0".into())
    }

    fn set_key_entries(&mut self, tty: &str, entries: &[(u8, u8, u16)]) -> io::Result<usize> {
        self.calls.push(format!("set-keys {tty} {}", entries.len()));
        if let Some(e) = self.key_error {
            return Err(err(e));
        }
        self.key_entries.extend_from_slice(entries);
        Ok(self.refused_keys)
    }

    fn exec(&mut self, path: &str, argv: &[String], _env: &[String]) -> io::Error {
        self.calls.push(format!("exec {path} {}", argv.join(" ")));
        err(libc::ENOEXEC)
    }
}
