//! svcrestart [-q|--json] [-t timeout] ... service ...: see man/svcrestart.8.

fn main() {
    svkit::cli::admin::main(svkit::admin::Action::Restart)
}
