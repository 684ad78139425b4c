//! svcstop [-q|--json] [-t timeout] ... service ...: see man/svcstop.8.

pub fn main() {
    svkit::cli::admin::main(svkit::admin::Verb::Stop)
}
