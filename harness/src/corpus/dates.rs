//! Message dates: spread over the years before a fixed anchor (never "now", so corpora are
//! reproducible), more recent mail more frequent, office hours more frequent than nights, and
//! time zones varied. Every date is at a whole second.

use chrono::{DateTime, Days, Duration, FixedOffset, NaiveDate, NaiveTime};
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;

use super::layout::FolderKind;

/// The day after the newest possible message; dates fall at least two days before it, so that
/// no time zone puts a message after it.
pub(super) const ANCHOR: NaiveDate = match NaiveDate::from_ymd_opt(2025, 7, 1) {
    Some(date) => date,
    None => panic!("valid date"),
};

/// Time zone offsets in minutes east of UTC, repeated by how common they are.
const OFFSETS: &[i32] = &[
    0, 0, 0, 60, 60, 60, 60, 120, 120, 120, -300, -300, -300, -240, -480, -480, -420, 330, 330,
    480, 540, 600, -180, 345, 210,
];

/// Relative frequency of each local hour of the day.
const HOURS: [u32; 24] = [
    1, 1, 1, 1, 1, 2, 4, 8, 14, 16, 16, 14, 10, 13, 15, 15, 13, 10, 7, 6, 5, 4, 3, 2,
];

/// A time zone offset, chosen by how common it is.
pub(super) fn offset(rng: &mut ChaCha8Rng) -> FixedOffset {
    let minutes = OFFSETS[rng.random_range(0..OFFSETS.len())];
    FixedOffset::east_opt(minutes * 60).expect("offsets are within a day")
}

/// A date for a message in a folder of `kind`, with a mailbox spanning `years`, at `offset`.
///
/// Most folders spread mail over `years` with a density falling linearly with age (the newest
/// day twice as likely as the average); Junk holds the last 30 days and Trash the last 120;
/// `Archive/<year>` holds that calendar year.
pub(super) fn sample(
    rng: &mut ChaCha8Rng,
    kind: FolderKind,
    years: u32,
    offset: FixedOffset,
) -> DateTime<FixedOffset> {
    let span_days = (f64::from(years.max(1)) * 365.2425) as u64;
    let day = match kind {
        FolderKind::ArchiveYear(year) => {
            let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("valid year");
            let days = if NaiveDate::from_ymd_opt(year, 2, 29).is_some() {
                366
            } else {
                365
            };
            first + Days::new(rng.random_range(0..days))
        }
        _ => {
            let age = match kind {
                FolderKind::Junk => rng.random_range(0..span_days.min(30)),
                FolderKind::Trash => rng.random_range(0..span_days.min(120)),
                _ => {
                    let u: f64 = rng.random();
                    ((1.0 - (1.0 - u).sqrt()) * span_days as f64) as u64
                }
            };
            ANCHOR - Days::new(2 + age)
        }
    };
    let bits = rng.next_u64();
    let mut pick = (bits % u64::from(HOURS.iter().sum::<u32>())) as u32;
    let mut hour = 0;
    while pick >= HOURS[hour] {
        pick -= HOURS[hour];
        hour += 1;
    }
    let second_of_hour = ((bits >> 32) % 3600) as u32;
    let time = NaiveTime::from_hms_opt(hour as u32, second_of_hour / 60, second_of_hour % 60)
        .expect("valid time");
    let utc = day.and_time(time) - Duration::seconds(i64::from(offset.local_minus_utc()));
    DateTime::from_naive_utc_and_offset(utc, offset)
}

/// Whole days between `date` and the anchor.
pub(super) fn age_days(date: &DateTime<FixedOffset>) -> i64 {
    (ANCHOR - date.date_naive()).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};
    use rand::SeedableRng;

    #[test]
    fn dates_fall_in_their_window_with_recent_mail_more_frequent() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let anchor = ANCHOR.and_hms_opt(0, 0, 0).unwrap().and_utc();
        let (mut newer, mut older) = (0, 0);
        for _ in 0..10_000 {
            let off = offset(&mut rng);
            let date = sample(&mut rng, FolderKind::Inbox, 5, off);
            assert!(date < anchor && date.year() >= 2020, "{date}");
            assert_eq!(date.nanosecond(), 0);
            if age_days(&date) < 365 * 5 / 2 {
                newer += 1;
            } else {
                older += 1;
            }
            let archived = sample(&mut rng, FolderKind::ArchiveYear(2023), 5, off);
            assert_eq!(archived.year(), 2023);
            assert!(age_days(&sample(&mut rng, FolderKind::Junk, 5, off)) <= 33);
        }
        assert!(newer > older * 2, "{newer} newer vs {older} older");
    }
}
