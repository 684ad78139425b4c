//! supervise's sd_notify socket (`notify-socket`): READY=1 from the service is its
//! readiness, STATUS= is kept, and datagrams from anyone else are ignored.

mod common;
use common::*;
use std::path::Path;

/// A tiny sd_notify client, as libsystemd's: NOTIFY_SOCKET's leading `@` means the
/// abstract namespace. Sends its arguments, a line each, in one datagram; with `-s` it
/// then stays (as a daemon does, so its sender is still there to be checked).
const CLIENT: &str = r#"
import os, socket, sys, time
args = sys.argv[1:]
stay = args[:1] == ["-s"]
if stay:
    args = args[1:]
a = os.environ["NOTIFY_SOCKET"]
if a.startswith("@"):
    a = "\0" + a[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(a)
s.send("\n".join(args).encode())
while stay:
    time.sleep(1000)
"#;

/// A service that says where its socket is, waits for `go`, then runs the client with
/// `args` (as its own process: run execs it).
fn notify_service(dir: &Path, args: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("client.py"), CLIENT).unwrap();
    let s = service(
        dir,
        &format!(
            "echo \"$NOTIFY_SOCKET\" > addr.new && mv addr.new addr\n\
             while [ ! -e go ]; do sleep 0.02; done\n\
             exec python3 client.py {args}"
        ),
    );
    std::fs::write(s.join("notify-socket"), "").unwrap();
    s
}

fn notify_status(s: &Path) -> String {
    std::fs::read_to_string(s.join("supervise/notify-status")).unwrap_or_default()
}

#[test]
fn ready_1_makes_the_service_ready() {
    let t = TempDir::new("sdnotify");
    let s = notify_service(&t.join("s"), "-s STATUS=serving READY=1");
    script(
        &s.join("notify"),
        "echo \"$2 ${NOTIFY_SOCKET-none}\" >> events",
    );
    let _p = Proc::supervise(&s);
    // Up is said before run starts: wait for run to have written its socket's address.
    must("up, not ready", || {
        svstat(&s).ends_with(" seconds, not ready") && s.join("addr").exists()
    });
    let addr = std::fs::read_to_string(s.join("addr")).unwrap();
    assert!(addr.starts_with("@svkit-notify/"), "{addr}");
    // Not ready before the datagram.
    let mut w = Proc::spawn(cmd("svwait").arg("-U").arg(&s));
    assert_eq!(out(cmd("svwait").args(["-U", "-t", "200ms"]).arg(&s)).0, 1);
    assert_eq!(w.child.try_wait().unwrap(), None);
    std::fs::write(s.join("go"), "").unwrap();
    assert_eq!(w.wait_exit(), Some(0));
    assert!(svstat(&s).contains(" seconds, ready "), "{}", svstat(&s));
    let (_, json, _) = out(cmd("svstat").arg("-j").arg(&s));
    assert!(json.contains("\"ready\":true"), "{json}");
    must("notify told ready", || {
        lines(&s.join("events")).contains(&"ready none".to_string())
    });
    // Only run gets the socket: notify does not.
    assert!(
        lines(&s.join("events"))
            .iter()
            .all(|l| l.ends_with(" none")),
        "{:?}",
        lines(&s.join("events"))
    );
    assert_eq!(notify_status(&s), "serving\n");
}

#[test]
fn datagrams_from_outside_the_service_are_ignored() {
    let t = TempDir::new("sdnotifyforeign");
    let s = notify_service(&t.join("s"), "-s STATUS=mine");
    let _p = Proc::supervise(&s);
    must("addr", || s.join("addr").exists());
    let addr = std::fs::read_to_string(s.join("addr")).unwrap();
    let name = addr
        .trim_end()
        .strip_prefix('@')
        .unwrap()
        .as_bytes()
        .to_vec();

    // Root, alive, but not in the service's session.
    {
        use std::os::linux::net::SocketAddrExt;
        let to = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let u = std::os::unix::net::UnixDatagram::unbound().unwrap();
        u.send_to_addr(b"READY=1\nSTATUS=root outside", &to)
            .unwrap();
    }
    // Another account, gone by the time its datagram is read (or not: either way).
    let user = User::new("sdn");
    let (code, _, err) = out(cmd("setuidgid")
        .arg(&user.name)
        .args(["python3", "-c", CLIENT, "READY=1", "STATUS=other account"])
        .env("NOTIFY_SOCKET", addr.trim_end()));
    assert_eq!(code, 0, "{err}");

    // The service's own datagram comes after them: once it is read, so were they.
    std::fs::write(s.join("go"), "").unwrap();
    must("the service's status", || notify_status(&s) == "mine\n");
    assert!(
        svstat(&s).ends_with(" seconds, not ready"),
        "{}",
        svstat(&s)
    );
    assert_eq!(out(cmd("svwait").args(["-U", "-t", "100ms"]).arg(&s)).0, 1);
}

#[test]
fn a_restart_forgets_the_last_runs_status_and_readiness() {
    let t = TempDir::new("sdnotifyrestart");
    let s = notify_service(&t.join("s"), "-s STATUS=up READY=1");
    std::fs::write(s.join("go"), "").unwrap();
    let _p = Proc::supervise(&s);
    must("ready", || svstat(&s).contains(" seconds, ready "));
    assert_eq!(notify_status(&s), "up\n");
    let first = status_pid(&s);
    // The next run waits for go again, and has said nothing yet.
    std::fs::remove_file(s.join("go")).unwrap();
    svc("-k", &s);
    must("restarted, not ready", || {
        let p = status_pid(&s);
        p != 0 && p != first && svstat(&s).ends_with(" seconds, not ready")
    });
    assert_eq!(notify_status(&s), "");
}

#[test]
fn a_service_that_runs_as_another_account_can_say_ready() {
    let t = TempDir::new("sdnotifyuser");
    let user = User::new("sdu");
    let s = notify_service(&t.join("s"), "");
    // root reads the client, the account runs it: its directory need not be reachable.
    script(
        &s.join("run"),
        &format!(
            "exec {} {} python3 -c \"$(cat client.py)\" -s READY=1",
            bin("setuidgid"),
            user.name
        ),
    );
    let _p = Proc::supervise(&s);
    must("ready", || svstat(&s).contains(" seconds, ready "));
    let pid = status_pid(&s);
    let uid = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        uid.lines()
            .any(|l| l.starts_with("Uid:") && !l.contains("\t0\t")),
        "{uid}"
    );
}

/// A throwaway account, removed on drop.
struct User {
    name: String,
}

impl User {
    fn new(tag: &str) -> User {
        let name = format!("svk{tag}{}", std::process::id());
        // useradd fails while another one holds /etc/passwd's lock: try again.
        let made = wait_for(DEADLINE, || {
            run(std::process::Command::new("useradd")
                .args(["-M", "-N", "-s", "/bin/false"])
                .arg(&name))
            .status
            .success()
        });
        assert!(made, "useradd {name}");
        User { name }
    }
}

impl Drop for User {
    fn drop(&mut self) {
        wait_for(DEADLINE, || {
            run(std::process::Command::new("userdel").arg(&self.name))
                .status
                .success()
        });
    }
}
