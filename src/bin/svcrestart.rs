//! svcrestart [-q|--json] [-t timeout] ... service ...: see man/svcrestart.8.

pub fn main() {
    svkit::cli::admin::main(svkit::admin::Verb::Restart)
}
