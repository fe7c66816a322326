//! How the core writes durations for people.

/// Formats seconds as `m:ss`, or `h:mm:ss` from an hour on.
pub fn mmss(seconds: u64) -> String {
    let (hours, minutes, seconds) = (seconds / 3_600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}
