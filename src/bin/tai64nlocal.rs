//! tai64nlocal: turn TAI64N labels at the start of lines into local time.

pub fn main() {
    svkit::cli::run_filter("tai64nlocal", svkit::log::timestamp::localize_lines);
}
