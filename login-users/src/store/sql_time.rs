//! Timestamps as FastAPI Users' tables keep them: UTC, to the microsecond. PostgreSQL binds them
//! as microseconds; SQLite stores text as SQLAlchemy writes a `DateTime` (`time` formats and
//! parses it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// `t` truncated to whole microseconds, the precision both databases keep.
pub(crate) fn to_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// The time `micros` microseconds after (or before) 1970-01-01 UTC.
pub(crate) fn from_micros(micros: i64) -> SystemTime {
    let magnitude = Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// SQLAlchemy's `DateTime` on SQLite: `YYYY-MM-DD HH:MM:SS.ffffff`, no offset.
const WRITTEN: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]");

/// What is read: also with a `T`, fewer fraction digits or none, and a `Z` / `+00:00` / `+00`
/// suffix (every form Python's `datetime.isoformat` and SQLite's own functions write).
const READ: &[BorrowedFormatItem<'_>] = format_description!(
    version = 2,
    "[year]-[month]-[day][first [ ] [T]][hour]:[minute]:[second][optional [.[subsecond]]][optional [[first [Z] [+00:00] [+00]]]]"
);

/// A timestamp out of [`sql_timestamp`]'s range, as a store error.
pub(crate) fn out_of_range(t: SystemTime) -> crate::store::StoreError {
    crate::store::StoreError::Backend(format!("{t:?} is out of the database's timestamp range").into())
}

/// UTC as SQLAlchemy writes a `DateTime` to SQLite (`1970-01-01 00:00:00.000000`), truncated to
/// the microsecond. Years outside 0000–9999 cannot be written that way and give `None`.
pub(crate) fn sql_timestamp(t: SystemTime) -> Option<String> {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(to_micros(t)) * 1000).ok()?;
    (0..=9999)
        .contains(&at.year())
        .then(|| at.format(WRITTEN).ok())
        .flatten()
}

/// Reads [`sql_timestamp`]'s format and the variants of [`READ`], as UTC.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn parse_sql_timestamp(text: &str) -> Option<SystemTime> {
    let at = PrimitiveDateTime::parse(text.trim(), READ).ok()?.assume_utc();
    let micros = at.unix_timestamp_nanos().div_euclid(1000);
    Some(from_micros(i64::try_from(micros).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_and_read_as_sqlalchemy_does() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_899_595_114_390);
        assert_eq!(sql_timestamp(t).as_deref(), Some("2026-11-28 20:59:55.114390"));
        assert_eq!(parse_sql_timestamp("2026-11-28 20:59:55.114390"), Some(t));
        assert_eq!(parse_sql_timestamp("2026-11-28T20:59:55.114390+00:00"), Some(t));
        assert_eq!(parse_sql_timestamp("2026-11-28T20:59:55.114390Z"), Some(t));
        assert_eq!(parse_sql_timestamp("2026-11-28 20:59:55.114390+00"), Some(t));
        assert_eq!(
            parse_sql_timestamp("2026-11-28 20:59:55"),
            Some(UNIX_EPOCH + Duration::from_secs(1_795_899_595))
        );
        assert_eq!(
            parse_sql_timestamp("2026-11-28 20:59:55.5"),
            Some(UNIX_EPOCH + Duration::from_millis(1_795_899_595_500))
        );
        assert_eq!(
            sql_timestamp(UNIX_EPOCH).as_deref(),
            Some("1970-01-01 00:00:00.000000")
        );
        assert_eq!(
            sql_timestamp(from_micros(951_782_400_000_000)).as_deref(),
            Some("2000-02-29 00:00:00.000000")
        );
        for micros in [
            0,
            1,
            951_782_399_999_999,
            4_102_444_800_000_000,
            1_795_899_595_114_390,
            -1,
        ] {
            let t = from_micros(micros);
            let written = sql_timestamp(t).expect("in range");
            assert_eq!(parse_sql_timestamp(&written), Some(t), "{micros}");
        }
        assert_eq!(sql_timestamp(from_micros(i64::MAX)), None);
        for bad in [
            "",
            "2026-11-28",
            "2026-13-01 00:00:00",
            "2026-02-30 00:00:00",
            "2026-11-28 20:59:55.",
            "2026-11-28 20:59:55+01:00",
            "20261128 205955.1",
        ] {
            assert_eq!(parse_sql_timestamp(bad), None, "{bad}");
        }
    }
}
