//! Text forms of the generated values: timestamps, dates, amounts, user ids
//! and the dirty variants of channel names.
//!
//! Hand-rolled rather than `format!`-based because the CSV writer renders
//! tens of millions of fields; every function appends to a byte buffer.

use unicode_normalization::UnicodeNormalization;

use super::catalog::{CHANNEL_COUNT, CHANNELS, ChannelId};
use super::draw::{Event, SECONDS_PER_DAY, UNICODE_TEMPLATE_COUNT};

/// The unicode user-id prefixes; the user's index follows. Each has at least
/// one character whose NFD form differs from its NFC form.
const UNICODE_PREFIXES: [&str; UNICODE_TEMPLATE_COUNT as usize] = ["josé.", "müller_", "東京ガス", "zoë-", "françois"];

/// The number of dirty spellings of each channel name.
pub(crate) const CHANNEL_VARIANT_COUNT: u8 = 4;

/// Strings that need building once per run: the NFC and NFD forms of the
/// unicode prefixes and the dirty spellings of every channel.
#[derive(Debug)]
pub(crate) struct Vocabulary {
    composed_prefixes: Vec<String>,
    decomposed_prefixes: Vec<String>,
    channel_variants: Vec<[String; CHANNEL_VARIANT_COUNT as usize]>,
}

impl Vocabulary {
    /// Builds the strings.
    pub(crate) fn new() -> Self {
        Self {
            composed_prefixes: UNICODE_PREFIXES.iter().map(|prefix| prefix.nfc().collect()).collect(),
            decomposed_prefixes: UNICODE_PREFIXES.iter().map(|prefix| prefix.nfd().collect()).collect(),
            channel_variants: CHANNELS.iter().map(|profile| channel_variants(profile.name)).collect(),
        }
    }

    /// Appends the event's user id. With `unicode` false every user gets the
    /// plain `u` + zero-padded index form.
    pub(crate) fn push_user_id(&self, buffer: &mut Vec<u8>, event: &Event, unicode: bool) {
        if unicode && event.unicode_template != 0 {
            let template = usize::from(event.unicode_template - 1);
            let prefixes = if event.decomposed { &self.decomposed_prefixes } else { &self.composed_prefixes };
            buffer.extend_from_slice(prefixes[template].as_bytes());
            push_number(buffer, u64::from(event.user), 1);
        } else {
            buffer.push(b'u');
            push_number(buffer, u64::from(event.user), 8);
        }
    }

    /// A dirty spelling of a channel that normalises back to its name.
    pub(crate) fn channel_variant(&self, channel: ChannelId, variant: u8) -> &str {
        let variants = &self.channel_variants[usize::from(channel) % CHANNEL_COUNT];
        &variants[usize::from(variant % CHANNEL_VARIANT_COUNT)]
    }
}

/// The dirty spellings of a normalised channel name: ` Paid Search`,
/// `PAID-SEARCH`, `Paid search `, `Paid-Search`.
fn channel_variants(name: &str) -> [String; CHANNEL_VARIANT_COUNT as usize] {
    let words: Vec<&str> = name.split('_').collect();
    let title: Vec<String> = words.iter().map(|word| capitalise(word)).collect();
    let first_capitalised = capitalise(&words.join(" "));
    [format!(" {}", title.join(" ")), words.join("-").to_uppercase(), format!("{first_capitalised} "), title.join("-")]
}

fn capitalise(word: &str) -> String {
    let mut characters = word.chars();
    characters.next().map(|first| first.to_uppercase().chain(characters).collect()).unwrap_or_default()
}

/// Appends `value` in decimal, zero-padded to at least `width` digits.
pub(crate) fn push_number(buffer: &mut Vec<u8>, value: u64, width: usize) {
    let mut digits = [0_u8; 20];
    let mut remaining = value;
    let mut length = 0;
    loop {
        // `remaining % 10` is below 10, so the cast is lossless.
        digits[length] = b'0' + (remaining % 10) as u8;
        length += 1;
        remaining /= 10;
        if remaining == 0 {
            break;
        }
    }
    buffer.extend(std::iter::repeat_n(b'0', width.saturating_sub(length)));
    buffer.extend(digits[..length].iter().rev());
}

/// Appends an amount in cents as `units.cc`, with a leading `-` if negative.
pub(crate) fn push_cents(buffer: &mut Vec<u8>, cents: i64) {
    if cents < 0 {
        buffer.push(b'-');
    }
    let magnitude = cents.unsigned_abs();
    push_number(buffer, magnitude / 100, 1);
    buffer.push(b'.');
    push_number(buffer, magnitude % 100, 2);
}

/// The civil date of a day number (days since 1970-01-01), after Howard
/// Hinnant's `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>).
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Day and month are in 1..=31 and 1..=12 by construction.
    (year, month.unsigned_abs().max(1), day.unsigned_abs().max(1))
}

/// Appends a day number (days since 1970-01-01) as `YYYY-MM-DD`.
pub(crate) fn push_date(buffer: &mut Vec<u8>, days: i64) {
    let (year, month, day) = civil_from_days(days);
    push_number(buffer, year.unsigned_abs(), 4);
    buffer.push(b'-');
    push_number(buffer, month, 2);
    buffer.push(b'-');
    push_number(buffer, day, 2);
}

/// Appends `seconds` (since the epoch) as a date, `separator`, and `HH:MM:SS`.
fn push_date_time(buffer: &mut Vec<u8>, seconds: i64, separator: u8) {
    push_date(buffer, seconds.div_euclid(SECONDS_PER_DAY));
    buffer.push(separator);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY).unsigned_abs();
    push_number(buffer, second_of_day / 3_600, 2);
    buffer.push(b':');
    push_number(buffer, second_of_day / 60 % 60, 2);
    buffer.push(b':');
    push_number(buffer, second_of_day % 60, 2);
}

/// Appends an RFC 3339 UTC timestamp: `2026-01-05T13:45:12Z`.
pub(crate) fn push_timestamp(buffer: &mut Vec<u8>, seconds: i64) {
    push_date_time(buffer, seconds, b'T');
    buffer.push(b'Z');
}

/// The number of valid alternative timestamp spellings.
pub(crate) const TIMESTAMP_VARIANT_COUNT: u8 = 4;

/// Appends the same instant in another valid spelling: a `+01:00` or
/// `-05:00` offset, a naive `YYYY-MM-DD HH:MM:SS` (read as UTC), or
/// fractional seconds.
pub(crate) fn push_timestamp_variant(buffer: &mut Vec<u8>, seconds: i64, variant: u8) {
    match variant % TIMESTAMP_VARIANT_COUNT {
        0 => {
            push_date_time(buffer, seconds + 3_600, b'T');
            buffer.extend_from_slice(b"+01:00");
        }
        1 => {
            push_date_time(buffer, seconds - 5 * 3_600, b'T');
            buffer.extend_from_slice(b"-05:00");
        }
        2 => push_date_time(buffer, seconds, b' '),
        _ => {
            push_date_time(buffer, seconds, b'T');
            buffer.extend_from_slice(b".000Z");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::normalize_channel;
    use crate::event::{EventKind, Stage};

    fn text(render: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut buffer = Vec::new();
        render(&mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }

    #[test]
    fn timestamps_and_dates_match_chrono() {
        for seconds in [0, 1_767_225_600, 1_767_626_712, 1_774_915_199, 951_782_400] {
            let expected =
                chrono::DateTime::from_timestamp(seconds, 0).map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            assert_eq!(Some(text(|buffer| push_timestamp(buffer, seconds))), expected);
        }
        assert_eq!(text(|buffer| push_date(buffer, 20_454)), "2026-01-01");
    }

    #[test]
    fn timestamp_variants_name_the_same_instant() {
        let seconds = 1_767_626_712;
        for variant in 0..TIMESTAMP_VARIANT_COUNT {
            let written = text(|buffer| push_timestamp_variant(buffer, seconds, variant));
            let parsed = chrono::DateTime::parse_from_rfc3339(&written).map(|time| time.timestamp()).or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(&written, "%Y-%m-%d %H:%M:%S")
                    .map(|time| time.and_utc().timestamp())
            });
            assert_eq!(parsed.ok(), Some(seconds), "{written}");
        }
        assert_eq!(text(|buffer| push_timestamp_variant(buffer, seconds, 0)), "2026-01-05T16:25:12+01:00");
    }

    #[test]
    fn amounts_have_two_decimals() {
        assert_eq!(text(|buffer| push_cents(buffer, 6_005)), "60.05");
        assert_eq!(text(|buffer| push_cents(buffer, -1_250)), "-12.50");
        assert_eq!(text(|buffer| push_cents(buffer, 7)), "0.07");
    }

    #[test]
    fn channel_variants_differ_but_normalise_back() {
        let vocabulary = Vocabulary::new();
        for (index, profile) in CHANNELS.iter().enumerate() {
            let channel = ChannelId::try_from(index).unwrap_or(0);
            for variant in 0..CHANNEL_VARIANT_COUNT {
                let spelled = vocabulary.channel_variant(channel, variant);
                assert_ne!(spelled, profile.name);
                assert_eq!(normalize_channel(spelled), profile.name, "{spelled:?}");
            }
        }
        assert_eq!(vocabulary.channel_variant(2, 0), " Paid Search");
        assert_eq!(vocabulary.channel_variant(2, 1), "PAID-SEARCH");
        assert_eq!(vocabulary.channel_variant(4, 2), "Email ");
    }

    #[test]
    fn unicode_ids_differ_in_bytes_but_not_after_nfc() {
        let vocabulary = Vocabulary::new();
        for template in 1..=UNICODE_TEMPLATE_COUNT {
            let mut event = Event {
                time: 0,
                user: 42,
                revenue_cents: 0,
                channel: 0,
                campaign: 0,
                stage: Stage::Awareness,
                kind: EventKind::Impression,
                unicode_template: template,
                decomposed: false,
            };
            let composed = text(|buffer| vocabulary.push_user_id(buffer, &event, true));
            event.decomposed = true;
            let decomposed = text(|buffer| vocabulary.push_user_id(buffer, &event, true));
            assert_ne!(composed, decomposed);
            assert_eq!(decomposed.nfc().collect::<String>(), composed);
            assert!(composed.ends_with("42"));
            assert_eq!(text(|buffer| vocabulary.push_user_id(buffer, &event, false)), "u00000042");
        }
    }
}
