//! tai64n: put a TAI64N timestamp in front of each line.

pub fn main() {
    svkit::cli::run_filter("tai64n", svkit::log::timestamp::label_lines);
}
