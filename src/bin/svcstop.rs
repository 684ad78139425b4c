//! svcstop [-q|--json] [-t timeout] ... service ...: see man/svcstop.8.

fn main() {
    svkit::cli::admin::main(svkit::admin::Action::Stop)
}
