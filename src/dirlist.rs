//! Listing a directory open at a descriptor: getdents64 into a buffer on the stack.
//! opendir's 32 kB buffer would stay a heap high-water mark in every process that lists
//! (svscan at each scan, supervise at each status change, SWOC's waiters).

use nix::errno::Errno;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

/// The names in the directory open at `dir` (from its start, whatever was read of it
/// before), but `.` and `..`, each with its d_type (`libc::DT_*`; DT_UNKNOWN where the
/// file system does not tell), each once.
///
/// One getdents64 call is a snapshot (the kernel lists under the directory's lock,
/// which a rename takes too); across calls, a file renamed meanwhile may be listed twice
/// or not at all. So a directory that does not fit the 1 kB on the stack is read again
/// whole into a heap buffer large enough for one call (SWOC counts locks by listing
/// while other clients rename theirs in); past 4 MB it is read in pieces, the names
/// made unique.
pub fn names_at(dir: BorrowedFd<'_>) -> Result<Vec<(OsString, u8)>, Errno> {
    // linux_dirent64 records are 8-byte aligned.
    #[repr(align(8))]
    struct Records([u8; 1024]);
    let mut stack = Records([0; 1024]);
    let mut heap: Vec<u8> = Vec::new();
    loop {
        let buf: &mut [u8] = if heap.is_empty() {
            &mut stack.0
        } else {
            &mut heap
        };
        nix::unistd::lseek(dir, 0, nix::unistd::Whence::SeekSet)?;
        let mut names = Vec::new();
        let mut reads = 0;
        loop {
            let n = getdents(dir, buf)?;
            if n == 0 {
                break;
            }
            reads += 1;
            if reads == 2 && buf.len() < MAX_BUFFER {
                break;
            }
            let listed = dirents(&buf[..n]).filter(|(name, _)| *name != b"." && *name != b"..");
            names.extend(
                listed.map(|(name, d_type)| {
                    (std::ffi::OsStr::from_bytes(name).to_os_string(), d_type)
                }),
            );
        }
        if reads < 2 || buf.len() >= MAX_BUFFER {
            if reads > 1 {
                names.sort();
                names.dedup_by(|a, b| a.0 == b.0);
            }
            return Ok(names);
        }
        heap = vec![0; (buf.len() * 16).min(MAX_BUFFER)];
    }
}

/// The largest buffer a directory is read into in one call.
const MAX_BUFFER: usize = 4 << 20;

/// One getdents64 call into `buf`: the bytes it filled, 0 at the end.
fn getdents(dir: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: getdents64 writes at most the buffer's length in bytes into it.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        match usize::try_from(n) {
            Ok(n) => return Ok(n.min(buf.len())),
            Err(_) if Errno::last() == Errno::EINTR => continue,
            Err(_) => return Err(Errno::last()),
        }
    }
}

/// The names and types in a getdents64 result: records of d_ino (8 bytes), d_off (8),
/// d_reclen (2), d_type (1) and a NUL-terminated d_name.
fn dirents(mut records: &[u8]) -> impl Iterator<Item = (&[u8], u8)> {
    std::iter::from_fn(move || {
        let reclen = usize::from(u16::from_ne_bytes(records.get(16..18)?.try_into().ok()?));
        let record = records.get(..reclen.max(19))?;
        records = &records[record.len()..];
        let name = &record[19..];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        Some((name, record[18]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;
    use std::os::fd::AsFd;

    #[test]
    fn every_name_over_several_reads_with_its_type_and_again_from_the_start() {
        let dir = std::env::temp_dir().join(format!("svkit-dirlist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        // More names than one 1 kB getdents64 buffer holds, one not UTF-8.
        let mut want: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("waiter-{i:04}").into_bytes())
            .collect();
        want.push(b"caf\xe9".to_vec());
        for n in &want {
            std::fs::write(dir.join(std::ffi::OsStr::from_bytes(n)), "").unwrap();
        }
        std::fs::create_dir(dir.join("sub")).unwrap();
        want.push(b"sub".to_vec());
        let fd = open(&dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        for _ in 0..2 {
            let listed = names_at(fd.as_fd()).unwrap();
            let mut got: Vec<Vec<u8>> = listed.iter().map(|(n, _)| n.as_bytes().to_vec()).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want);
            for (name, d_type) in &listed {
                let dir_type = *d_type == libc::DT_DIR;
                assert!(*d_type == libc::DT_UNKNOWN || dir_type == (name == "sub"));
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_short_or_cut_record_ends_the_list() {
        assert_eq!(dirents(&[0; 10]).count(), 0);
        let mut rec = vec![0u8; 24];
        rec[16..18].copy_from_slice(&24u16.to_ne_bytes());
        rec[18] = libc::DT_REG;
        rec[19..22].copy_from_slice(b"abc");
        let got: Vec<_> = dirents(&rec).collect();
        assert_eq!(got, vec![(&b"abc"[..], libc::DT_REG)]);
        // A record that claims more than there is.
        rec[16..18].copy_from_slice(&64u16.to_ne_bytes());
        assert_eq!(dirents(&rec).count(), 0);
    }
}
