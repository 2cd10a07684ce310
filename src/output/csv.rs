//! A minimal RFC 4180 writer: fields are quoted only when they must be.

use std::io::{self, Write};

/// Writes CSV records to a byte sink.
pub struct CsvWriter<'a> {
    sink: &'a mut dyn Write,
}

impl<'a> CsvWriter<'a> {
    /// Writes to `sink`.
    pub fn new(sink: &'a mut dyn Write) -> Self {
        Self { sink }
    }

    /// Writes one record; `None` fields are written empty.
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn record<'f>(&mut self, fields: impl IntoIterator<Item = Option<&'f str>>) -> io::Result<()> {
        for (index, field) in fields.into_iter().enumerate() {
            if index > 0 {
                self.sink.write_all(b",")?;
            }
            let field = field.unwrap_or("");
            if field.bytes().any(|byte| matches!(byte, b',' | b'"' | b'\n' | b'\r'))
                || field.starts_with(' ')
                || field.ends_with(' ')
            {
                self.sink.write_all(b"\"")?;
                self.sink.write_all(field.replace('"', "\"\"").as_bytes())?;
                self.sink.write_all(b"\"")?;
            } else {
                self.sink.write_all(field.as_bytes())?;
            }
        }
        self.sink.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let mut bytes = Vec::new();
        let mut writer = CsvWriter::new(&mut bytes);
        writer
            .record([Some("plain"), None, Some("a,b"), Some("say \"hi\""), Some("two\nlines"), Some(" pad")])
            .unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), "plain,,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\" pad\"\n");
    }
}
