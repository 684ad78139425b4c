//! svcstart [-q|--json] [-t timeout] ... service ...: see man/svcstart.8.

fn main() {
    svkit::cli::admin::main(svkit::admin::Action::Start)
}
