//! svcstop [-q|--json] [-t timeout] ... service ...: see man/svcstop.8.

fn main() {
    svkit::admin::main(svkit::admin::Action::Stop)
}
