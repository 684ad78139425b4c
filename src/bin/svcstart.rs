//! svcstart [-q|--json] [-t timeout] ... service ...: see man/svcstart.8.

pub fn main() {
    svkit::cli::admin::main(svkit::admin::Verb::Start)
}
