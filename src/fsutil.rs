//! Files that must never be half-written, doubly owned or written through a
//! link someone planted: atomic replace (an exclusively created temp file of
//! unpredictable name in the same folder, fsync, rename, fsync the folder),
//! the one-run-per-folder lock (an OS lock, so a killed run leaves nothing
//! stale), and opening the files kept in the folder without following links.

use std::fs::{self, File, OpenOptions, Permissions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Mode asked for new files; the umask narrows it, exactly as for
/// `File::create` (tempfile's own default, 0600, would make the reports
/// unreadable to the group that reads them today).
const NEW_FILE_MODE: u32 = 0o666;

/// The folder `path` is in (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A file that replaces `path` only when complete: written in a temp file
/// beside it, then renamed over it by [`commit`](AtomicFile::commit).
/// Readers see the old file or the new one, never a torn one; dropped
/// without a commit (an error, a panic), it leaves nothing behind.
///
/// The temp file lives beside the target (a rename cannot cross
/// filesystems) under a random name, created with `O_CREAT | O_EXCL`: a
/// file or symlink planted at any name it could take is never opened, the
/// creation just picks another name. The rename replaces whatever entry
/// has the target's name, a symlink included, and never writes through it.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
    _live: LiveTemp,
}

/// The temp files of every [`AtomicFile`] not yet renamed or dropped: the
/// report's are open for the whole run, and a process that quits at once
/// (a second signal) removes them with [`remove_live_temp_files`] rather
/// than leave them for the next run.
static LIVE_TEMP_FILES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// One temp file in [`LIVE_TEMP_FILES`], for as long as it lives.
#[derive(Debug)]
struct LiveTemp(PathBuf);

impl LiveTemp {
    fn new(path: &Path) -> LiveTemp {
        live_temp_files().push(path.to_path_buf());
        LiveTemp(path.to_path_buf())
    }
}

impl Drop for LiveTemp {
    fn drop(&mut self) {
        live_temp_files().retain(|p| *p != self.0);
    }
}

fn live_temp_files() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE_TEMP_FILES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Remove the temp files of every [`AtomicFile`] still being written: the
/// process is about to quit without running destructors.
pub fn remove_live_temp_files() {
    for path in live_temp_files().iter() {
        let _ = fs::remove_file(path);
    }
}

/// Remove the temp files [`AtomicFile`] left in `dir` for the files
/// `names` when a process was killed before renaming them (`kill -9`
/// while a report was written): `.{name}.tmp-` and six random characters.
/// Only regular files are removed, never through a link, and only while
/// the folder's lock is held (no other run can be writing them). Returns
/// what was removed.
pub fn remove_stale_temp_files(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let stale = |file: &str| {
        names.iter().any(|name| {
            file.strip_prefix(&format!(".{name}.tmp-"))
                .is_some_and(|rest| {
                    rest.len() == 6 && rest.chars().all(|c| c.is_ascii_alphanumeric())
                })
        })
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let regular = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        if regular
            && entry.file_name().to_str().is_some_and(stale)
            && fs::remove_file(&path).is_ok()
        {
            removed.push(path);
        }
    }
    removed
}

impl AtomicFile {
    /// Start the file that will replace `path`.
    pub fn create(path: &Path) -> anyhow::Result<AtomicFile> {
        let dir = parent_of(path);
        let name = path.file_name().context("output path has no file name")?;
        let prefix = format!(".{}.tmp-", name.to_string_lossy());
        let tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .permissions(Permissions::from_mode(NEW_FILE_MODE))
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        let live = LiveTemp::new(tmp.path());
        Ok(AtomicFile {
            tmp,
            path: path.to_path_buf(),
            _live: live,
        })
    }

    /// The file it will replace.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flush it to disk and rename it into place; returns it, open for
    /// writing at the end.
    pub fn commit(self) -> anyhow::Result<File> {
        let AtomicFile { tmp, path, .. } = self;
        let tmp_name = tmp.path().display().to_string();
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("flushing {tmp_name}"))?;
        let mut file = tmp
            .persist(&path)
            .map_err(|e| e.error)
            .with_context(|| format!("renaming {tmp_name} to {}", path.display()))?;
        // Make the rename itself durable; not every filesystem allows
        // opening a directory, and the data is already safe then.
        if let Ok(d) = File::open(parent_of(&path)) {
            let _ = d.sync_all();
        }
        file.seek(SeekFrom::End(0))
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(file)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tmp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tmp.flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.tmp.seek(pos)
    }
}

/// Replace `path` with a new file holding `bytes` and return it, open for
/// writing after `bytes` (see [`AtomicFile`]).
pub fn replace_file(path: &Path, bytes: &[u8]) -> anyhow::Result<File> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", file.tmp.path().display()))?;
    file.commit()
}

/// Replace `path` with `bytes` atomically (see [`AtomicFile`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    replace_file(path, bytes).map(drop)
}

/// Why a file qualrecon keeps in the output folder (the lock, the
/// journal) cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A symbolic link sits at the name; it may point anywhere, so it is
    /// neither followed nor silently replaced.
    #[error(
        "{path} is a symbolic link; qualrecon does not follow links in the output folder (remove the link, or choose another --out)"
    )]
    Symlink {
        /// The name the link sits at.
        path: String,
    },
    /// A directory, device or FIFO, or a file with a second name (a hard
    /// link): writing it could change a file outside the output folder.
    #[error(
        "{path} is not a regular file of its own (a directory, device, FIFO or hard link); remove it, or choose another --out"
    )]
    NotPlain {
        /// The name it sits at.
        path: String,
    },
    /// Anything else.
    #[error("cannot open {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Whether a symbolic link sits at `path` (not followed).
fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Open `path` with `options` but never through a symlink (`O_NOFOLLOW`)
/// and never when it is anything but a regular file with one name.
/// `O_NONBLOCK` keeps a FIFO planted there from hanging the open; it does
/// nothing to a regular file.
pub fn open_plain(path: &Path, options: &mut OpenOptions) -> Result<File, OpenError> {
    let shown = || path.display().to_string();
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| {
            // ELOOP on Linux, EMLINK on some BSDs: ask the folder instead.
            if is_symlink(path) {
                OpenError::Symlink { path: shown() }
            } else {
                OpenError::Io {
                    path: shown(),
                    source,
                }
            }
        })?;
    let meta = file.metadata().map_err(|source| OpenError::Io {
        path: shown(),
        source,
    })?;
    if !meta.is_file() || meta.nlink() > 1 {
        return Err(OpenError::NotPlain { path: shown() });
    }
    Ok(file)
}

/// Refuse a symlink or a non-file at `path`, a name a later
/// [`replace_file`] will take over: replacing would be safe, but a link
/// there was planted by someone, and the run says so instead of going on.
pub fn refuse_link(path: &Path) -> Result<(), OpenError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(OpenError::Symlink {
            path: path.display().to_string(),
        }),
        Ok(m) if !m.is_file() => Err(OpenError::NotPlain {
            path: path.display().to_string(),
        }),
        _ => Ok(()),
    }
}

/// Name of the lock file inside the output folder. It is never deleted:
/// deleting races with the next run taking it.
pub const LOCK_FILE: &str = ".qualrecon.lock";

/// Holds the output folder's lock for as long as it lives.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
    /// The lock file.
    pub path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error(
        "another qualrecon run is using the output folder {dir}{holder} (lock file {lock}); wait for it to finish or choose another --out"
    )]
    Held {
        /// The output folder.
        dir: String,
        /// ` (pid N since …)`, as the holder wrote it into the lock file, or
        /// empty.
        holder: String,
        /// The lock file.
        lock: String,
    },
    /// The lock file is a symlink or not a plain file.
    #[error(transparent)]
    Unsafe(OpenError),
    /// The lock file could not be opened or locked.
    #[error("cannot lock the output folder {dir}: {source}")]
    Io {
        /// The output folder.
        dir: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Take the output folder's lock without waiting.
pub fn lock_folder(dir: &Path) -> Result<FolderLock, LockError> {
    let path = dir.join(LOCK_FILE);
    let io = |source| LockError::Io {
        dir: dir.display().to_string(),
        source,
    };
    let mut file = open_plain(
        &path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .map_err(|e| match e {
        OpenError::Io { source, .. } => io(source),
        unsafe_file => LockError::Unsafe(unsafe_file),
    })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockError::Held {
                dir: dir.display().to_string(),
                holder: if holder.is_empty() {
                    String::new()
                } else {
                    format!(" ({holder})")
                },
                lock: path.display().to_string(),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    // Who holds it, for the message the next run prints.
    let _ = file.set_len(0);
    let _ = file.seek(SeekFrom::Start(0));
    let _ = write!(
        file,
        "pid {} since {}",
        std::process::id(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let _ = file.flush();
    Ok(FolderLock { _file: file, path })
}

/// Replace a credential file (the rotated refresh token) atomically with
/// the original's permission bits, and owner where the process may set it:
/// a temp file created exclusively beside it (mode 0600 until then, so the
/// new token is never readable by more users than the old one), fsync,
/// rename, fsync the folder. A reader sees the old token or the new one.
pub fn replace_keeping_permissions(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let original = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".qualrecon-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // Best effort: only root (or the owner, for the group) may chown.
        let _ =
            std::os::unix::fs::fchown(tmp.as_file(), Some(original.uid()), Some(original.gid()));
    }
    tmp.as_file()
        .set_permissions(original.permissions())
        .with_context(|| format!("setting the permissions of {}", tmp.path().display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming the temp file to {}", path.display()))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temp_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [
            ".qualifications.csv.tmp-2l0I3N",
            ".summary.json.tmp-VRoxlZ",
            ".qualifications.csv.tmp-12345",
            "qualifications.csv",
            ".other.csv.tmp-abcdef",
        ] {
            fs::write(d.join(name), b"x").unwrap();
        }
        // A link at a temp name is an entry someone planted: left alone.
        std::os::unix::fs::symlink(
            d.join("qualifications.csv"),
            d.join(".qualifications.jsonl.tmp-aaaaaa"),
        )
        .unwrap();
        let mut removed = remove_stale_temp_files(
            d,
            &["qualifications.csv", "summary.json", "qualifications.jsonl"],
        );
        removed.sort();
        assert_eq!(
            removed,
            [
                d.join(".qualifications.csv.tmp-2l0I3N"),
                d.join(".summary.json.tmp-VRoxlZ")
            ]
        );
        for kept in [
            ".qualifications.csv.tmp-12345",
            "qualifications.csv",
            ".other.csv.tmp-abcdef",
            ".qualifications.jsonl.tmp-aaaaaa",
        ] {
            assert!(fs::symlink_metadata(d.join(kept)).is_ok(), "{kept}");
        }
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_second_lock_on_the_same_folder_fails_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_folder(dir.path()).unwrap();
        let err = lock_folder(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, LockError::Held { .. }));
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        lock_folder(dir.path()).unwrap();
    }

    /// A file outside the folder that a planted link points at.
    fn victim(dir: &Path) -> PathBuf {
        let p = dir.join("victim.txt");
        fs::write(&p, b"precious").unwrap();
        p
    }

    #[test]
    fn a_symlink_at_the_target_is_replaced_never_written_through() {
        let outside = tempfile::tempdir().unwrap();
        let target = victim(outside.path());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("qualifications.csv");
        std::os::unix::fs::symlink(&target, &p).unwrap();
        write_atomic(&p, b"report").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert!(!fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&p).unwrap(), b"report");
    }

    #[test]
    fn temp_files_never_open_a_planted_name() {
        let outside = tempfile::tempdir().unwrap();
        let target = victim(outside.path());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("qualifications.csv");
        // The name older builds used: guessable from the pid in the lock file.
        let old = dir
            .path()
            .join(format!(".qualifications.csv.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&target, &old).unwrap();
        for _ in 0..3 {
            write_atomic(&p, b"report").unwrap();
        }
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert!(fs::symlink_metadata(&old).unwrap().file_type().is_symlink());
        // Only the report and the planted link: no temp file is left.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_replaced_file_gets_the_mode_file_create_gives() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        File::create(&plain).unwrap();
        let replaced = dir.path().join("replaced");
        write_atomic(&replaced, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&replaced), mode(&plain));
    }

    #[test]
    fn a_lock_file_that_is_a_link_or_not_a_file_is_refused_untouched() {
        let outside = tempfile::tempdir().unwrap();
        let target = victim(outside.path());
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(LOCK_FILE);

        std::os::unix::fs::symlink(&target, &lock).unwrap();
        let err = lock_folder(dir.path()).unwrap_err();
        assert!(
            matches!(err, LockError::Unsafe(OpenError::Symlink { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains(LOCK_FILE), "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"precious");

        // A hard link (same filesystem) would be written in place.
        fs::remove_file(&lock).unwrap();
        let inside = victim(dir.path());
        fs::hard_link(&inside, &lock).unwrap();
        let err = lock_folder(dir.path()).unwrap_err();
        assert!(
            matches!(err, LockError::Unsafe(OpenError::NotPlain { .. })),
            "{err:?}"
        );
        assert_eq!(fs::read(&inside).unwrap(), b"precious");

        // A FIFO neither hangs the open nor is taken for a lock file.
        fs::remove_file(&lock).unwrap();
        let c = std::ffi::CString::new(lock.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            lock_folder(dir.path()).unwrap_err(),
            LockError::Unsafe(OpenError::NotPlain { .. })
        ));
    }

    #[test]
    fn refuse_link_allows_a_file_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        refuse_link(&p).unwrap();
        fs::write(&p, b"x").unwrap();
        refuse_link(&p).unwrap();
        fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink("/nonexistent", &p).unwrap();
        assert!(matches!(refuse_link(&p), Err(OpenError::Symlink { .. })));
        fs::remove_file(&p).unwrap();
        fs::create_dir(&p).unwrap();
        assert!(matches!(refuse_link(&p), Err(OpenError::NotPlain { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_credential_file_keeps_its_mode_and_leaves_no_temp_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("refresh-token");
        fs::write(&p, "old\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        replace_keeping_permissions(&p, b"new\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new\n");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // A missing file is an error, not a new world-readable file.
        assert!(replace_keeping_permissions(&dir.path().join("gone"), b"x").is_err());
    }
}
