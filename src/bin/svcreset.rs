//! svcreset [-q|--json] [-t timeout] ... service ...: see man/svcreset.8.

pub fn main() {
    svkit::cli::admin::main(svkit::admin::Verb::Reset)
}
