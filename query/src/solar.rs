//! Sunrise and sunset at a station, for the sunset-to-sunrise "night" of the heat-island
//! analytics (`night` owns the nights and the SQL functions; this module owns the astronomy).
//!
//! The equations are NOAA's "General Solar Position Calculations" (NOAA Global Monitoring
//! Laboratory, the simplified form of the NOAA Solar Calculator): the fractional year γ, the
//! equation of time, the solar declination, and the sunrise/sunset hour angle for the zenith
//! 90.833° (0.833° for atmospheric refraction and the solar radius). Longitudes are degrees
//! east (west negative), latitudes degrees north; all times are UTC.
//!
//! NOAA evaluates γ for one time of the day. Here the equations are first evaluated at the
//! station's mean solar noon (which also decides whether the sun rises or sets at all that day),
//! then twice more at the event time itself, which removes most of the error due to the
//! declination changing during the day (up to ~0.4° a day near the equinoxes). The result agrees
//! with the NOAA Solar Calculator to about a minute at mid latitudes.
//!
//! "The sunrise/sunset of date D" is the one of the solar day whose mean solar noon is
//! `12:00 UTC − 4 min × longitude` on D. For stations in Europe it falls on UTC date D; for
//! longitudes near ±180° it can fall a few hours into the neighbouring UTC date.

use chrono::{Datelike, NaiveDate};
use std::f64::consts::PI;

/// Zenith angle of the sun's centre at sunrise and sunset, degrees (NOAA: 90° + 0.833° for
/// refraction at the horizon and the apparent solar radius).
pub const SUNRISE_SUNSET_ZENITH_DEG: f64 = 90.833;

pub const MS_PER_DAY: i64 = 86_400_000;

/// Days from 0001-01-01 (chrono's "days from CE", day 1) to 1970-01-01.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Sunrise or sunset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SunEvent {
    Sunrise,
    Sunset,
}

/// The sunrise/sunset hour angle on a day, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HourAngle {
    /// Degrees, in [0, 180]: sunrise is this far before solar noon (4 min per degree), sunset
    /// this far after.
    Degrees(f64),
    /// Polar night: the sun stays below the horizon all day.
    SunNeverRises,
    /// Polar day (midnight sun): the sun stays above the horizon all day.
    SunNeverSets,
}

fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// NOAA fractional year γ, radians: `2π/365 · (day_of_year − 1 + (hour − 12)/24)` (366 in leap
/// years). `hour_utc` may lie outside 0..24 (the formula is continuous).
pub fn fractional_year_rad(date: NaiveDate, hour_utc: f64) -> f64 {
    let days_in_year = if is_leap_year(date.year()) { 366.0 } else { 365.0 };
    2.0 * PI / days_in_year * (f64::from(date.ordinal()) - 1.0 + (hour_utc - 12.0) / 24.0)
}

/// NOAA equation of time, minutes (apparent minus mean solar time), for the fractional year γ.
pub fn equation_of_time_min(gamma: f64) -> f64 {
    229.18
        * (0.000075 + 0.001868 * gamma.cos()
            - 0.032077 * gamma.sin()
            - 0.014615 * (2.0 * gamma).cos()
            - 0.040849 * (2.0 * gamma).sin())
}

/// NOAA solar declination, radians, for the fractional year γ.
pub fn declination_rad(gamma: f64) -> f64 {
    0.006918 - 0.399912 * gamma.cos() + 0.070257 * gamma.sin() - 0.006758 * (2.0 * gamma).cos()
        + 0.000907 * (2.0 * gamma).sin()
        - 0.002697 * (3.0 * gamma).cos()
        + 0.00148 * (3.0 * gamma).sin()
}

/// `cos(ha) = cos(90.833°) / (cos φ · cos δ) − tan φ · tan δ` (NaN for NaN inputs).
fn cos_sunrise_hour_angle(lat_deg: f64, decl_rad: f64) -> f64 {
    let lat = lat_deg.to_radians();
    SUNRISE_SUNSET_ZENITH_DEG.to_radians().cos() / (lat.cos() * decl_rad.cos()) - lat.tan() * decl_rad.tan()
}

/// NOAA sunrise/sunset hour angle at latitude `lat_deg` for the declination `decl_rad`.
/// `None` for a NaN input.
pub fn sunrise_hour_angle(lat_deg: f64, decl_rad: f64) -> Option<HourAngle> {
    let c = cos_sunrise_hour_angle(lat_deg, decl_rad);
    if c.is_nan() {
        None
    } else if c > 1.0 {
        Some(HourAngle::SunNeverRises)
    } else if c < -1.0 {
        Some(HourAngle::SunNeverSets)
    } else {
        Some(HourAngle::Degrees(c.acos().to_degrees()))
    }
}

fn valid_position(lat_deg: f64, lon_deg: f64) -> bool {
    (-90.0..=90.0).contains(&lat_deg) && (-180.0..=180.0).contains(&lon_deg)
}

/// Minutes after 00:00 UTC of `date` at which `event` happens at (`lat_deg`, `lon_deg`):
/// `720 − 4·(lon ± ha) − eqtime` (+ha for sunrise, −ha for sunset). May be negative or above
/// 1440 far from the Greenwich meridian (see the module doc). `None` when the sun does not rise
/// or set that day (polar night or polar day), or for a position outside ±90° / ±180° or NaN.
pub fn sun_event_minutes_utc(date: NaiveDate, lat_deg: f64, lon_deg: f64, event: SunEvent) -> Option<f64> {
    if !valid_position(lat_deg, lon_deg) {
        return None;
    }
    let sign = match event {
        SunEvent::Sunrise => 1.0,
        SunEvent::Sunset => -1.0,
    };
    let at = |gamma: f64, ha_deg: f64| 720.0 - 4.0 * (lon_deg + sign * ha_deg) - equation_of_time_min(gamma);
    // Whether there is a sunrise/sunset at all is decided at the mean solar noon.
    let noon_hour = (720.0 - 4.0 * lon_deg) / 60.0;
    let gamma = fractional_year_rad(date, noon_hour);
    let HourAngle::Degrees(ha) = sunrise_hour_angle(lat_deg, declination_rad(gamma))? else {
        return None;
    };
    let mut minutes = at(gamma, ha);
    // Refine at the event time. Near the first/last day of polar night or day the refined
    // declination can put the sun just out of reach: clamp (sunrise at solar noon or midnight).
    for _ in 0..2 {
        let gamma = fractional_year_rad(date, minutes / 60.0);
        let ha = cos_sunrise_hour_angle(lat_deg, declination_rad(gamma)).clamp(-1.0, 1.0).acos().to_degrees();
        minutes = at(gamma, ha);
    }
    minutes.is_finite().then_some(minutes)
}

/// `date` as days since 1970-01-01 (Arrow `Date32`).
pub fn days_since_epoch(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - EPOCH_DAYS_FROM_CE
}

/// The date `days` days after 1970-01-01 (Arrow `Date32`), if chrono can represent it.
pub fn date_from_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(EPOCH_DAYS_FROM_CE)?)
}

/// Unix milliseconds (UTC) of `event` on the date `days` (days since 1970-01-01).
/// `None` when the sun does not rise/set that day or the position is invalid.
pub fn sun_event_ms(days: i32, lat_deg: f64, lon_deg: f64, event: SunEvent) -> Option<i64> {
    let minutes = sun_event_minutes_utc(date_from_days(days)?, lat_deg, lon_deg, event)?;
    Some(i64::from(days) * MS_PER_DAY + (minutes * 60_000.0).round() as i64)
}

/// Sunrise (Unix ms, UTC) on the date `days` (days since 1970-01-01); see [`sun_event_ms`].
pub fn sunrise_ms(days: i32, lat_deg: f64, lon_deg: f64) -> Option<i64> {
    sun_event_ms(days, lat_deg, lon_deg, SunEvent::Sunrise)
}

/// Sunset (Unix ms, UTC) on the date `days` (days since 1970-01-01); see [`sun_event_ms`].
pub fn sunset_ms(days: i32, lat_deg: f64, lon_deg: f64) -> Option<i64> {
    sun_event_ms(days, lat_deg, lon_deg, SunEvent::Sunset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tolerance against published times (NOAA Solar Calculator / timeanddate.com, rounded to
    /// the minute): ±3 min.
    const TOLERANCE_MIN: f64 = 3.0;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn assert_near(date: NaiveDate, lat: f64, lon: f64, event: SunEvent, hh: u32, mm: u32) {
        let got = sun_event_minutes_utc(date, lat, lon, event).expect("an event");
        let want = f64::from(hh * 60 + mm);
        assert!(
            (got - want).abs() <= TOLERANCE_MIN,
            "{event:?} {date} at ({lat}, {lon}): got {:02}:{:05.2} UTC, want {hh:02}:{mm:02}",
            (got / 60.0).floor(),
            got % 60.0
        );
    }

    #[test]
    fn paris_at_the_june_solstice() {
        // Paris 2025-06-21: sunrise 05:47 CEST, sunset 21:58 CEST.
        let d = day(2025, 6, 21);
        assert_near(d, 48.8566, 2.3522, SunEvent::Sunrise, 3, 47);
        assert_near(d, 48.8566, 2.3522, SunEvent::Sunset, 19, 58);
    }

    #[test]
    fn toulouse_at_the_december_solstice() {
        // Toulouse 2025-12-21: sunrise ≈ 08:24 CET, sunset ≈ 17:20 CET (NOAA equations: 07:23.9
        // and 16:20.1 UTC). Sunrise and sunset are symmetric about solar noon, here
        // 12:00 − 4 min × 1.444 − eqtime (+1.6 min) ≈ 11:52 UTC; a pair such as 07:40/16:27
        // (midpoint 12:03:30 UTC) cannot be right for a station east of Greenwich.
        let d = day(2025, 12, 21);
        assert_near(d, 43.6045, 1.4440, SunEvent::Sunrise, 7, 24);
        assert_near(d, 43.6045, 1.4440, SunEvent::Sunset, 16, 20);
        let rise = sun_event_minutes_utc(d, 43.6045, 1.4440, SunEvent::Sunrise).unwrap();
        let set = sun_event_minutes_utc(d, 43.6045, 1.4440, SunEvent::Sunset).unwrap();
        let noon = 720.0 - 4.0 * 1.4440 - equation_of_time_min(fractional_year_rad(d, 11.9));
        assert!(((rise + set) / 2.0 - noon).abs() < 0.5, "midpoint {} vs solar noon {noon}", (rise + set) / 2.0);
    }

    #[test]
    fn equator_at_the_march_equinox() {
        // At the equator on Greenwich, day and night are ~12 h 07 min / 11 h 53 min (refraction
        // and the solar radius), centred on solar noon 12:07 UTC (equation of time ≈ −7.5 min).
        let d = day(2025, 3, 20);
        let rise = sun_event_minutes_utc(d, 0.0, 0.0, SunEvent::Sunrise).unwrap();
        let set = sun_event_minutes_utc(d, 0.0, 0.0, SunEvent::Sunset).unwrap();
        assert!((6.0 * 60.0..6.0 * 60.0 + 10.0).contains(&rise), "sunrise {rise} min");
        assert!((18.0 * 60.0..18.0 * 60.0 + 15.0).contains(&set), "sunset {set} min");
        assert_near(d, 0.0, 0.0, SunEvent::Sunrise, 6, 4);
        assert_near(d, 0.0, 0.0, SunEvent::Sunset, 18, 11);
    }

    #[test]
    fn the_equations_match_noaa_reference_values() {
        // NOAA's own formulas at γ = 0 (1 January, 12:00): eqtime = 229.18 · (0.000075 +
        // 0.001868 − 0.014615) min, δ = 0.006918 − 0.399912 − 0.006758 − 0.002697 rad.
        assert!((equation_of_time_min(0.0) - 229.18 * (0.000075 + 0.001868 - 0.014615)).abs() < 1e-12);
        assert!((declination_rad(0.0) - (0.006918 - 0.399912 - 0.006758 - 0.002697)).abs() < 1e-12);
        // About −23.0° at the start of January, +23.4° near the June solstice.
        assert!((declination_rad(0.0).to_degrees() + 23.0).abs() < 0.2);
        let june = fractional_year_rad(day(2025, 6, 21), 12.0);
        assert!((declination_rad(june).to_degrees() - 23.44).abs() < 0.1);
        // Leap years have 366 days.
        let dec31 = fractional_year_rad(day(2024, 12, 31), 12.0);
        assert!((dec31 - 2.0 * PI * 365.0 / 366.0).abs() < 1e-12);
    }

    #[test]
    fn polar_night_and_polar_day_have_no_sunrise_or_sunset() {
        // Svalbard (78° N): polar night in December, midnight sun in June.
        let dec = day(2025, 12, 21);
        let jun = day(2025, 6, 21);
        let gamma = |d| fractional_year_rad(d, 12.0);
        assert_eq!(sunrise_hour_angle(78.0, declination_rad(gamma(dec))), Some(HourAngle::SunNeverRises));
        assert_eq!(sunrise_hour_angle(78.0, declination_rad(gamma(jun))), Some(HourAngle::SunNeverSets));
        for d in [dec, jun] {
            assert_eq!(sun_event_minutes_utc(d, 78.0, 15.6, SunEvent::Sunrise), None);
            assert_eq!(sun_event_minutes_utc(d, 78.0, 15.6, SunEvent::Sunset), None);
        }
        // The South Pole in June (polar night there), the North Pole itself.
        assert_eq!(sun_event_minutes_utc(jun, -90.0, 0.0, SunEvent::Sunset), None);
        assert_eq!(sun_event_minutes_utc(jun, 90.0, 0.0, SunEvent::Sunset), None);
    }

    #[test]
    fn invalid_positions_give_none() {
        let d = day(2025, 6, 21);
        assert_eq!(sun_event_minutes_utc(d, 91.0, 0.0, SunEvent::Sunrise), None);
        assert_eq!(sun_event_minutes_utc(d, 45.0, 181.0, SunEvent::Sunrise), None);
        assert_eq!(sun_event_minutes_utc(d, f64::NAN, 0.0, SunEvent::Sunrise), None);
    }

    #[test]
    fn unix_milliseconds_and_epoch_days() {
        let d = day(2025, 6, 21);
        let days = days_since_epoch(d);
        assert_eq!(days, 20260);
        assert_eq!(date_from_days(days), Some(d));
        assert_eq!(days_since_epoch(day(1970, 1, 1)), 0);
        let rise = sunrise_ms(days, 48.8566, 2.3522).unwrap();
        let set = sunset_ms(days, 48.8566, 2.3522).unwrap();
        let start = i64::from(days) * MS_PER_DAY;
        assert!(rise > start + 3 * 3_600_000 && rise < start + 4 * 3_600_000);
        assert!(set > start + 19 * 3_600_000 && set < start + 20 * 3_600_000);
        assert_eq!(date_from_days(i32::MAX), None);
    }
}
